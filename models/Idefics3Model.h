// Idefics3 / SmolVLM: a SigLIP vision encoder, a connector (pixel shuffle, then a linear
// projection into the text model's space) and a Llama decoder. Tensor names are the
// checkpoint's: model.vision_model.*, model.connector.modality_projection.proj.weight,
// model.text_model.*, lm_head.weight.
//
// How the engine uses it: encodeImages() gives, per real image (tile), tokensPerImage()
// features; the prompt holds that many image_token_id tokens per tile, in the same order;
// the engine embeds the prompt with embedTokens(), writes the features over the rows of the
// image tokens and runs forward().
#pragma once

#include <memory>

#include <torch/torch.h>

#include "models/Config.h"
#include "models/Llama.h"
#include "models/Siglip.h"
#include "models/VisionLanguageModel.h"
#include "models/WeightSource.h"

namespace vqa::models {

class Idefics3Model : public LlamaBackedModel {
  public:
    // Takes every tensor from `weights` (checking presence and shape against `config`) and
    // converts it to `dtype` on `device`. Throws vqa::Error naming the tensor on a mismatch.
    Idefics3Model(const Idefics3Config& config, const WeightSource& weights, torch::Device device,
                  torch::ScalarType dtype, const Quantization& quantization = {},
                  torch::ScalarType vision_dtype = torch::ScalarType::Undefined);

    std::string family() const override { return "idefics3"; }
    std::int64_t imageTokenId() const override { return config_.image_token_id; }

    // pixel_values [N, C, H, W]; pixel_attention_mask [N, H, W] (bool or integer, nonzero =
    // image pixel; undefined = all image). Like the reference, images whose pixels are all
    // exactly zero are padding and dropped: the result is [real images, tokensPerImage(),
    // text hidden]. H and W must be multiples of the patch size giving a square grid of
    // patches whose side the scale factor divides (the processor's tiles are).
    torch::Tensor encodeImages(const torch::Tensor& pixel_values,
                               const torch::Tensor& pixel_attention_mask) override;
    // Over the SigLIP tower's patches of each real image: [real images, patches, patches].
    torch::Tensor visionRollout(const torch::Tensor& pixel_values, const torch::Tensor& pixel_attention_mask) override;

    // Image tokens per 'image_size' tile: (image_size / patch_size)^2 / scale_factor^2.
    std::int64_t tokensPerImage() const;
    const Idefics3Config& config() const { return config_; }

    // Pieces, exposed for tests and for tools that look inside.
    // pixel mask [N, H, W] -> patch mask [N, H/p, W/p]: a patch counts when any pixel does.
    torch::Tensor patchMask(const torch::Tensor& pixel_attention_mask) const;
    // [N, side*side, D] -> [N, side*side / s^2, D * s^2], the reference's pixel_shuffle.
    torch::Tensor pixelShuffle(const torch::Tensor& x) const;
    const SiglipVisionModel& visionModel() const { return *vision_; }

  private:
    // The real images (padding ones dropped) and their patch masks, checked, on the device.
    std::pair<torch::Tensor, torch::Tensor> realImages(const torch::Tensor& pixel_values,
                                                       const torch::Tensor& pixel_attention_mask) const;

    Idefics3Config config_;
    std::unique_ptr<SiglipVisionModel> vision_;
    Linear modality_projection_; // connector.modality_projection.proj, no bias
};

std::unique_ptr<VisionLanguageModel> makeIdefics3(const Idefics3Config& config,
                                                  const WeightSource& weights, torch::Device device,
                                                  torch::ScalarType dtype, const Quantization& quantization = {},
                                                  torch::ScalarType vision_dtype = torch::ScalarType::Undefined);

} // namespace vqa::models
