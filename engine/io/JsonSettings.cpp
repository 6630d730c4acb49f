#include "engine/io/JsonSettings.h"

#include <fstream>

namespace vqa {

using nlohmann::json;

json readSettingsFile(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in)
        throw Error(path.string() + ": cannot be read");
    try {
        json j = json::parse(in);
        if (!j.is_object())
            throw Error(path.string() + ": is JSON but not an object of settings");
        return j;
    } catch (const json::exception& e) {
        throw Error(path.string() + ": is not valid JSON (" + e.what() + ")");
    }
}

void readChannelTriple(const json& j, const char* key, double out[3], const std::filesystem::path& path) {
    if (!j.contains(key) || j[key].is_null())
        return;
    const auto& v = j[key];
    if (v.is_number()) {
        out[0] = out[1] = out[2] = v.get<double>();
        return;
    }
    if (!v.is_array() || v.size() != 3 || !v[0].is_number() || !v[1].is_number() || !v[2].is_number())
        throw Error(path.string() + ": " + key + " must be three numbers, but it is " + v.dump());
    for (int i = 0; i < 3; ++i)
        out[i] = v[i].get<double>();
}

namespace {

// Checks the settings' image_processor_type against `types` (see readImageProcessorSettings).
void checkProcessorType(const ImageProcessorSettings& found, const std::vector<std::string>& types,
                        const std::string& model) {
    const auto type = settingOr<std::string>(found.settings, "image_processor_type", types.front(), found.path);
    std::string wanted;
    for (const auto& t : types) {
        if (type.rfind(t, 0) == 0)
            return;
        wanted += (wanted.empty() ? "" : " or ") + t;
    }
    throw Error(found.path.string() + ": image_processor_type is '" + type + "', but " + model + " needs " + wanted);
}

ImageProcessorSettings findImageProcessorSettings(const std::string& model_dir) {
    ImageProcessorSettings out;
    out.processor_path = std::filesystem::path(model_dir) / "processor_config.json";
    std::error_code ec;
    if (std::filesystem::is_regular_file(out.processor_path, ec)) {
        out.processor = readSettingsFile(out.processor_path);
        if (out.processor.contains("image_processor") && out.processor["image_processor"].is_object()) {
            out.settings = out.processor["image_processor"];
            out.path = out.processor_path;
            return out;
        }
    }
    const std::filesystem::path pre = std::filesystem::path(model_dir) / "preprocessor_config.json";
    if (!std::filesystem::is_regular_file(pre, ec))
        throw Error(model_dir + ": has no preprocessor_config.json, which says how images are "
                                "prepared for the model");
    out.settings = readSettingsFile(pre);
    out.path = pre;
    return out;
}

}  // namespace

ImageProcessorSettings readImageProcessorSettings(const std::string& model_dir, const std::vector<std::string>& types,
                                                  const std::string& model) {
    ImageProcessorSettings found = findImageProcessorSettings(model_dir);
    checkProcessorType(found, types, model);
    return found;
}

int longestEdgeSetting(const nlohmann::json& j, const char* key, int fallback, const std::filesystem::path& path) {
    if (!j.contains(key) || j[key].is_null())
        return fallback;
    const auto& v = j[key];
    if (!v.is_object() || !v.contains("longest_edge") || !v["longest_edge"].is_number_integer() ||
        v["longest_edge"].get<int>() < 1)
        throw Error(path.string() + ": " + key + " must be {\"longest_edge\": <positive integer>}, but it is " + v.dump());
    return v["longest_edge"].get<int>();
}

}  // namespace vqa
