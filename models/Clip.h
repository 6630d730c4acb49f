// The CLIP vision transformer as LLaVA uses it: a class token before the patches, learned
// absolute positions, a layer norm before the encoder ("pre_layrnorm", the checkpoint's
// spelling), pre-norm encoder layers with quick-GELU MLPs. LLaVA takes a hidden state from
// inside the encoder, not the pooled output, so forward() returns the hidden states asked for
// and runs only the layers they need. Names follow the checkpoint: <prefix>.embeddings.
// {class_embedding,patch_embedding,position_embedding}, <prefix>.pre_layrnorm,
// <prefix>.encoder.layers.N.*; post_layernorm is not used and not loaded.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/Config.h"
#include "models/Layers.h"
#include "models/VisionEncoderLayer.h"

namespace vqa::models {

class ClipVisionModel {
public:
    // Loads the layers up to the deepest of `needed_states` (hidden-state indices as
    // LlavaConfig::feature_layers counts them; negative from the end). Throws vqa::Error when
    // an index is outside 0..num_hidden_layers.
    ClipVisionModel(const VisionConfig& config, WeightLoader& weights, const std::string& prefix,
                    const std::vector<int>& needed_states);

    // pixel_values [N, C, image_size, image_size] -> the requested hidden states, each
    // [N, 1 + patches, hidden] (class token first), in the order asked for.
    // With `rollout`, the attention of every layer it runs is added to it (VisionEncoderLayer).
    std::vector<torch::Tensor> forward(const torch::Tensor& pixel_values, AttentionRollout* rollout = nullptr) const;

    // The hidden-state index `i` (possibly negative) as 0..num_hidden_layers.
    int stateIndex(int i) const;
    int patchesPerSide() const { return config_.image_size / config_.patch_size; }
    const VisionConfig& config() const { return config_; }

private:
    VisionConfig config_;
    std::vector<int> states_;  // requested, normalized
    torch::Tensor class_embedding;         // [hidden]
    torch::Tensor patch_embedding_weight;  // conv [hidden, C, p, p], no bias
    torch::Tensor position_embedding;      // [1 + patches, hidden]
    torch::Tensor pre_layrnorm_weight, pre_layrnorm_bias;
    std::vector<VisionEncoderLayer> layers_;  // only as many as the deepest state needs
};

}  // namespace vqa::models
