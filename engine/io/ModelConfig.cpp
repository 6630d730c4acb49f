#include "engine/io/ModelConfig.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "models/base/Error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace vqa {

namespace {

std::string key(const std::string& where, const std::string& name) {
    return where.empty() ? name : where + "." + name;
}

// An integer field: absent -> fallback; present -> must be an integer >= min.
template <typename Int>
Int intField(const json& j, const char* name, Int fallback, const std::string& path,
             const std::string& where, Int min = 1) {
    if (!j.contains(name) || j[name].is_null())
        return fallback;
    const auto& v = j[name];
    // Some writers store 512.0; accept floats that are whole numbers.
    if (v.is_number_float()) {
        const double x = v.get<double>();
        if (std::floor(x) == x && x >= static_cast<double>(min) && x < 9.0e15)
            return static_cast<Int>(x);
    }
    if (!v.is_number_integer())
        throw Error(path + ": " + key(where, name) + " is " + v.dump() +
                    ", but it must be an integer");
    if (v.is_number_unsigned() &&
        v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<Int>::max()))
        throw Error(path + ": " + key(where, name) + " is " + v.dump() + ", which is too large");
    auto i = v.get<std::int64_t>();
    if (i > static_cast<std::int64_t>(std::numeric_limits<Int>::max()))
        throw Error(path + ": " + key(where, name) + " is " + v.dump() + ", which is too large");
    if (i < min)
        throw Error(path + ": " + key(where, name) + " is " + std::to_string(i) +
                    ", but it must be at least " + std::to_string(min));
    return static_cast<Int>(i);
}

double numberField(const json& j, const char* name, double fallback, const std::string& path,
                   const std::string& where) {
    if (!j.contains(name) || j[name].is_null())
        return fallback;
    if (!j[name].is_number())
        throw Error(path + ": " + key(where, name) + " is " + j[name].dump() +
                    ", but it must be a number");
    return j[name].get<double>();
}

bool boolField(const json& j, const char* name, bool fallback, const std::string& path,
               const std::string& where) {
    if (!j.contains(name) || j[name].is_null())
        return fallback;
    if (!j[name].is_boolean())
        throw Error(path + ": " + key(where, name) + " is " + j[name].dump() +
                    ", but it must be true or false");
    return j[name].get<bool>();
}

std::string stringField(const json& j, const char* name, const std::string& fallback,
                        const std::string& path, const std::string& where) {
    if (!j.contains(name) || j[name].is_null())
        return fallback;
    if (!j[name].is_string())
        throw Error(path + ": " + key(where, name) + " is " + j[name].dump() +
                    ", but it must be a string");
    return j[name].get<std::string>();
}

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

const json& subObject(const json& config, const char* name, const std::string& path) {
    static const json empty = json::object();
    if (!config.contains(name) || config[name].is_null())
        return empty;
    if (!config[name].is_object())
        throw Error(path + ": " + name + " must be an object");
    return config[name];
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
    std::ifstream in(path);
    if (!in)
        throw Error(path.string() + ": cannot be read");
    json j;
    try {
        j = json::parse(in);
    } catch (const json::exception& e) {
        throw Error(path.string() + ": is not valid JSON (" + e.what() + ")");
    }
    if (!j.is_object())
        throw Error(path.string() + ": is JSON but not an object of settings");
    return j;
}

const std::vector<std::string>& supportedFamilies() {
    static const std::vector<std::string> families = {"idefics3", "llava"};
    return families;
}

