// Building blocks shared by the model families, as plain functions over tensors.
#pragma once

#include <torch/torch.h>

namespace vqa::models {

// Root-mean-square norm (Llama): x / sqrt(mean(x^2) + eps) * weight, computed in float32.
torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

}  // namespace vqa::models
