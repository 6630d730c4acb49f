#include "engine/io/ModelFolder.h"

#include <filesystem>

#include "engine/io/Checkpoint.h"
#include "engine/io/JsonSettings.h"
#include "engine/io/ModelConfig.h"

namespace vqa {

namespace fs = std::filesystem;

ModelFolder::ModelFolder(std::string dir)
    : dir_(std::move(dir)), config_path_((fs::path(dir_) / "config.json").string()),
      config_(readModelConfig(dir_)), generation_config_(nlohmann::json::object()) {
    const fs::path generation = fs::path(dir_) / "generation_config.json";
    std::error_code ec;
    if (fs::exists(generation, ec))
        generation_config_ = readSettingsFile(generation);
}

std::vector<std::int64_t> ModelFolder::eosTokenIds() const {
    std::vector<std::int64_t> ids;
    if (!generation_config_.contains("eos_token_id"))
        return ids;
    const auto& v = generation_config_["eos_token_id"];
    if (v.is_number_integer())
        ids.push_back(v.get<std::int64_t>());
    else if (v.is_array())
        for (const auto& x : v)
            if (x.is_number_integer())
                ids.push_back(x.get<std::int64_t>());
    return ids;
}

std::shared_ptr<Checkpoint> ModelFolder::checkpoint() {
    if (!checkpoint_)
        checkpoint_ = Checkpoint::open(dir_);
    return checkpoint_;
}

}  // namespace vqa
