#include "engine/families/llava/LlavaConfig.h"

#include "engine/io/ModelConfig.h"
#include "models/base/Error.h"

using nlohmann::json;

namespace vqa {

using namespace config;

models::LlavaConfig parseLlavaConfig(const json& config, const std::string& path) {
    models::LlavaConfig c;
    // LlavaConfig's default vision tower: CLIP ViT-L/14 at 336 pixels.
    const models::VisionConfig vision_defaults{.hidden_size = 1024, .intermediate_size = 4096,
                                               .num_hidden_layers = 24, .num_attention_heads = 16,
                                               .num_channels = 3, .image_size = 336, .patch_size = 14,
                                               .layer_norm_eps = 1e-5, .hidden_act = "quick_gelu"};
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
