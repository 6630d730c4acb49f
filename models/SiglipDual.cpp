#include "models/SiglipDual.h"

#include <cmath>

#include "models/base/Error.h"

namespace vqa::models {

SiglipDual::SiglipDual(const DualEncoderConfig& config, WeightLoader& w)
    : config_(config), vision_(config.vision, w, "vision_model"), text_(config.text, w, "text_model", false) {
    if (!config.vision_use_head)
        throw Error("vision_config.vision_use_head is false: this SigLIP vision tower has no pooled output to "
                    "compare with texts");
    const std::int64_t d = config.vision.hidden_size;
    const int projection = config.text.projection_size > 0 ? config.text.projection_size : config.text.hidden_size;
    if (projection != d)
        throw Error("text_config.projection_size (" + std::to_string(projection) +
                    ") differs from the vision tower's hidden_size (" + std::to_string(d) +
                    "): the two embeddings would not share a space");
    const std::string h = "vision_model.head.";
    probe = w.take(h + "probe", {1, 1, d});
    in_proj_weight = w.take(h + "attention.in_proj_weight", {3 * d, d});
    in_proj_bias = w.take(h + "attention.in_proj_bias", {3 * d});
    out_proj = w.linear(h + "attention.out_proj", d, d, true);
    head_norm_weight = w.take(h + "layernorm.weight", {d});
    head_norm_bias = w.take(h + "layernorm.bias", {d});
    fc1 = w.linear(h + "mlp.fc1", d, config.vision.intermediate_size, true);
    fc2 = w.linear(h + "mlp.fc2", config.vision.intermediate_size, d, true);
    text_head = w.linear("text_model.head", config.text.hidden_size, projection, true);
    logit_scale_ = w.take("logit_scale", {1}).exp().item<double>();
    logit_bias_ = w.take("logit_bias", {1}).item<double>();
}

torch::Tensor SiglipDual::poolingHead(const torch::Tensor& patches) const {
    // torch.nn.MultiheadAttention(probe, patches, patches), batch first.
    const std::int64_t n = patches.size(0), s = patches.size(1), d = config_.vision.hidden_size;
    const std::int64_t heads = config_.vision.num_attention_heads, hd = d / heads;
    auto w = in_proj_weight.chunk(3, 0);
    auto b = in_proj_bias.chunk(3, 0);
    auto q = at::linear(probe.expand({n, 1, d}), w[0], b[0]).view({n, 1, heads, hd}).transpose(1, 2);
    auto k = at::linear(patches, w[1], b[1]).view({n, s, heads, hd}).transpose(1, 2);
    auto v = at::linear(patches, w[2], b[2]).view({n, s, heads, hd}).transpose(1, 2);
    auto a = attention(q, k, v, torch::Tensor(), false, 1.0 / std::sqrt(static_cast<double>(hd)));
    auto x = out_proj(a.transpose(1, 2).reshape({n, 1, d}));
    auto y = layerNorm(x, head_norm_weight, head_norm_bias, config_.vision.layer_norm_eps);
    x = x + fc2(activation(config_.vision.hidden_act, fc1(y)));
    return x.select(1, 0);
}

torch::Tensor SiglipDual::imageFeatures(const torch::Tensor& pixel_values) const {
    const auto& c = config_.vision;
    if (pixel_values.dim() != 4 || pixel_values.size(1) != c.num_channels || pixel_values.size(2) != c.image_size ||
        pixel_values.size(3) != c.image_size)
        throw Error("the SigLIP vision tower takes images of [N, " + std::to_string(c.num_channels) + ", " +
                    std::to_string(c.image_size) + ", " + std::to_string(c.image_size) + "]");
    return poolingHead(vision_.forward(pixel_values, torch::Tensor()));
}

torch::Tensor SiglipDual::textFeatures(const torch::Tensor& input_ids) const {
    auto h = text_.forward(input_ids);
    return text_head(h.select(1, h.size(1) - 1));
}

} // namespace vqa::models
