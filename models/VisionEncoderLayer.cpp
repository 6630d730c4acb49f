#include "models/VisionEncoderLayer.h"

#include <cmath>
#include <limits>

#include "models/base/Error.h"

namespace vqa::models {

void checkVisionConfig(const VisionConfig& config) {
    const std::int64_t hidden = config.hidden_size;
    if (hidden <= 0 || config.num_attention_heads <= 0 || hidden % config.num_attention_heads != 0)
        throw Error("vision_config: hidden_size " + std::to_string(hidden) +
                    " is not a positive multiple of num_attention_heads " +
                    std::to_string(config.num_attention_heads));
    if (config.patch_size <= 0 || config.image_size < config.patch_size)
        throw Error("vision_config: image_size " + std::to_string(config.image_size) +
                    " and patch_size " + std::to_string(config.patch_size) + " do not fit");
    if (!isKnownActivation(config.hidden_act))
        throw Error("vision_config: hidden_act '" + config.hidden_act + "' is not implemented");
}

VisionEncoderLayer VisionEncoderLayer::load(const VisionConfig& config, WeightLoader& w,
                                            const std::string& l) {
    const std::int64_t hidden = config.hidden_size, inter = config.intermediate_size;
    VisionEncoderLayer layer;
    layer.layer_norm1_weight = w.take(l + "layer_norm1.weight", {hidden});
    layer.layer_norm1_bias = w.take(l + "layer_norm1.bias", {hidden});
    layer.qkv = w.fusedLinear(
        {l + "self_attn.q_proj", l + "self_attn.k_proj", l + "self_attn.v_proj"}, hidden,
        {hidden, hidden, hidden}, true);
    layer.out_proj = w.linear(l + "self_attn.out_proj", hidden, hidden, true);
    layer.layer_norm2_weight = w.take(l + "layer_norm2.weight", {hidden});
    layer.layer_norm2_bias = w.take(l + "layer_norm2.bias", {hidden});
    layer.fc1 = w.linear(l + "mlp.fc1", hidden, inter, true);
    layer.fc2 = w.linear(l + "mlp.fc2", inter, hidden, true);
    return layer;
}

void AttentionRollout::add(const torch::Tensor& head_mean) {
    const auto s = head_mean.size(-1);
    auto a = 0.5 * head_mean.to(torch::kFloat32) + 0.5 * torch::eye(s, head_mean.options().dtype(torch::kFloat32));
    a = a / a.sum(-1, /*keepdim=*/true);
    rollout_ = rollout_.defined() ? at::matmul(a, rollout_) : a;
    ++layers_;
}

torch::Tensor VisionEncoderLayer::operator()(const torch::Tensor& h, const VisionConfig& c,
                                             const torch::Tensor& key_mask, AttentionRollout* rollout) const {
    const std::int64_t n = h.size(0), seq = h.size(1), heads = c.num_attention_heads;
    const std::int64_t head_dim = c.hidden_size / heads;
    const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
    auto x = layerNorm(h, layer_norm1_weight, layer_norm1_bias, c.layer_norm_eps);
    auto projected = qkv(x).view({n, seq, 3, heads, head_dim});
    auto q = projected.select(2, 0).transpose(1, 2); // [N, H, S, D]
    auto k = projected.select(2, 1).transpose(1, 2);
    auto v = projected.select(2, 2).transpose(1, 2);
    torch::Tensor a;
    if (rollout) {
        auto scores = at::matmul(q, k.transpose(-1, -2)) * scale;  // [N, H, S, S]
        if (key_mask.defined())
            scores = scores.masked_fill(key_mask.logical_not(), -std::numeric_limits<double>::infinity());
        auto probs = at::softmax(scores, -1, torch::kFloat32);
        rollout->add(probs.mean(1));
        a = at::matmul(probs.to(v.scalar_type()), v);
    } else {
        a = attention(q, k, v, key_mask, /*causal=*/false, scale);
    }
    a = a.transpose(1, 2).reshape({n, seq, c.hidden_size});
    auto mid = h + out_proj(a);
    x = layerNorm(mid, layer_norm2_weight, layer_norm2_bias, c.layer_norm_eps);
    return mid + fc2(activation(c.hidden_act, fc1(x)));
}

} // namespace vqa::models
