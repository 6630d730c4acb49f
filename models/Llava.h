// LLaVA-1.5: a CLIP vision tower, a multimodal projector (linear_1, GELU, linear_2) and a
// Llama decoder (Vicuna / Llama 2), the decoder shared with Idefics3 (models/Llama.h).
//
// An image is one image_size x image_size frame; its features are the CLIP hidden state(s)
// named by vision_feature_layer (concatenated when several), without the class token under
// the "default" strategy (576 = 24 x 24 tokens for ViT-L/14 at 336) or with it under "full",
// projected into the text model's space. The prompt holds that many image_token_id tokens
// per image; the engine writes the features over their embeddings.
//
// Tensor names: the checkpoint layouts in use are all accepted:
//   llava-hf (transformers 4): vision_tower.vision_model.*, multi_modal_projector.*,
//                              language_model.model.*, language_model.lm_head.weight
//   transformers 5 save:       vision_tower.*, multi_modal_projector.*, language_model.model.*
//   transformers 5 in memory:  model.vision_tower.*, model.multi_modal_projector.*,
//                              model.language_model.*, lm_head.weight
#pragma once

#include <memory>

#include <torch/torch.h>

#include "models/Clip.h"
#include "models/Config.h"
#include "models/Llama.h"
#include "models/VisionLanguageModel.h"
#include "models/WeightSource.h"

namespace vqa::models {

// Where a LLaVA checkpoint keeps its parts (prefixes without the trailing dot).
struct LlavaTensorNames {
    std::string vision;     // e.g. "vision_tower.vision_model"
    std::string projector;  // e.g. "multi_modal_projector"
    std::string text;       // e.g. "language_model.model"
    std::string lm_head;    // e.g. "language_model.lm_head.weight"
    // Finds the layout `weights` uses; throws vqa::Error listing what was looked for.
    static LlavaTensorNames detect(const WeightSource& weights);
};

class LlavaModel : public LlamaBackedModel {
public:
    // Takes every tensor from `weights` (checking shapes against `config`), converted to
    // `dtype` on `device`. Throws vqa::Error naming the tensor on a mismatch.
    LlavaModel(const LlavaConfig& config, const WeightSource& weights, torch::Device device,
               torch::ScalarType dtype, const Quantization& quantization = {},
               torch::ScalarType vision_dtype = torch::ScalarType::Undefined);

    std::string family() const override { return "llava"; }
    std::int64_t imageTokenId() const override { return config_.image_token_id; }

    // pixel_values [N, C, image_size, image_size]; the mask is ignored (CLIP frames are
    // whole). Returns [N, tokensPerImage(), text hidden].
    torch::Tensor encodeImages(const torch::Tensor& pixel_values, const torch::Tensor& pixel_attention_mask) override;
    // Over the CLIP tower's tokens (the class token first, then the patches), through the
    // layers the features are taken from: [images, 1 + patches, 1 + patches].
    torch::Tensor visionRollout(const torch::Tensor& pixel_values, const torch::Tensor& pixel_attention_mask) override;

    // (image_size / patch_size)^2, plus one with the class token ("full").
    std::int64_t tokensPerImage() const;
    const LlavaConfig& config() const { return config_; }

private:
    LlavaConfig config_;
    std::unique_ptr<ClipVisionModel> vision_;
    Linear linear_1_, linear_2_;  // multi_modal_projector
};

std::unique_ptr<VisionLanguageModel> makeLlava(const LlavaConfig& config, const WeightSource& weights,
                                               torch::Device device, torch::ScalarType dtype, const Quantization& quantization = {},
                                               torch::ScalarType vision_dtype = torch::ScalarType::Undefined);

}  // namespace vqa::models
