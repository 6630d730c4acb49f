#include "models/Siglip.h"

#include "models/base/Error.h"
#include "models/Interrupt.h"

namespace vqa::models {

SiglipVisionModel::SiglipVisionModel(const VisionConfig& config, WeightLoader& w,
                                     const std::string& prefix)
    : config_(config) {
    checkVisionConfig(config);
    const std::int64_t hidden = config.hidden_size;
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
        layers_.push_back(VisionEncoderLayer::load(config, w, l));
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
    // [N, h*w, hidden], made contiguous: the sums below would keep the transposed layout, and
    // through them every layer's residual stream (each layer norm then copies its input).
    auto embeds = patches.flatten(2).transpose(1, 2).contiguous();
    if (!patch_mask.defined()) {
        // A square image of the tower's own size: one position per patch, in order.
        if (embeds.size(1) != position_embedding.size(0))
            throw Error("the SigLIP vision tower takes images of " + std::to_string(config_.image_size) + " x " +
                        std::to_string(config_.image_size) + " pixels without a patch mask");
        return embeds + position_embedding.unsqueeze(0);
    }
    return embeds + at::embedding(position_embedding, positionIds(patch_mask));
}

torch::Tensor SiglipVisionModel::forward(const torch::Tensor& pixel_values,
                                         const torch::Tensor& patch_mask, AttentionRollout* rollout) const {
    const auto n = pixel_values.size(0);
    auto mask = patch_mask.defined() ? patch_mask.to(torch::kBool) : torch::Tensor();
    auto h = embeddings(pixel_values, mask);
    const auto seq = h.size(1);
    // Keys of padding patches are masked out; when nothing is padded, no mask at all (the
    // fast kernels take that path).
    torch::Tensor key_mask;
    if (mask.defined() && !mask.all().item<bool>())
        key_mask = mask.reshape({n, 1, 1, seq});
    for (const auto& layer : layers_) {
        checkInterrupt();
        h = layer(h, config_, key_mask, rollout);
    }
    return layerNorm(h, post_layernorm_weight, post_layernorm_bias, config_.layer_norm_eps);
}

} // namespace vqa::models
