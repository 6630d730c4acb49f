// What a dual encoder (CLIP, SigLIP) gives the engine: pooled, projected features of images
// and of texts in one space, and the two numbers that turn their cosine into a logit. The
// engine normalizes the features; the towers themselves are in ClipDual and SiglipDual.
#pragma once

#include <torch/torch.h>

#include "models/Config.h"

namespace vqa::models {

class DualEncoderModel {
  public:
    virtual ~DualEncoderModel() = default;
    // pixel_values [N, C, image_size, image_size] -> [N, dim], not normalized.
    virtual torch::Tensor imageFeatures(const torch::Tensor& pixel_values) const = 0;
    // input_ids [N, S] int64 (as the tokenizer and padding of the family make them) -> [N, dim],
    // not normalized.
    virtual torch::Tensor textFeatures(const torch::Tensor& input_ids) const = 0;
    virtual int dim() const = 0;
    // logits = exp(logit_scale) * cosine + logit_bias (bias 0 for CLIP).
    double logitScale() const { return logit_scale_; }
    double logitBias() const { return logit_bias_; }

  protected:
    double logit_scale_ = 0, logit_bias_ = 0;
};

} // namespace vqa::models
