#include "models/Siglip.h"

#include "engine/Error.h"
#include "models/Interrupt.h"

namespace vqa::models {

SiglipVisionModel::SiglipVisionModel(const VisionConfig& config, WeightLoader& w,
                                     const std::string& prefix)
    : config_(config) {
    const std::int64_t hidden = config.hidden_size, inter = config.intermediate_size;
    if (hidden <= 0 || config.num_attention_heads <= 0 || hidden % config.num_attention_heads != 0)
        throw Error("vision_config: hidden_size " + std::to_string(hidden) +
                    " is not a positive multiple of num_attention_heads " +
                    std::to_string(config.num_attention_heads));
    if (config.patch_size <= 0 || config.image_size < config.patch_size)
        throw Error("vision_config: image_size " + std::to_string(config.image_size) +
                    " and patch_size " + std::to_string(config.patch_size) + " do not fit");
    if (!isKnownActivation(config.hidden_act))
        throw Error("vision_config: hidden_act '" + config.hidden_act + "' is not implemented");
    head_dim_ = config.hidden_size / config.num_attention_heads;
    patches_per_side_ = config.image_size / config.patch_size;

    const std::string e = prefix + ".embeddings.";
    patch_embedding_weight =
        w.take(e + "patch_embedding.weight",
               {hidden, config.num_channels, config.patch_size, config.patch_size});
    patch_embedding_bias = w.take(e + "patch_embedding.bias", {hidden});
    position_embedding = w.take(e + "position_embedding.weight",
                                {std::int64_t(patches_per_side_) * patches_per_side_, hidden});

    for (int i = 0; i < config.num_hidden_layers; ++i) {
        const std::string l = prefix + ".encoder.layers." + std::to_string(i) + ".";
        SiglipEncoderLayer layer;
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
        layers_.push_back(std::move(layer));
    }
    post_layernorm_weight = w.take(prefix + ".post_layernorm.weight", {hidden});
    post_layernorm_bias = w.take(prefix + ".post_layernorm.bias", {hidden});
}

torch::Tensor SiglipVisionModel::positionIds(const torch::Tensor& patch_mask) const {
    const auto n = patch_mask.size(0), rows = patch_mask.size(1), cols = patch_mask.size(2);
    const auto dev = patch_mask.device();
    const auto f32 = torch::dtype(torch::kFloat32).device(dev);
    // Bucket boundaries 1/side, 2/side, ... (float32, as torch.arange makes them).
    const double step = 1.0 / patches_per_side_;
    auto boundaries = torch::arange(step, 1.0, step, f32);
    // Size of the real image in patches: the valid rows of the first column and columns of
    // the first row (the image sits at the top left of its padded canvas).
    auto nb_h = patch_mask.select(2, 0).sum(1); // [N]
    auto nb_w = patch_mask.select(1, 0).sum(1);
    auto step_h = 1.0 / nb_h.to(torch::kFloat32);
    auto step_w = 1.0 / nb_w.to(torch::kFloat32);
    auto frac_h = torch::arange(rows, f32).unsqueeze(0) * step_h.unsqueeze(1); // [N, rows]
    auto frac_w = torch::arange(cols, f32).unsqueeze(0) * step_w.unsqueeze(1);
    frac_h = frac_h.clamp_max(1.0 - 1e-6);
    frac_w = frac_w.clamp_max(1.0 - 1e-6);
    auto bucket_h = torch::bucketize(frac_h, boundaries, /*out_int32=*/false, /*right=*/true);
    auto bucket_w = torch::bucketize(frac_w, boundaries, false, true);
    auto ids = (bucket_h.unsqueeze(2) * patches_per_side_ + bucket_w.unsqueeze(1)).reshape({n, -1});
    return torch::where(patch_mask.reshape({n, -1}), ids, torch::zeros_like(ids));
}

torch::Tensor SiglipVisionModel::embeddings(const torch::Tensor& pixel_values,
                                            const torch::Tensor& patch_mask) const {
    auto patches = at::conv2d(pixel_values, patch_embedding_weight, patch_embedding_bias,
                              /*stride=*/config_.patch_size); // [N, hidden, h, w]
    auto embeds = patches.flatten(2).transpose(1, 2);         // [N, h*w, hidden]
    return embeds + at::embedding(position_embedding, positionIds(patch_mask));
}

torch::Tensor SiglipVisionModel::forward(const torch::Tensor& pixel_values,
                                         const torch::Tensor& patch_mask) const {
    const auto n = pixel_values.size(0);
    const auto heads = config_.num_attention_heads;
    auto mask = patch_mask.to(torch::kBool);
    auto h = embeddings(pixel_values, mask);
    const auto seq = h.size(1);
    // Keys of padding patches are masked out; when nothing is padded, no mask at all (the
    // fast kernels take that path).
    torch::Tensor key_mask;
    if (!mask.all().item<bool>())
        key_mask = mask.reshape({n, 1, 1, seq});
    const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim_));
    const auto hidden = config_.hidden_size;

    for (const auto& layer : layers_) {
        checkInterrupt();
        auto residual = h;
        auto x =
            layerNorm(h, layer.layer_norm1_weight, layer.layer_norm1_bias, config_.layer_norm_eps);
        auto qkv = layer.qkv(x).view({n, seq, 3, heads, head_dim_});
        auto q = qkv.select(2, 0).transpose(1, 2); // [N, H, S, D]
        auto k = qkv.select(2, 1).transpose(1, 2);
        auto v = qkv.select(2, 2).transpose(1, 2);
        auto a = attention(q, k, v, key_mask, /*causal=*/false, scale);
        a = a.transpose(1, 2).reshape({n, seq, hidden});
        h = residual + layer.out_proj(a);

        residual = h;
        x = layerNorm(h, layer.layer_norm2_weight, layer.layer_norm2_bias, config_.layer_norm_eps);
        x = layer.fc2(activation(config_.hidden_act, layer.fc1(x)));
        h = residual + x;
    }
    return layerNorm(h, post_layernorm_weight, post_layernorm_bias, config_.layer_norm_eps);
}

} // namespace vqa::models
