// Operations along each row of a float32 or bfloat16 CPU tensor that the reference spells as
// several elementwise ops (each a pass over memory, an allocation and a dispatch): RMSNorm,
// the gated MLP's silu(gate) * up, and the Qwen vision towers' rotary embedding. Each is one
// pass here, rounding to bfloat16 where the reference's tensors are rounded, so the results are
// the reference's up to the order of one sum (RMSNorm's mean of squares) and the last bit of
// an exponential (silu). Measured on two threads of an Intel Xeon at Qwen2.5-VL's tower shapes
// (1,296 x 1,280, gate and up 3,420 wide), the three took 1.4, 2.6 and 2 x 2.1 ms a block as
// ATen ops; in one pass each the bfloat16 tower went from 4,160 to 3,699 ms, and SmolVLM-256M's
// prefill from 102.5 to 99.8 ms (float32) and 84.3 to 79.9 (bfloat16).
//
// Each returns nothing (the caller takes its ATen spelling) for a tensor that records
// gradients, is not contiguous, is on another device or of another dtype, and on a CPU without
// AVX512-F/BW/VL/DQ and AVX512-BF16.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include <torch/torch.h>

namespace vqa::models {

// weight * (x / sqrt(mean(x^2) + eps)) over the last dimension, computed in float32 and cast
// back to x's dtype before the weight (of x's dtype), as transformers' Llama/Qwen RMSNorm.
std::optional<torch::Tensor> cpuRmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// silu(gate) * up for gate_up [..., 2 * inter] (the gate's inter values, then the up's, as a
// fused gate/up product gives them): [..., inter], the activation rounded before the product.
std::optional<torch::Tensor> cpuSiluGate(const torch::Tensor& gate_up, std::int64_t inter);

// A Qwen vision block's attention inputs from its q/k/v product qkv [S, 3 * heads * D]: q, k
// and v [heads, S, D], q and k rotated in float32 by cos and sin [S, D] (float32) with
// rotate_half pairing and then rounded once to qkv's dtype, as apply_rotary_pos_emb_vision does.
std::optional<std::array<torch::Tensor, 3>> cpuVisionQkvRotary(const torch::Tensor& qkv, std::int64_t heads,
                                                               const torch::Tensor& cos, const torch::Tensor& sin);

} // namespace vqa::models
