#include "engine/families/qwen3vl/Qwen3VLConfig.h"

#include <algorithm>

#include "engine/families/qwen2vl/Qwen2VLConfig.h"
#include "engine/io/ModelConfig.h"
#include "models/base/Error.h"

using nlohmann::json;

namespace vqa {

using namespace config;
using namespace qwen_config;

namespace {

const char* kVision = "vision_config";

models::Qwen3VLVisionConfig parseVision(const json& v, const std::string& path) {
    models::Qwen3VLVisionConfig c;
    // transformers' Qwen3VLVisionConfig defaults (the 8B's tower) where a key is absent.
    c.depth = intField<int>(v, "depth", 27, path, kVision);
    c.hidden_size = intField<int>(v, "hidden_size", 1152, path, kVision);
    c.intermediate_size = intField<int>(v, "intermediate_size", 4304, path, kVision);
    c.num_heads = intField<int>(v, "num_heads", 16, path, kVision);
    c.out_hidden_size = requiredVisionSize(v, "out_hidden_size", path);
    c.in_channels = visionSizeField(v, {"in_channels"}, 3, path);
    c.patch_size = visionSizeField(v, {"patch_size"}, 16, path);
    c.temporal_patch_size = intField<int>(v, "temporal_patch_size", 2, path, kVision);
    c.spatial_merge_size = intField<int>(v, "spatial_merge_size", 2, path, kVision);
    c.hidden_act = stringField(v, "hidden_act", "gelu_pytorch_tanh", path, kVision);
    c.num_position_embeddings = intField<int>(v, "num_position_embeddings", 2304, path, kVision);
    c.gated_mlp = false;  // LayerNorm and fc1 / act / fc2
    c.window_size = 0;
    c.norm_eps = 1e-6;  // fixed in the reference's blocks
    c.deepstack_visual_indexes = {8, 16, 24};
    if (v.contains("deepstack_visual_indexes") && !v["deepstack_visual_indexes"].is_null()) {
        const auto& d = v["deepstack_visual_indexes"];
        if (!d.is_array() || !std::all_of(d.begin(), d.end(), [](const json& x) { return x.is_number_integer(); }))
            throw Error(path + ": " + key(kVision, "deepstack_visual_indexes") + " is " + d.dump() +
                        ", but it must be a list of block indexes");
        c.deepstack_visual_indexes.clear();
        for (const auto& x : d) {
            const int i = x.get<int>();
            if (i < 0 || i >= c.depth)
                throw Error(path + ": " + key(kVision, "deepstack_visual_indexes") + " names block " +
                            std::to_string(i) + ", but the tower has blocks 0.." + std::to_string(c.depth - 1));
            c.deepstack_visual_indexes.push_back(i);
        }
    }
    for (const char* r : {"rope_scaling", "rope_parameters"})
        if (v.contains(r) && v[r].is_object())
            c.rope_theta = numberField(v[r], "rope_theta", c.rope_theta, path, key(kVision, r));
    if (c.num_heads < 1 || c.hidden_size % c.num_heads != 0 || (c.hidden_size / c.num_heads) % 4 != 0)
        throw Error(path + ": " + key(kVision, "hidden_size") + " (" + std::to_string(c.hidden_size) +
                    ") over num_heads (" + std::to_string(c.num_heads) +
                    ") must give a head size that is a multiple of 4 (rows and columns share its rotary "
                    "frequencies)");
    return c;
}

}  // namespace

models::Qwen3VLConfig parseQwen3VLConfig(const json& config, const std::string& path) {
    models::Qwen3VLConfig c;
    c.model_type = stringField(config, "model_type", "", path, "");
    if (c.model_type.empty() && config.contains("architectures") && config["architectures"].is_array())
        for (const auto& a : config["architectures"])
            if (a == "Qwen3VLForConditionalGeneration")
                c.model_type = "qwen3_vl";
    if (c.model_type == "qwen3_vl_moe")
        throw Error(path + ": Qwen3-VL's mixture-of-experts models (qwen3_vl_moe, e.g. Qwen3-VL-30B-A3B) are not "
                           "supported yet; the dense ones are (Qwen3-VL-2B, -4B, -8B and -32B, Instruct or Thinking)");
    if (c.model_type != "qwen3_vl")
        throw Error(path + ": model_type is '" + c.model_type + "'; expected qwen3_vl");
    if (!config.contains(kVision) || !config[kVision].is_object())
        throw Error(path + ": vision_config is missing; a Qwen3-VL checkpoint's config.json describes its vision "
                           "tower there");
    c.vision = parseVision(config[kVision], path);

    // transformers' Qwen3VLTextConfig defaults where a key is absent.
    std::string where;
    c.text = parseText(config, path,
                       {{"vocab_size", 151936},
                        {"hidden_size", 4096},
                        {"intermediate_size", 22016},
                        {"num_hidden_layers", 32},
                        {"num_attention_heads", 32},
                        {"num_key_value_heads", 32},
                        {"head_dim", 128},
                        {"max_position_embeddings", 128000},
                        {"rms_norm_eps", 1e-6},
                        {"rope_theta", 500000.0}},
                       where);
    const json& text = where.empty() ? config : config["text_config"];
    c.text.mrope_section = mropeSection(text, path, where, c.text.head_dim, {24, 20, 20});
    // The reference always interleaves the axes (mrope_interleaved, where written, is true).
    c.text.mrope_interleaved = true;
    c.text.qk_norm = true;
    c.text.qkv_bias = false;
    if (c.vision.out_hidden_size != c.text.hidden_size)
        throw Error(path + ": " + key(kVision, "out_hidden_size") + " (" + std::to_string(c.vision.out_hidden_size) +
                    ") is not the text model's hidden_size (" + std::to_string(c.text.hidden_size) + ")");
    if (c.vision.deepstack_visual_indexes.size() > static_cast<std::size_t>(c.text.num_hidden_layers))
        throw Error(path + ": " + std::to_string(c.vision.deepstack_visual_indexes.size()) +
                    " DeepStack levels, but the text model has " + std::to_string(c.text.num_hidden_layers) +
                    " layers to add them to");

    c.image_token_id = intField<std::int64_t>(config, "image_token_id", 151655, path, "", 0);
    c.video_token_id = intField<std::int64_t>(config, "video_token_id", 151656, path, "", 0);
    c.vision_start_token_id = intField<std::int64_t>(config, "vision_start_token_id", 151652, path, "", 0);
    for (const auto& [name, id] : {std::pair{"image_token_id", c.image_token_id},
                                   std::pair{"vision_start_token_id", c.vision_start_token_id}})
        if (id >= c.text.vocab_size)
            throw Error(path + ": " + name + " " + std::to_string(id) + " is outside the vocabulary (vocab_size " +
                        std::to_string(c.text.vocab_size) + ")");
    return c;
}

}  // namespace vqa
