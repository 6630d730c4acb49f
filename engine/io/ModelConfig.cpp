#include "engine/io/ModelConfig.h"

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "engine/io/JsonSettings.h"
#include "models/base/Error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace vqa {

namespace config {

std::string key(const std::string& where, const std::string& name) {
    return where.empty() ? name : where + "." + name;
}

namespace {

// A field of one JSON type: absent or null -> fallback; another type -> an error saying what
// it must be.
template <typename T>
T typedField(const json& j, const char* name, const T& fallback, const std::string& path, const std::string& where,
             bool (json::*is_type)() const noexcept, const char* must_be) {
    if (!j.contains(name) || j[name].is_null())
        return fallback;
    if (!(j[name].*is_type)())
        throw Error(path + ": " + key(where, name) + " is " + j[name].dump() + ", but it must be " + must_be);
    return j[name].get<T>();
}

} // namespace

double numberField(const json& j, const char* name, double fallback, const std::string& path,
                   const std::string& where) {
    return typedField<double>(j, name, fallback, path, where, &json::is_number, "a number");
}

bool boolField(const json& j, const char* name, bool fallback, const std::string& path,
               const std::string& where) {
    return typedField<bool>(j, name, fallback, path, where, &json::is_boolean, "true or false");
}

std::string stringField(const json& j, const char* name, const std::string& fallback,
                        const std::string& path, const std::string& where) {
    return typedField<std::string>(j, name, fallback, path, where, &json::is_string, "a string");
}

const json& subObject(const json& config, const char* name, const std::string& path) {
    static const json empty = json::object();
    if (!config.contains(name) || config[name].is_null())
        return empty;
    if (!config[name].is_object())
        throw Error(path + ": " + name + " must be an object");
    return config[name];
}

} // namespace config

using namespace config;

namespace {

// image_size / patch_size may be an int or a square [h, w] pair.
int squareField(const json& j, const char* name, int fallback, const std::string& path,
                const std::string& where) {
    if (j.contains(name) && j[name].is_array()) {
        const auto& a = j[name];
        if (a.size() != 2 || !a[0].is_number_integer() || a[0] != a[1] || a[0].get<int>() < 1)
            throw Error(path + ": " + key(where, name) + " is " + a.dump() +
                        "; only square sizes (one positive integer) are supported");
        return a[0].get<int>();
    }
    return intField<int>(j, name, fallback, path, where);
}

} // namespace

json readModelConfig(const std::string& model_dir) {
    const fs::path path = fs::path(model_dir) / "config.json";
    std::error_code ec;
    if (!fs::is_directory(model_dir, ec))
        throw Error(model_dir + ": the model folder does not exist or is not a folder");
    if (!fs::is_regular_file(path, ec))
        throw Error(model_dir + ": has no config.json; a model folder needs config.json, the "
                                "*.safetensors weights and the tokenizer files");
    return readSettingsFile(path);
}

