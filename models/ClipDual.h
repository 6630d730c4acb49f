// CLIP as a dual encoder (transformers' CLIPModel): the CLIP vision tower run to its last
// layer, its class token through post_layernorm and visual_projection; the text tower
// (TextTransformer, causal) pooled at the end-of-text token and through text_projection.
// Names follow the checkpoint: vision_model.*, text_model.*, visual_projection.weight,
// text_projection.weight, logit_scale.
#pragma once

#include "models/Clip.h"
#include "models/DualEncoderModel.h"
#include "models/TextTransformer.h"

namespace vqa::models {

class ClipDual final : public DualEncoderModel {
  public:
    ClipDual(const DualEncoderConfig& config, WeightLoader& weights);
    torch::Tensor imageFeatures(const torch::Tensor& pixel_values) const override;
    torch::Tensor textFeatures(const torch::Tensor& input_ids) const override;
    int dim() const override { return config_.projection_dim; }

  private:
    DualEncoderConfig config_;
    ClipVisionModel vision_;
    torch::Tensor post_layernorm_weight, post_layernorm_bias;
    Linear visual_projection;
    TextTransformer text_;
    Linear text_projection;
};

} // namespace vqa::models
