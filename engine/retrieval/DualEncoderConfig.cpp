#include "engine/retrieval/DualEncoderConfig.h"

#include <nlohmann/json.hpp>

#include "engine/io/ModelConfig.h"
#include "models/base/Error.h"

namespace vqa::retrieval {

namespace {

using models::DualEncoderConfig;

models::TextEncoderConfig parseText(const nlohmann::json& j, const std::string& path, const models::TextEncoderConfig& d) {
    using namespace config;
    const std::string w = "text_config";
    models::TextEncoderConfig c;
    c.vocab_size = intField<int>(j, "vocab_size", d.vocab_size, path, w);
    c.hidden_size = intField<int>(j, "hidden_size", d.hidden_size, path, w);
    c.intermediate_size = intField<int>(j, "intermediate_size", d.intermediate_size, path, w);
    c.num_hidden_layers = intField<int>(j, "num_hidden_layers", d.num_hidden_layers, path, w);
    c.num_attention_heads = intField<int>(j, "num_attention_heads", d.num_attention_heads, path, w);
    c.max_position_embeddings = intField<int>(j, "max_position_embeddings", d.max_position_embeddings, path, w);
    c.layer_norm_eps = numberField(j, "layer_norm_eps", d.layer_norm_eps, path, w);
    c.hidden_act = stringField(j, "hidden_act", d.hidden_act, path, w);
    c.eos_token_id = intField<std::int64_t>(j, "eos_token_id", d.eos_token_id, path, w, 0);
    c.projection_size = intField<int>(j, "projection_size", c.hidden_size, path, w);
    if (c.hidden_size % c.num_attention_heads != 0)
        throw Error(path + ": text_config.hidden_size (" + std::to_string(c.hidden_size) +
                    ") is not a multiple of text_config.num_attention_heads (" +
                    std::to_string(c.num_attention_heads) + ")");
    return c;
}

} // namespace

models::DualEncoderConfig parseDualEncoderConfig(const nlohmann::json& j, const std::string& path) {
    using namespace config;
    const std::string type = stringField(j, "model_type", "", path, "");
    DualEncoderConfig c;
    models::VisionConfig vision;
    models::TextEncoderConfig text;
    // The defaults of CLIPConfig (ViT-B/32) and SiglipConfig (base, patch 16, 224 pixels).
    vision.hidden_size = 768;
    vision.intermediate_size = 3072;
    vision.num_hidden_layers = 12;
    vision.num_attention_heads = 12;
    vision.image_size = 224;
    text.intermediate_size = 2048;
    text.num_hidden_layers = 12;
    if (type == "clip") {
        c.family = DualEncoderConfig::Family::Clip;
        vision.patch_size = 32;
        vision.layer_norm_eps = 1e-5;
        vision.hidden_act = "quick_gelu";
        text.vocab_size = 49408;
        text.hidden_size = 512;
        text.num_attention_heads = 8;
        text.max_position_embeddings = 77;
        text.layer_norm_eps = 1e-5;
        text.hidden_act = "quick_gelu";
        text.eos_token_id = 2;
    } else if (type == "siglip") {
        c.family = DualEncoderConfig::Family::Siglip;
        vision.patch_size = 16;
        vision.layer_norm_eps = 1e-6;
        vision.hidden_act = "gelu_pytorch_tanh";
        text.vocab_size = 32000;
        text.hidden_size = 768;
        text.intermediate_size = 3072;
        text.num_attention_heads = 12;
        text.max_position_embeddings = 64;
        text.layer_norm_eps = 1e-6;
        text.hidden_act = "gelu_pytorch_tanh";
    } else if (type == "siglip2") {
        // Siglip2Model: patches at the image's own aspect ratio with a patch mask and resized
        // position embeddings; another network than SiglipModel.
        throw Error(path + ": model_type is 'siglip2', a SigLIP 2 NaFlex model (Siglip2Model: patches at the image's "
                           "own aspect ratio), which image search does not read; the fixed-resolution SigLIP 2 "
                           "checkpoints (google/siglip2-base-patch16-224 and the like, model_type 'siglip') work");
    } else {
        throw Error(path + ": model_type is '" + type +
                    "', not a dual encoder; image search reads CLIP ('clip') and SigLIP ('siglip', SigLIP 2's "
                    "fixed-resolution checkpoints included) models");
    }
    c.vision = parseVisionConfig(subObject(j, "vision_config", path), path, "vision_config", vision);
    c.text = parseText(subObject(j, "text_config", path), path, text);
    c.projection_dim = intField<int>(j, "projection_dim", 512, path, "");
    c.vision_use_head = boolField(subObject(j, "vision_config", path), "vision_use_head", true, path, "vision_config");
    return c;
}

} // namespace vqa::retrieval
