// Relevancy beyond raw attention: gradient-weighted attention in the manner of Chefer et
// al. (2021), "Generic Attention-model Explainability for Interpreting Bi-Modal and
// Encoder-Decoder Transformers". For each layer, the attention row of the position that
// predicts the token is weighted by the gradient of the token's logit with respect to it,
// negative contributions are dropped, heads are averaged, and layers are summed:
//     R = sum_l mean_h ( dy/dA_l ⊙ A_l )^+        (row of the predicting position)
// This is Chefer's update rule restricted to the query row: full propagation through
// every position would need whole attention matrices, which the engine never keeps.
#pragma once

#include <torch/torch.h>

#include "models/VisionLanguageModel.h"

namespace vqa {

// The attention rows of the last position of `embeds` and the gradients of the logit of
// `target` there with respect to them: rows[l] and grads[l] are [heads, keys] (a layer
// whose row the logit does not depend on has an undefined gradient).
struct AttentionGradients {
    std::vector<torch::Tensor> rows;
    std::vector<torch::Tensor> grads;
};

// embeds: [T, hidden], the whole sequence that predicts `target` at its last position;
// rope_positions its rotary positions when the family has its own (FamilyRuntime::positions),
// else undefined. One forward and one backward pass with autograd (the caller must not be in
// inference mode).
// `additions` are the family's per-layer image features (DeepStack), or null.
AttentionGradients attentionGradients(models::VisionLanguageModel& net, const torch::Tensor& embeds,
                                      std::int64_t target, const torch::Tensor& rope_positions = {},
                                      const models::LayerAdditions* additions = nullptr);

// The rule above over attentionGradients' result, at `positions` (int64 key positions);
// float32 on the CPU.
torch::Tensor combineRelevancy(const AttentionGradients& g, const torch::Tensor& positions);

// Both steps: the relevancy of every key position in `positions` for `target`.
torch::Tensor relevancyOverPositions(models::VisionLanguageModel& net, const torch::Tensor& embeds,
                                     std::int64_t target, const torch::Tensor& positions,
                                     const torch::Tensor& rope_positions = {},
                                     const models::LayerAdditions* additions = nullptr);

}  // namespace vqa
