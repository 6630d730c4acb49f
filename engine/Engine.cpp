#include "engine/Engine.h"

#include <filesystem>
#include <mutex>

#include "engine/Error.h"
#include "engine/text/Tokenizer.h"

namespace vqa {

struct Engine::Impl {
    ModelInfo info;
    std::unique_ptr<Tokenizer> tokenizer;
    bool loaded = false;
};

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() = default;

ModelInfo Engine::load(const std::string& model_dir, const LoadOptions& options,
                       const ProgressCallback& progress) {
    namespace fs = std::filesystem;
    if (!fs::is_directory(model_dir))
        throw Error("model folder '" + model_dir + "' does not exist or is not a folder");
    if (!fs::exists(fs::path(model_dir) / "config.json"))
        throw Error("model folder '" + model_dir + "' has no config.json; a model folder holds "
                    "config.json, *.safetensors and the tokenizer files of a Hugging Face model");
    throw Error("loading models is not available in this build yet");
}

bool Engine::hasModel() const { return impl_->loaded; }
ModelInfo Engine::modelInfo() const { return impl_->info; }
const Tokenizer* Engine::tokenizer() const { return impl_->tokenizer.get(); }

GenerationResult Engine::generate(const Request& request, const TokenCallback& on_token,
                                  const std::atomic<bool>* cancel, const ProgressCallback& progress) {
    GenerationResult result;
    result.stop = StopReason::Error;
    result.error = impl_->loaded ? "generation is not available in this build yet"
                                 : "no model is loaded: open a model folder first";
    return result;
}

}  // namespace vqa
