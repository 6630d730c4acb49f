// A model folder as the engine reads it, once per load: config.json, generation_config.json
// and the checkpoint's headers (its .safetensors files mapped and validated, no weights read).
// The tokenizer files and the image processor's settings are read by their own loaders
// (engine/text/TokenizerLoader.cpp, the family's processor config).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vqa {

class Checkpoint;

class ModelFolder {
public:
    // Reads config.json and generation_config.json (when there is one). Throws vqa::Error when
    // the folder or config.json is missing, or a file is not a JSON object.
    explicit ModelFolder(std::string dir);

    const std::string& dir() const { return dir_; }
    const std::string& configPath() const { return config_path_; }  // for messages
    const nlohmann::json& config() const { return config_; }
    // generation_config.json's eos_token_id (one or a list); empty when it names none.
    std::vector<std::int64_t> eosTokenIds() const;

    // The checkpoint, opened on first use (headers read and files mapped, no weights read) and
    // then kept. Throws vqa::Error naming the folder or file and the problem.
    std::shared_ptr<Checkpoint> checkpoint();

private:
    std::string dir_;
    std::string config_path_;
    nlohmann::json config_;
    nlohmann::json generation_config_;  // an empty object when there is none
    std::shared_ptr<Checkpoint> checkpoint_;
};

}  // namespace vqa
