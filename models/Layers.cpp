#include "models/Layers.h"

namespace vqa::models {

torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
    auto input_dtype = x.scalar_type();
    auto h = x.to(torch::kFloat32);
    h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
    return weight * h.to(input_dtype);
}

}  // namespace vqa::models
