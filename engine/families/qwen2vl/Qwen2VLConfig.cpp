#include "engine/families/qwen2vl/Qwen2VLConfig.h"

#include <algorithm>
#include <numeric>

#include "engine/io/ModelConfig.h"
#include "models/base/Error.h"

using nlohmann::json;

namespace vqa {

using namespace config;

namespace {

const char* kVision = "vision_config";

} // namespace

namespace qwen_config {

int requiredVisionSize(const json& j, const char* name, const std::string& path) {
    if (!j.contains(name) || j[name].is_null())
        throw Error(path + ": " + key(kVision, name) + " is missing; a Qwen-VL vision tower needs it");
    return intField<int>(j, name, 1, path, kVision);
}

int visionSizeField(const json& j, std::initializer_list<const char*> names, int fallback,
                    const std::string& path) {
    for (const char* n : names)
        if (j.contains(n) && !j[n].is_null())
            return intField<int>(j, n, fallback, path, kVision);
    return fallback;
}

json textForLlamaParser(json text, const std::vector<std::pair<const char*, json>>& defaults) {
    for (const auto& [name, value] : defaults)
        if (!text.contains(name) || text[name].is_null())
            text[name] = value;
    for (const char* r : {"rope_scaling", "rope_parameters"})
        if (text.contains(r) && text[r].is_object())
            for (const char* t : {"type", "rope_type"})
                if (text[r].contains(t) && text[r][t] == "mrope")
                    text[r][t] = "default";
    return text;
}

std::vector<int> mropeSection(const json& text, const std::string& path, const std::string& where,
                              int head_dim, std::vector<int> section) {
    std::string name = "mrope_section";
    for (const char* r : {"rope_scaling", "rope_parameters"})
        if (text.contains(r) && text[r].is_object() && text[r].contains("mrope_section")) {
            name = key(where, std::string(r) + ".mrope_section");
            const auto& s = text[r]["mrope_section"];
            if (!s.is_array() || s.size() != 3 ||
                !std::all_of(s.begin(), s.end(), [](const json& v) {
                    return v.is_number_integer() && v.get<int>() > 0;
                }))
                throw Error(path + ": " + name + " is " + s.dump() +
                            ", but it must be three positive integers (temporal, height, width)");
            section = {s[0].get<int>(), s[1].get<int>(), s[2].get<int>()};
        }
    const int sum = std::accumulate(section.begin(), section.end(), 0);
    if (sum * 2 != head_dim)
        throw Error(path + ": " + name + " [" + std::to_string(section[0]) + ", " +
                    std::to_string(section[1]) + ", " + std::to_string(section[2]) + "] sums to " +
                    std::to_string(sum) + ", but it must split the text model's head_dim / 2 = " +
                    std::to_string(head_dim / 2) + " rotary frequencies");
    return section;
}

models::LlamaConfig parseText(const json& config, const std::string& path,
                              const std::vector<std::pair<const char*, json>>& defaults, std::string& where) {
    // transformers 5 nests the text model's keys in text_config; transformers 4 keeps them at
    // the top.
    const bool nested = config.contains("text_config") && config["text_config"].is_object();
    const json& text = nested ? config["text_config"] : config;
    where = nested ? "text_config" : "";
    auto c = parseLlamaConfig(textForLlamaParser(text, defaults), path, where);
    c.tie_word_embeddings = boolField(config, "tie_word_embeddings", false, path, "") ||
                            (nested && boolField(text, "tie_word_embeddings", false, path, where));
    return c;
}

} // namespace qwen_config

using namespace qwen_config;

namespace {

models::Qwen2VLVisionConfig parseVision(const json& v, bool qwen25, const std::string& path) {
    models::Qwen2VLVisionConfig c;
    c.depth = requiredVisionSize(v, "depth", path);
    c.num_heads = requiredVisionSize(v, "num_heads", path);
    if (qwen25) {
        c.hidden_size = requiredVisionSize(v, "hidden_size", path);
        c.intermediate_size = requiredVisionSize(v, "intermediate_size", path);
        c.out_hidden_size = requiredVisionSize(v, "out_hidden_size", path);
        c.hidden_act = stringField(v, "hidden_act", "silu", path, kVision);
        c.gated_mlp = true;
        c.window_size = intField<int>(v, "window_size", 112, path, kVision);
        c.fullatt_block_indexes = {7, 15, 23, 31};
        if (v.contains("fullatt_block_indexes") && !v["fullatt_block_indexes"].is_null()) {
            const auto& f = v["fullatt_block_indexes"];
            if (!f.is_array() || !std::all_of(f.begin(), f.end(),
                                              [](const json& x) { return x.is_number_integer(); }))
                throw Error(path + ": " + key(kVision, "fullatt_block_indexes") + " is " +
                            f.dump() + ", but it must be a list of block indexes");
            c.fullatt_block_indexes.clear();
            for (const auto& x : f) {
                const int i = x.get<int>();
                if (i < 0 || i >= c.depth)
                    throw Error(path + ": " + key(kVision, "fullatt_block_indexes") +
                                " names block " + std::to_string(i) +
                                ", but the tower has blocks 0.." + std::to_string(c.depth - 1));
                c.fullatt_block_indexes.push_back(i);
            }
        }
        c.tokens_per_second = intField<int>(v, "tokens_per_second", 4, path, kVision);
    } else {
        c.hidden_size = requiredVisionSize(v, "embed_dim", path);
        c.out_hidden_size = requiredVisionSize(v, "hidden_size", path);
        const double ratio = numberField(v, "mlp_ratio", 4.0, path, kVision);
        if (!(ratio > 0))
            throw Error(path + ": " + key(kVision, "mlp_ratio") + " must be positive");
        c.intermediate_size = static_cast<int>(c.hidden_size * ratio); // int(embed_dim * mlp_ratio)
        c.hidden_act = stringField(v, "hidden_act", "quick_gelu", path, kVision);
        c.gated_mlp = false;
        c.window_size = 0;
    }
    c.in_channels = visionSizeField(v, {"in_channels", "in_chans"}, 3, path);
    c.patch_size = visionSizeField(v, {"patch_size", "spatial_patch_size"}, 14, path);
    c.temporal_patch_size = intField<int>(v, "temporal_patch_size", 2, path, kVision);
    c.spatial_merge_size = intField<int>(v, "spatial_merge_size", 2, path, kVision);
    c.norm_eps = 1e-6; // fixed in the reference's blocks and merger
    if (c.hidden_size % c.num_heads != 0 || (c.hidden_size / c.num_heads) % 4 != 0)
        throw Error(path + ": " + key(kVision, qwen25 ? "hidden_size" : "embed_dim") + " (" +
                    std::to_string(c.hidden_size) + ") over num_heads (" +
                    std::to_string(c.num_heads) +
                    ") must give a head size that is a multiple of 4 (rows and columns share its "
                    "rotary frequencies)");
    if (c.intermediate_size < 1)
        throw Error(path + ": the vision MLP's width (embed_dim * mlp_ratio) must be positive");
    if (qwen25 && c.window_size < c.patch_size * c.spatial_merge_size)
        throw Error(path + ": " + key(kVision, "window_size") + " (" +
                    std::to_string(c.window_size) + ") is smaller than one merged patch (" +
                    std::to_string(c.patch_size * c.spatial_merge_size) + " pixels)");
    return c;
}

} // namespace

models::Qwen2VLConfig parseQwen2VLConfig(const json& config, const std::string& path) {
    models::Qwen2VLConfig c;
    c.model_type = stringField(config, "model_type", "", path, "");
    if (c.model_type.empty() && config.contains("architectures") &&
        config["architectures"].is_array())
        for (const auto& a : config["architectures"]) {
            if (a == "Qwen2_5_VLForConditionalGeneration")
                c.model_type = "qwen2_5_vl";
            else if (a == "Qwen2VLForConditionalGeneration")
                c.model_type = "qwen2_vl";
        }
    if (c.model_type != "qwen2_vl" && c.model_type != "qwen2_5_vl")
        throw Error(path + ": model_type is '" + c.model_type +
                    "'; expected qwen2_vl or qwen2_5_vl");
    const bool qwen25 = c.model_type == "qwen2_5_vl";

    if (!config.contains(kVision) || config[kVision].is_null())
        throw Error(
            path +
            ": vision_config is missing; a Qwen2-VL checkpoint's config.json describes its vision "
            "tower there");
    c.vision = parseVision(subObject(config, kVision, path), qwen25, path);

    // transformers' Qwen2VLTextConfig defaults where a key is absent.
    std::string where;
    c.text = parseText(config, path,
                       {{"vocab_size", 152064},
                        {"hidden_size", 8192},
                        {"intermediate_size", 29568},
                        {"num_hidden_layers", 80},
                        {"num_attention_heads", 64},
                        {"num_key_value_heads", 8},
                        {"max_position_embeddings", 32768},
                        {"rms_norm_eps", 1e-5},
                        {"rope_theta", 1000000.0}},
                       where);
    c.text.mrope_section = mropeSection(where.empty() ? config : config["text_config"], path, where,
                                        c.text.head_dim, {16, 24, 24});
    c.text.qkv_bias = true; // Qwen2: biases on q, k and v, none on o_proj
    c.text.attention_bias = false;
    if (c.vision.out_hidden_size != c.text.hidden_size)
        throw Error(path + ": " + key(kVision, qwen25 ? "out_hidden_size" : "hidden_size") + " (" +
                    std::to_string(c.vision.out_hidden_size) +
                    ") is not the text model's hidden_size (" + std::to_string(c.text.hidden_size) +
                    ")");

    c.image_token_id = intField<std::int64_t>(config, "image_token_id", 151655, path, "", 0);
    c.video_token_id = intField<std::int64_t>(config, "video_token_id", 151656, path, "", 0);
    c.vision_start_token_id =
        intField<std::int64_t>(config, "vision_start_token_id", 151652, path, "", 0);
    for (const auto& [name, id] : {std::pair{"image_token_id", c.image_token_id},
                                   std::pair{"vision_start_token_id", c.vision_start_token_id}})
        if (id >= c.text.vocab_size)
            throw Error(path + ": " + name + " " + std::to_string(id) +
                        " is outside the vocabulary (vocab_size " +
                        std::to_string(c.text.vocab_size) + ")");
    return c;
}

} // namespace vqa
