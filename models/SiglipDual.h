// SigLIP as a dual encoder (transformers' SiglipModel): the SigLIP vision tower over a square
// image, its patches pooled by the attention-pooling head (a learned probe attends to them,
// then LayerNorm and the MLP with a residual); the text tower (TextTransformer, bidirectional)
// pooled at its last position, which for a padded text is padding, as the model was trained,
// through a linear head. Names follow the checkpoint: vision_model.* (vision_model.head.
// {probe, attention.in_proj_weight/bias, attention.out_proj, layernorm, mlp.fc1/fc2}),
// text_model.* (text_model.head), logit_scale, logit_bias.
#pragma once

#include "models/DualEncoderModel.h"
#include "models/Siglip.h"
#include "models/TextTransformer.h"

namespace vqa::models {

class SiglipDual final : public DualEncoderModel {
  public:
    SiglipDual(const DualEncoderConfig& config, WeightLoader& weights);
    torch::Tensor imageFeatures(const torch::Tensor& pixel_values) const override;
    torch::Tensor textFeatures(const torch::Tensor& input_ids) const override;
    int dim() const override { return config_.vision.hidden_size; }

  private:
    torch::Tensor poolingHead(const torch::Tensor& patches) const;

    DualEncoderConfig config_;
    SiglipVisionModel vision_;
    torch::Tensor probe;                      // [1, 1, hidden]
    torch::Tensor in_proj_weight, in_proj_bias;  // q, k, v stacked: [3 hidden, hidden]
    Linear out_proj;
    torch::Tensor head_norm_weight, head_norm_bias;
    Linear fc1, fc2;
    TextTransformer text_;
    Linear text_head;
};

} // namespace vqa::models
