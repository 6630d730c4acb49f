#include "models/ClipDual.h"

#include "models/base/Error.h"

namespace vqa::models {

ClipDual::ClipDual(const DualEncoderConfig& config, WeightLoader& w)
    : config_(config), vision_(config.vision, w, "vision_model", {config.vision.num_hidden_layers}),
      text_(config.text, w, "text_model", /*causal=*/true) {
    if (config.projection_dim <= 0)
        throw Error("projection_dim must be positive");
    const std::int64_t vh = config.vision.hidden_size;
    post_layernorm_weight = w.take("vision_model.post_layernorm.weight", {vh});
    post_layernorm_bias = w.take("vision_model.post_layernorm.bias", {vh});
    visual_projection = w.linear("visual_projection", vh, config.projection_dim, false);
    text_projection = w.linear("text_projection", config.text.hidden_size, config.projection_dim, false);
    logit_scale_ = w.take("logit_scale", {}).exp().item<double>();
}

torch::Tensor ClipDual::imageFeatures(const torch::Tensor& pixel_values) const {
    auto last = vision_.forward(pixel_values).front();  // [N, 1 + patches, hidden]
    auto pooled = layerNorm(last.select(1, 0), post_layernorm_weight, post_layernorm_bias,
                            config_.vision.layer_norm_eps);
    return visual_projection(pooled);
}

torch::Tensor ClipDual::textFeatures(const torch::Tensor& input_ids) const {
    auto h = text_.forward(input_ids);  // [N, S, hidden]
    auto ids = input_ids.to(torch::kInt64);
    // The end-of-text position. Configs from before transformers fixed eos_token_id say 2;
    // for them the reference takes the largest id in the row, which the tokenizer's
    // <|endoftext|> is. Otherwise the first position holding eos_token_id (padding may repeat it).
    torch::Tensor where;
    if (config_.text.eos_token_id == 2) {
        where = ids.argmax(1);
    } else {
        auto is_eos = ids.eq(config_.text.eos_token_id);
        if (!is_eos.any(1).all().item<bool>())
            throw Error("a text reaches the CLIP text tower without its end-of-text token " +
                        std::to_string(config_.text.eos_token_id));
        where = is_eos.to(torch::kInt32).argmax(1);
    }
    auto rows = torch::arange(h.size(0), torch::dtype(torch::kInt64).device(h.device()));
    return text_projection(h.index({rows, where.to(h.device())}));
}

} // namespace vqa::models