std::string detectFamily(const json& config, const std::string& path) {
    std::string supported;
    for (const auto& f : supportedFamilies()) {
        supported += (supported.empty() ? "" : ", ");
        supported += f;
    }
    if (config.contains("model_type") && config["model_type"].is_string()) {
        const auto type = config["model_type"].get<std::string>();
        if (type == "idefics3")
            return "idefics3";
        if (type == "llava")
            return "llava";
        throw Error(path + " names model_type '" + type +
                    "', which this build does not support; supported: " + supported);
    }
    // Older configs may name only the architecture.
    if (config.contains("architectures") && config["architectures"].is_array()) {
        std::string names;
        for (const auto& a : config["architectures"]) {
            if (!a.is_string())
                continue;
            const auto arch = a.get<std::string>();
            if (arch == "Idefics3ForConditionalGeneration" || arch == "Idefics3Model")
                return "idefics3";
            if (arch == "LlavaForConditionalGeneration" || arch == "LlavaLlamaForCausalLM")
                return "llava";
            names += (names.empty() ? "" : ", ");
            names += arch;
        }
        if (!names.empty())
            throw Error(
                path + " names architectures " + names +
                " and no model_type, which this build does not support; supported: " + supported);
    }
    throw Error(path +
                " names no model_type, so the model family is unknown; supported: " + supported);
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

models::Idefics3Config parseIdefics3Config(const json& config, const std::string& path) {
    models::Idefics3Config c;
    // Idefics3VisionConfig's defaults.
    models::VisionConfig vision_defaults;
    vision_defaults.hidden_size = 1152;
    vision_defaults.intermediate_size = 3072;
    vision_defaults.num_hidden_layers = 12;
    vision_defaults.num_attention_heads = 16;
    vision_defaults.num_channels = 3;
    vision_defaults.image_size = 224;
    vision_defaults.patch_size = 32;
    vision_defaults.layer_norm_eps = 1e-6;
    vision_defaults.hidden_act = "gelu_pytorch_tanh";
    c.vision = parseVisionConfig(subObject(config, "vision_config", path), path, "vision_config",
                                 vision_defaults);

    const json& text = subObject(config, "text_config", path);
    c.text = parseLlamaConfig(text, path, "text_config");
    if (text.empty()) // Idefics3Config's default text config sets rms_norm_eps = 1e-5
        c.text.rms_norm_eps = 1e-5;
    // See the header: the top-level flag decides.
    c.text.tie_word_embeddings = boolField(config, "tie_word_embeddings", false, path, "");

    c.scale_factor = intField<int>(config, "scale_factor", 2, path, "");
    c.image_token_id = intField<std::int64_t>(config, "image_token_id", 128257, path, "", 0);
    if (c.image_token_id >= c.text.vocab_size)
        throw Error(path + ": image_token_id " + std::to_string(c.image_token_id) +
                    " is outside the vocabulary (text_config.vocab_size " +
                    std::to_string(c.text.vocab_size) + ")");
    const int patches = c.vision.image_size / c.vision.patch_size;
    if (patches % c.scale_factor != 0)
        throw Error(path + ": the vision grid (" + std::to_string(patches) + "x" +
                    std::to_string(patches) + " patches) is not divisible by scale_factor " +
                    std::to_string(c.scale_factor));
    return c;
}

models::LlavaConfig parseLlavaConfig(const json& config, const std::string& path) {
    models::LlavaConfig c;
    // LlavaConfig's default vision tower: CLIP ViT-L/14 at 336 pixels.
    models::VisionConfig vision_defaults;
    vision_defaults.hidden_size = 1024;
    vision_defaults.intermediate_size = 4096;
    vision_defaults.num_hidden_layers = 24;
    vision_defaults.num_attention_heads = 16;
    vision_defaults.num_channels = 3;
    vision_defaults.image_size = 336;
    vision_defaults.patch_size = 14;
    vision_defaults.layer_norm_eps = 1e-5;
    vision_defaults.hidden_act = "quick_gelu";
    const json& vision = subObject(config, "vision_config", path);
    const auto vision_type = stringField(vision, "model_type", "clip_vision_model", path, "vision_config");
    if (vision_type != "clip_vision_model")
        throw Error(path + ": vision_config.model_type is '" + vision_type +
                    "'; this build runs LLaVA with a CLIP vision tower (clip_vision_model) only");
    c.vision = parseVisionConfig(vision, path, "vision_config", vision_defaults);

    const json& text = subObject(config, "text_config", path);
    const auto text_type = stringField(text, "model_type", "llama", path, "text_config");
    if (text_type != "llama")
        throw Error(path + ": text_config.model_type is '" + text_type +
                    "'; this build runs LLaVA with a Llama decoder only");
    c.text = parseLlamaConfig(text, path, "text_config");
    // LlavaConfig ties lm_head when either level asks for it.
    c.text.tie_word_embeddings = boolField(config, "tie_word_embeddings", false, path, "") ||
                                 boolField(text, "tie_word_embeddings", false, path, "text_config");

    c.feature_layers.clear();
    const char* fl = "vision_feature_layer";
    if (!config.contains(fl) || config[fl].is_null())
        c.feature_layers = {-2};
    else if (config[fl].is_number_integer())
        c.feature_layers = {config[fl].get<int>()};
    else if (config[fl].is_array() && !config[fl].empty()) {
        for (const auto& v : config[fl]) {
            if (!v.is_number_integer())
                throw Error(path + ": vision_feature_layer is " + config[fl].dump() +
                            ", but it must be an integer or a list of integers");
            c.feature_layers.push_back(v.get<int>());
        }
    } else {
        throw Error(path + ": vision_feature_layer is " + config[fl].dump() +
                    ", but it must be an integer or a list of integers");
    }
    const int layers = c.vision.num_hidden_layers;
    for (int l : c.feature_layers)
        if (l < -(layers + 1) || l > layers)
            throw Error(path + ": vision_feature_layer " + std::to_string(l) + " is outside the vision tower's " +
                        std::to_string(layers + 1) + " hidden states");
    const auto strategy = stringField(config, "vision_feature_select_strategy", "default", path, "");
    if (strategy != "default" && strategy != "full")
        throw Error(path + ": vision_feature_select_strategy is '" + strategy + "'; it must be 'default' or 'full'");
    c.drop_cls = strategy == "default";
    c.projector_hidden_act = stringField(config, "projector_hidden_act", "gelu", path, "");
    c.projector_bias = boolField(config, "multimodal_projector_bias", true, path, "");
    // transformers writes image_token_index; image_token_id is its alias.
    c.image_token_id = intField<std::int64_t>(config, "image_token_index", 32000, path, "", 0);
    c.image_token_id = intField<std::int64_t>(config, "image_token_id", c.image_token_id, path, "", 0);
    if (c.image_token_id >= c.text.vocab_size)
        throw Error(path + ": image_token_index " + std::to_string(c.image_token_id) +
                    " is outside the vocabulary (text_config.vocab_size " + std::to_string(c.text.vocab_size) + ")");
    return c;
}

} // namespace vqa
