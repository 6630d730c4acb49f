// Attention over many bfloat16 queries on an AVX-512 CPU (an image's patches through a vision
// tower), computed as LibTorch's float32 kernel computes it on widened inputs, without the
// widened copies: scores q k^T in float32 (bfloat16 products are exact in float32), an exact
// softmax over all of a query's keys in float32, the probabilities times the values in
// float32, one rounding of the output to bfloat16.
//
// Why ours: LibTorch's float32 flash attention takes 15.9 ms per SigLIP layer (12 heads, 1,024
// patches, two threads of an Intel Xeon), a third of the core's float32 multiply-add rate,
// plus the copies that widen q, k and v and narrow the output. Here each head's keys are
// widened and transposed once into panels of 64, six queries at a time take their scores
// against every key in registers (24 accumulators: 6 queries x 64 keys), the six rows of
// scores (24 KB for 1,024 keys) stay in the first-level cache through the softmax and the
// product with the values (6 queries x 64 of the head's dimensions a pass). The output is
// written as [N, S, H, D], so the layer's merge of the heads is a view. 12.8-13.2 ms a SigLIP
// layer; with the product with the values in float16 (AVX512-FP16: twice float32's
// multiply-adds an instruction; the scores stay float32, where float16's 11 bits would move a
// peaked softmax), 10.8.
#pragma once

#include <optional>

#include <torch/torch.h>

namespace vqa::models {

// The CPU has the AVX-512 subsets the kernel is compiled for (F, BW, VL, DQ, BF16).
bool cpuAttentionSupported();
// ... and AVX512-FP16, for the product with the values in float16.
bool cpuAttentionHalfSupported();

// softmax(q k^T * scale + key mask) v for q [N, H, S, D], k and v [N, Hkv, Skv, D] (H a
// multiple of Hkv: grouped heads), all bfloat16 on the CPU with unit stride along D, and
// key_mask undefined or a boolean [N, 1, 1, Skv] (true: the key is seen). Returns the output
// [N, H, S, D] (its memory [N, S, H, D]), or nothing when the inputs are of another kind, the
// CPU lacks the instructions, or a query would see no key: the caller then takes LibTorch's.
// float16_values: the probabilities times the values in float16 (AVX512-FP16 CPUs; nothing
// otherwise), twice the rate: the probabilities rounded to float16's 11 bits (LibTorch's
// bfloat16 kernel rounds them to 8), each dimension of the values scaled by a power of two into
// float16's range, a lane's sums kept in float16 over 64 keys before they go into float32.
std::optional<torch::Tensor> cpuAttentionBf16(const torch::Tensor& q, const torch::Tensor& k,
                                              const torch::Tensor& v, const torch::Tensor& key_mask,
                                              double scale, bool float16_values = false);

// Which way many bfloat16 queries that are not causal (an image's patches) are attended on
// the CPU: LibTorch's bfloat16 kernel (Native: what transformers runs), its float32 kernel on
// widened inputs (Widened), or ours above (Ours; the values in float16 where the bfloat16
// kernels chosen are Half, CpuGemv.h). As with the matrix products, the fastest depends on the
// CPU, not on a rule: on the Intel Xeon ours takes 10.8 ms a SigLIP layer against 15.9 widened
// and more natively; where bfloat16 dot products run at twice float32's rate (an AMD EPYC),
// LibTorch's bfloat16 kernel may win. So it is measured (measureBf16Attention: one SigLIP-sized
// attention each way, tens of milliseconds) the first time it matters, unless set (the engine
// sets what it measured before for this CPU, engine/CpuTuning.h). Causal attention (a prefill)
// and inputs ours refuses are widened where the products are (cpuWidensBf16), as before.
enum class Bf16Attention { Auto, Native, Widened, Ours };
void setBf16Attention(Bf16Attention attention); // Auto: measure at first use
Bf16Attention bf16Attention();                  // the choice in force (Native, Widened or Ours)
const char* bf16AttentionName(Bf16Attention attention); // "native", "widened", "ours"
struct Bf16AttentionTimes {
    // The same attention each way, best of a few runs; ours_ms 0 where the CPU cannot run ours.
    double native_ms = 0, widened_ms = 0, ours_ms = 0;
    Bf16Attention fastest() const;
};
Bf16AttentionTimes measureBf16Attention(bool float16_values);
// softmax(q k^T * scale + mask) v the way `attention` says (Native, Widened or Ours; ours
// falls back to Widened where it refuses the inputs, causal ones among them), bfloat16 in and out.
torch::Tensor cpuBf16Attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& mask, bool causal, double scale, Bf16Attention attention,
                               bool float16_values);

} // namespace vqa::models
