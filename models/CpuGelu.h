// GELU's tanh approximation (SigLIP's and the Qwen towers' activation) over a bfloat16 tensor
// on an AVX-512 CPU. LibTorch's bfloat16 kernel takes 3.6 ms for one SigLIP layer's 1,024 x
// 3,072 values on two threads of an Intel Xeon (a twentieth of the tower's time), most of it
// in its tanh; this one computes the same function as x / (1 + e^(-2u)), u = sqrt(2/pi) (x +
// 0.044715 x^3) (equal to 0.5 x (1 + tanh u), without the cancellation of 1 + tanh u for
// negative x), in float32 with one rounding to bfloat16: the same bfloat16 value as
// LibTorch's but where the two float32 results straddle a rounding boundary.
#pragma once

#include <optional>

#include <torch/torch.h>

namespace vqa::models {

// gelu(x, "tanh") for a contiguous bfloat16 CPU tensor, or nothing (the caller takes
// LibTorch's) for any other tensor or a CPU without AVX512-F/BW/VL/BF16.
std::optional<torch::Tensor> cpuGeluTanhBf16(const torch::Tensor& x);

// The quick GELU (CLIP's and Qwen2-VL's towers), x sigmoid(1.702 x), as x / (1 + e^(-1.702 x))
// in float32 with one rounding, for the same tensors. The reference computes it as three
// bfloat16 operations (1.702 x, its sigmoid, the product), each rounded: 1.6 ms for a CLIP-L
// layer's 577 x 4,096 values on two threads of an Intel Xeon (39 ms of LLaVA's tower); this is
// one pass, more exact.
std::optional<torch::Tensor> cpuQuickGeluBf16(const torch::Tensor& x);

} // namespace vqa::models
