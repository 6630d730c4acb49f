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

// embeds: [T, hidden], the whole sequence that predicts `target` at its last position.
// Returns the relevancy at `positions` (int64 key positions), float32 on the CPU. Runs one
// forward and one backward pass with autograd (the caller must not be in inference mode).
torch::Tensor relevancyOverPositions(models::VisionLanguageModel& net, const torch::Tensor& embeds,
                                     std::int64_t target, const torch::Tensor& positions);

}  // namespace vqa