models::LlamaConfig parseLlamaConfig(const json& j, const std::string& path,
                                     const std::string& where) {
    models::LlamaConfig c;
    c.vocab_size = intField<int>(j, "vocab_size", 32000, path, where);
    c.hidden_size = intField<int>(j, "hidden_size", 4096, path, where);
    c.intermediate_size = intField<int>(j, "intermediate_size", 11008, path, where);
    c.num_hidden_layers = intField<int>(j, "num_hidden_layers", 32, path, where);
    c.num_attention_heads = intField<int>(j, "num_attention_heads", 32, path, where);
    c.num_key_value_heads =
        intField<int>(j, "num_key_value_heads", c.num_attention_heads, path, where);
    if (c.num_attention_heads % c.num_key_value_heads != 0)
        throw Error(path + ": " + key(where, "num_attention_heads") + " (" +
                    std::to_string(c.num_attention_heads) + ") is not a multiple of " +
                    key(where, "num_key_value_heads") + " (" +
                    std::to_string(c.num_key_value_heads) + ")");
    if (!j.contains("head_dim") && c.hidden_size % c.num_attention_heads != 0)
        throw Error(path + ": " + key(where, "hidden_size") + " (" + std::to_string(c.hidden_size) +
                    ") is not a multiple of " + key(where, "num_attention_heads") +
                    " and no head_dim is given");
    c.head_dim = intField<int>(j, "head_dim", c.hidden_size / c.num_attention_heads, path, where);
    c.rms_norm_eps = numberField(j, "rms_norm_eps", 1e-6, path, where);
    c.max_position_embeddings = intField<int>(j, "max_position_embeddings", 2048, path, where);
    c.attention_bias = boolField(j, "attention_bias", false, path, where);
    c.mlp_bias = boolField(j, "mlp_bias", false, path, where);
    c.tie_word_embeddings = boolField(j, "tie_word_embeddings", false, path, where);

    const auto act = stringField(j, "hidden_act", "silu", path, where);
    if (act != "silu")
        throw Error(path + ": " + key(where, "hidden_act") + " is '" + act +
                    "'; this build implements only 'silu' for the text model");

    // transformers 4 writes rope_theta and rope_scaling; transformers 5 writes
    // rope_parameters {rope_type, rope_theta}. Only plain RoPE is implemented.
    c.rope_theta = numberField(j, "rope_theta", 10000.0, path, where);
    auto check_rope = [&](const json& r, const std::string& name) {
        if (r.is_null())
            return;
        if (!r.is_object())
            throw Error(path + ": " + key(where, name) + " must be an object");
        const auto type =
            stringField(r, "rope_type", stringField(r, "type", "default", path, key(where, name)),
                        path, key(where, name));
        if (type != "default")
            throw Error(path + ": " + key(where, name) + " asks for rope_type '" + type +
                        "'; this build implements only the default RoPE");
        c.rope_theta = numberField(r, "rope_theta", c.rope_theta, path, key(where, name));
    };
    if (j.contains("rope_scaling"))
        check_rope(j["rope_scaling"], "rope_scaling");
    if (j.contains("rope_parameters"))
        check_rope(j["rope_parameters"], "rope_parameters");
    return c;
}

models::VisionConfig parseVisionConfig(const json& j, const std::string& path,
                                       const std::string& where, const models::VisionConfig& d) {
    models::VisionConfig c;
    c.hidden_size = intField<int>(j, "hidden_size", d.hidden_size, path, where);
    c.intermediate_size = intField<int>(j, "intermediate_size", d.intermediate_size, path, where);
    c.num_hidden_layers = intField<int>(j, "num_hidden_layers", d.num_hidden_layers, path, where);
    c.num_attention_heads =
        intField<int>(j, "num_attention_heads", d.num_attention_heads, path, where);
    c.num_channels = intField<int>(j, "num_channels", d.num_channels, path, where);
    c.image_size = squareField(j, "image_size", d.image_size, path, where);
    c.patch_size = squareField(j, "patch_size", d.patch_size, path, where);
    c.layer_norm_eps = numberField(j, "layer_norm_eps", d.layer_norm_eps, path, where);
    c.hidden_act = stringField(j, "hidden_act", d.hidden_act, path, where);
    if (c.hidden_size % c.num_attention_heads != 0)
        throw Error(path + ": " + key(where, "hidden_size") + " (" + std::to_string(c.hidden_size) +
                    ") is not a multiple of " + key(where, "num_attention_heads") + " (" +
                    std::to_string(c.num_attention_heads) + ")");
    if (c.image_size % c.patch_size != 0)
        throw Error(path + ": " + key(where, "image_size") + " (" + std::to_string(c.image_size) +
                    ") is not a multiple of " + key(where, "patch_size") + " (" +
                    std::to_string(c.patch_size) + ")");
    return c;
}

} // namespace vqa
