#include "models/Clip.h"

#include <algorithm>
#include <cmath>

#include "engine/Error.h"

namespace vqa::models {

ClipVisionModel::ClipVisionModel(const VisionConfig& config, WeightLoader& w, const std::string& prefix,
                                 const std::vector<int>& needed_states)
    : config_(config) {
    const std::int64_t hidden = config.hidden_size, inter = config.intermediate_size;
    if (hidden <= 0 || config.num_attention_heads <= 0 || hidden % config.num_attention_heads != 0)
        throw Error("vision_config: hidden_size " + std::to_string(hidden) +
                    " is not a positive multiple of num_attention_heads " +
                    std::to_string(config.num_attention_heads));
    if (config.patch_size <= 0 || config.image_size < config.patch_size)
        throw Error("vision_config: image_size " + std::to_string(config.image_size) + " and patch_size " +
                    std::to_string(config.patch_size) + " do not fit");
    if (!isKnownActivation(config.hidden_act))
        throw Error("vision_config: hidden_act '" + config.hidden_act + "' is not implemented");
    if (needed_states.empty())
        throw Error("vision_feature_layer names no layer");
    head_dim_ = config.hidden_size / config.num_attention_heads;
    for (int i : needed_states)
        states_.push_back(stateIndex(i));
    const int deepest = *std::max_element(states_.begin(), states_.end());

    const std::int64_t side = patchesPerSide();
    const std::string e = prefix + ".embeddings.";
    class_embedding = w.take(e + "class_embedding", {hidden});
    patch_embedding_weight =
        w.take(e + "patch_embedding.weight", {hidden, config.num_channels, config.patch_size, config.patch_size});
    position_embedding = w.take(e + "position_embedding.weight", {1 + side * side, hidden});
    pre_layrnorm_weight = w.take(prefix + ".pre_layrnorm.weight", {hidden});
    pre_layrnorm_bias = w.take(prefix + ".pre_layrnorm.bias", {hidden});
    for (int i = 0; i < deepest; ++i) {
        const std::string l = prefix + ".encoder.layers." + std::to_string(i) + ".";
        ClipEncoderLayer layer;
        layer.layer_norm1_weight = w.take(l + "layer_norm1.weight", {hidden});
        layer.layer_norm1_bias = w.take(l + "layer_norm1.bias", {hidden});
        layer.qkv = fuseLinears({w.linear(l + "self_attn.q_proj", hidden, hidden, true),
                                 w.linear(l + "self_attn.k_proj", hidden, hidden, true),
                                 w.linear(l + "self_attn.v_proj", hidden, hidden, true)});
        layer.out_proj = w.linear(l + "self_attn.out_proj", hidden, hidden, true);
        layer.layer_norm2_weight = w.take(l + "layer_norm2.weight", {hidden});
        layer.layer_norm2_bias = w.take(l + "layer_norm2.bias", {hidden});
        layer.fc1 = w.linear(l + "mlp.fc1", hidden, inter, true);
        layer.fc2 = w.linear(l + "mlp.fc2", inter, hidden, true);
        layers_.push_back(std::move(layer));
    }
}

int ClipVisionModel::stateIndex(int i) const {
    const int n = config_.num_hidden_layers;
    const int k = i < 0 ? n + 1 + i : i;
    if (k < 0 || k > n)
        throw Error("vision_feature_layer " + std::to_string(i) + " is outside the vision tower's " +
                    std::to_string(n + 1) + " hidden states (embeddings and " + std::to_string(n) + " layers)");
    return k;
}

std::vector<torch::Tensor> ClipVisionModel::forward(const torch::Tensor& pixel_values) const {
    const auto& c = config_;
    if (pixel_values.dim() != 4 || pixel_values.size(1) != c.num_channels || pixel_values.size(2) != c.image_size ||
        pixel_values.size(3) != c.image_size)
        throw Error("the CLIP vision tower takes images of [N, " + std::to_string(c.num_channels) + ", " +
                    std::to_string(c.image_size) + ", " + std::to_string(c.image_size) + "]");
    const auto n = pixel_values.size(0);
    const auto heads = c.num_attention_heads;
    const auto hidden = c.hidden_size;

    auto patches = at::conv2d(pixel_values, patch_embedding_weight, {}, c.patch_size);  // [N, D, s, s]
    auto h = torch::cat({class_embedding.view({1, 1, -1}).expand({n, 1, hidden}), patches.flatten(2).transpose(1, 2)},
                        1);
    h = h + position_embedding.unsqueeze(0);
    h = layerNorm(h, pre_layrnorm_weight, pre_layrnorm_bias, c.layer_norm_eps);
    const auto seq = h.size(1);
    const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim_));

    std::vector<torch::Tensor> out(states_.size());
    auto keep = [&](int index) {
        for (std::size_t k = 0; k < states_.size(); ++k)
            if (states_[k] == index)
                out[k] = h;
    };
    keep(0);
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        const auto& layer = layers_[i];
        auto residual = h;
        auto x = layerNorm(h, layer.layer_norm1_weight, layer.layer_norm1_bias, c.layer_norm_eps);
        auto qkv = layer.qkv(x).view({n, seq, 3, heads, head_dim_});
        auto q = qkv.select(2, 0).transpose(1, 2);
        auto k = qkv.select(2, 1).transpose(1, 2);
        auto v = qkv.select(2, 2).transpose(1, 2);
        auto a = attention(q, k, v, {}, /*causal=*/false, scale).transpose(1, 2).reshape({n, seq, hidden});
        h = residual + layer.out_proj(a);
        residual = h;
        x = layerNorm(h, layer.layer_norm2_weight, layer.layer_norm2_bias, c.layer_norm_eps);
        h = residual + layer.fc2(activation(c.hidden_act, layer.fc1(x)));
        keep(static_cast<int>(i) + 1);
    }
    return out;
}

}  // namespace vqa::models
