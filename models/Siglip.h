// SigLIP vision transformer as Idefics3 uses it: images of variable size, padded to a common
// size, with a patch mask saying which patches hold image. Names follow the checkpoint:
// <prefix>.embeddings.{patch_embedding,position_embedding}, <prefix>.encoder.layers.N.*,
// <prefix>.post_layernorm.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/Config.h"
#include "models/Layers.h"
#include "models/VisionEncoderLayer.h"

namespace vqa::models {

class SiglipVisionModel {
  public:
    SiglipVisionModel(const VisionConfig& config, WeightLoader& weights, const std::string& prefix);

    // pixel_values [N, C, H, W]; patch_mask [N, H/patch, W/patch] bool (true: the patch holds
    // image), or undefined for square images of image_size pixels (SiglipModel's case: every
    // patch holds image, positions in order). Returns the last hidden state after
    // post_layernorm, [N, patches, hidden].
    // With `rollout`, every layer's attention is added to it (VisionEncoderLayer).
    torch::Tensor forward(const torch::Tensor& pixel_values, const torch::Tensor& patch_mask,
                          AttentionRollout* rollout = nullptr) const;

    // Position ids of each patch: a padded image's patches are spread over the whole table
    // of num_patches_per_side^2 positions by bucketizing their fractional coordinates, as
    // Idefics3VisionEmbeddings does; padding patches get 0. [N, patches] int64.
    torch::Tensor positionIds(const torch::Tensor& patch_mask) const;

    const VisionConfig& config() const { return config_; }

  private:
    torch::Tensor embeddings(const torch::Tensor& pixel_values,
                             const torch::Tensor& patch_mask) const;

    VisionConfig config_;
    int patches_per_side_ = 0;
    torch::Tensor patch_embedding_weight, patch_embedding_bias; // conv [hidden, C, p, p]
    torch::Tensor position_embedding;                           // [patches_per_side^2, hidden]
    std::vector<VisionEncoderLayer> layers_;
    torch::Tensor post_layernorm_weight, post_layernorm_bias;
};

} // namespace vqa::models
