// Reading the small JSON settings files of a model folder (preprocessor_config.json,
// processor_config.json): every error names the file and the key, and says what was
// expected and what is there.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/base/Error.h"

namespace vqa {

// The file's top-level object. Throws vqa::Error when it cannot be read, is not JSON or is
// not an object.
nlohmann::json readSettingsFile(const std::filesystem::path& path);

// j[key] as T, or `fallback` when the key is absent or null; a value of another type is an
// error naming `path` and `key`.
template <typename T>
T settingOr(const nlohmann::json& j, const char* key, T fallback, const std::filesystem::path& path) {
    if (!j.contains(key) || j[key].is_null())
        return fallback;
    try {
        return j[key].get<T>();
    } catch (const nlohmann::json::exception&) {
        throw Error(path.string() + ": " + key + " has the wrong type: " + j[key].dump());
    }
}

// A model folder's image-processor settings, found as transformers finds them: an
// "image_processor" object nested in processor_config.json (how transformers 5 saves it) wins
// over the older preprocessor_config.json. `path` is the file they came from, for messages.
// `processor` is processor_config.json's own top level (the processor's settings, such as
// image_seq_len), null when there is no such file. The settings' image_processor_type (absent:
// the first of `types`) must begin with one of `types`; `model` names the model for the
// message ("an Idefics3 model"). Throws vqa::Error when neither file has image-processor
// settings, a file cannot be read, or the type is another.
struct ImageProcessorSettings {
    nlohmann::json settings;
    std::filesystem::path path;
    nlohmann::json processor;
    std::filesystem::path processor_path;
};
ImageProcessorSettings readImageProcessorSettings(const std::string& model_dir,
                                                  const std::vector<std::string>& types,
                                                  const std::string& model);

// A {"longest_edge": N} setting (size, max_image_size: Idefics3's and SmolVLM2's processors), N,
// or `fallback` when the key is absent or null; anything else is an error naming `path` and `key`.
int longestEdgeSetting(const nlohmann::json& j, const char* key, int fallback, const std::filesystem::path& path);

// A per-channel setting (image_mean, image_std): three numbers, or one for all channels.
// Leaves `out` as it is when the key is absent or null.
void readChannelTriple(const nlohmann::json& j, const char* key, double out[3], const std::filesystem::path& path);

}  // namespace vqa
