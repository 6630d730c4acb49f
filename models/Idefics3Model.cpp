#include "models/Idefics3Model.h"

#include <cmath>

#include "models/base/Error.h"

namespace vqa::models {

Idefics3Model::Idefics3Model(const Idefics3Config& config, const WeightSource& weights,
                             torch::Device device, torch::ScalarType dtype, const Quantization& quantization,
                             torch::ScalarType vision_dtype)
    : LlamaBackedModel(device, dtype, vision_dtype), config_(config) {
    const auto& v = config.vision;
    if (config.scale_factor <= 0 || v.patch_size <= 0 ||
        (v.image_size / v.patch_size) % config.scale_factor != 0)
        throw Error("config.json: scale_factor " + std::to_string(config.scale_factor) +
                    " does not divide the vision grid of image_size " +
                    std::to_string(v.image_size) + " / patch_size " + std::to_string(v.patch_size));
    torch::NoGradGuard no_grad; // loading only: the weights are constants of the model
    WeightLoader w(weights, device, dtype), wv(weights, device, vision_dtype_);
    vision_ = std::make_unique<SiglipVisionModel>(v, wv, "model.vision_model");
    const std::int64_t s2 = std::int64_t(config.scale_factor) * config.scale_factor;
    modality_projection_ =
        wv.linear("model.connector.modality_projection.proj", std::int64_t(v.hidden_size) * s2,
                  config.text.hidden_size, false);
    text_ = std::make_unique<LlamaDecoder>(config.text, w, "model.text_model", "lm_head.weight", quantization);
    parameters_ = w.parameterCount() + wv.parameterCount();
}

std::int64_t Idefics3Model::tokensPerImage() const {
    const std::int64_t side = config_.vision.image_size / config_.vision.patch_size;
    return side * side / (std::int64_t(config_.scale_factor) * config_.scale_factor);
}

torch::Tensor Idefics3Model::patchMask(const torch::Tensor& pixel_attention_mask) const {
    const std::int64_t p = config_.vision.patch_size;
    const auto n = pixel_attention_mask.size(0);
    const auto rows = pixel_attention_mask.size(1) / p, cols = pixel_attention_mask.size(2) / p;
    // The reference unfolds into whole patches (dropping a remainder) and keeps a patch when
    // the sum of its mask is positive.
    auto m = pixel_attention_mask.narrow(1, 0, rows * p).narrow(2, 0, cols * p).ne(0);
    return m.reshape({n, rows, p, cols, p}).any(4).any(2);
}

torch::Tensor Idefics3Model::pixelShuffle(const torch::Tensor& x) const {
    const auto n = x.size(0), seq = x.size(1), dim = x.size(2);
    const std::int64_t s = config_.scale_factor;
    const auto side = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(seq))));
    if (side * side != seq || side % s != 0)
        throw Error("pixel shuffle needs a square grid of patches whose side " + std::to_string(s) +
                    " divides; got " + std::to_string(seq) + " patches");
    auto y = x.reshape({n, side, side / s, dim * s});
    y = y.permute({0, 2, 1, 3}).reshape({n, side / s, side / s, dim * s * s});
    y = y.permute({0, 2, 1, 3}).reshape({n, seq / (s * s), dim * s * s});
    return y;
}

std::pair<torch::Tensor, torch::Tensor> Idefics3Model::realImages(const torch::Tensor& pixel_values,
                                                                  const torch::Tensor& pixel_attention_mask) const {
    const auto& v = config_.vision;
    if (pixel_values.dim() != 4 || pixel_values.size(1) != v.num_channels)
        throw Error("encodeImages expects pixel values [images, " + std::to_string(v.num_channels) +
                    ", height, width]");
    const auto n = pixel_values.size(0), height = pixel_values.size(2),
               width = pixel_values.size(3);
    if (height % v.patch_size != 0 || width % v.patch_size != 0)
        throw Error("image tiles of " + std::to_string(height) + "x" + std::to_string(width) +
                    " pixels are not whole patches of " + std::to_string(v.patch_size));
    auto pixels = pixel_values.to(device_, vision_dtype_);
    torch::Tensor mask;
    if (pixel_attention_mask.defined()) {
        if (pixel_attention_mask.dim() != 3 || pixel_attention_mask.size(0) != n ||
            pixel_attention_mask.size(1) != height || pixel_attention_mask.size(2) != width)
            throw Error("the pixel attention mask must be [images, height, width] like the pixels");
        mask = pixel_attention_mask.to(device_);
    } else {
        mask = torch::ones({n, height, width}, torch::dtype(torch::kBool).device(device_));
    }
    // Padding images (every value exactly 0) are dropped, as the reference does.
    auto real = pixels.ne(0).flatten(1).any(1);
    auto keep = torch::nonzero(real).flatten();
    if (keep.size(0) != n) {
        pixels = pixels.index_select(0, keep);
        mask = mask.index_select(0, keep);
    }
    return {pixels, pixels.size(0) == 0 ? mask : patchMask(mask)};
}

torch::Tensor Idefics3Model::encodeImages(const torch::Tensor& pixel_values,
                                          const torch::Tensor& pixel_attention_mask) {
    auto [pixels, patch_mask] = realImages(pixel_values, pixel_attention_mask);
    if (pixels.size(0) == 0)
        return torch::empty({0, tokensPerImage(), config_.text.hidden_size},
                            torch::dtype(dtype_).device(device_));
    auto hidden = vision_->forward(pixels, patch_mask);
    return modality_projection_(pixelShuffle(hidden)).to(dtype_);
}

torch::Tensor Idefics3Model::visionRollout(const torch::Tensor& pixel_values, const torch::Tensor& pixel_attention_mask) {
    auto [pixels, patch_mask] = realImages(pixel_values, pixel_attention_mask);
    const std::int64_t side = config_.vision.image_size / config_.vision.patch_size;
    if (pixels.size(0) == 0)
        return torch::empty({0, side * side, side * side}, torch::kFloat32);
    AttentionRollout rollout;
    vision_->forward(pixels, patch_mask, &rollout);
    return rollout.result();
}

std::unique_ptr<VisionLanguageModel> makeIdefics3(const Idefics3Config& config,
                                                  const WeightSource& weights, torch::Device device,
                                                  torch::ScalarType dtype, const Quantization& quantization,
                                                  torch::ScalarType vision_dtype) {
    return std::make_unique<Idefics3Model>(config, weights, device, dtype, quantization, vision_dtype);
}

} // namespace vqa::models
