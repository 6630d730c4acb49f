// The engine's front door, used by the CLI, the Qt worker and tests. Synchronous: it runs
// on the caller's thread (the worker puts it on a QThread). Free of LibTorch and Qt.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "engine/Types.h"

namespace vqa {

class Tokenizer;

// Decodes an image file into RGB (EXIF orientation applied), refusing files that are not
// images or that declare more pixels than the engine accepts. Throws vqa::Error.
RgbImage loadImageFile(const std::string& path);

using ProgressCallback = std::function<void(const Progress&)>;
using TokenCallback = std::function<void(const TokenEvent&)>;

class Engine {
public:
    Engine();
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Loads the model folder (config.json, *.safetensors, tokenizer and processor files).
    // On failure throws vqa::Error and keeps the model loaded before, if any.
    ModelInfo load(const std::string& model_dir, const LoadOptions& options = {},
                   const ProgressCallback& progress = {});
    bool hasModel() const;
    ModelInfo modelInfo() const;
    const Tokenizer* tokenizer() const;

    // Answers the request's last user turn, streaming tokens through on_token. Checks
    // `cancel` at every step. Errors are reported in the result (stop == Error).
    GenerationResult generate(const Request& request, const TokenCallback& on_token = {},
                              const std::atomic<bool>* cancel = nullptr,
                              const ProgressCallback& progress = {});

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vqa
