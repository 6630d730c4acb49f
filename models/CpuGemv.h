// Matrix-vector products for decoding on the CPU: one token's activations times a weight
// matrix. LibTorch sends a one-row product through general GEMM code (MKL, oneDNN) that is
// slow for bfloat16 on CPUs without AMX; these loops stream the weights once, with
// AVX512-BF16 dot products (bfloat16) or AVX-512 FMA (float32), split over the intra-op
// threads. They are chosen at run time from the CPU's features; elsewhere (other CPUs, CUDA,
// several rows, autograd) Linear uses at::linear.
#pragma once

#include <memory>
#include <mutex>

#include <torch/torch.h>

namespace vqa::models {

// True when cpuGemv() handles x times weight^T: x on the CPU with one row of weight.size(1)
// elements (any leading shape), or in bfloat16 up to kCpuGemvMaxRows rows (several sequences
// decoded together), both float32 or both bfloat16, weight 2-D, no autograd, and the CPU has
// the instructions for that dtype.
constexpr std::int64_t kCpuGemvMaxRows = 8;
bool cpuGemvApplies(const torch::Tensor& x, const torch::Tensor& weight);

// y = x weight^T (+ bias), shaped like x with the last dimension weight.size(0), in x's dtype.
// Accumulates in float32; bfloat16 results are rounded once at the end, as at::linear does.
// Several rows read each weight row once for all of them.
torch::Tensor cpuGemv(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);
// The several-row product on raw memory: y [m, weight.size(0)] (float32) = x [m, k] (bfloat16)
// times weight^T (bfloat16, contiguous), split over the intra-op threads.
void cpuGemmFewInto(const torch::Tensor& weight, const std::uint16_t* x, std::int64_t m, float* y);

// The same loops on raw memory, for callers that keep their own buffers (the one-token
// decode step). cpuGemvSupports(dtype): this CPU has the instructions for float32 or
// bfloat16 weights (and the path is not disabled). cpuGemvInto: y[weight.size(0)] (float32)
// = weight x, weight contiguous 2-D, x weight.size(1) elements of weight's dtype, split over
// the intra-op threads. cpuGemvRows: the same on one thread over `rows` rows at `w`.
bool cpuGemvSupports(torch::ScalarType dtype);
void cpuGemvInto(const torch::Tensor& weight, const void* x, float* y);
void cpuGemvRows(torch::ScalarType dtype, const void* w, const void* x, float* y,
                 std::int64_t rows, std::int64_t k);

// Turns the fast path off (true) or back on, for comparisons in tests and benchmarks.
void setCpuGemvDisabled(bool disabled);

// Several rows of bfloat16 on the CPU (an image's patches, a prefill) run one of three ways:
// LibTorch's bfloat16 kernels (Native: oneDNN); its float32 ones on widened operands
// (Widened: the same products, as a bfloat16 product is exact in float32 and both accumulate
// in float32, for the cost of converting the weight); or, on CPUs with AVX512-FP16, our own
// float16 GEMM (Half: models/CpuGemmHalf.h, which says what its rounding costs), with
// attention widened. Which is fastest depends on the CPU, not on a rule: on an Intel Xeon
// without AMX the widened path encoded a SigLIP tile in 4.0 s against 6.2 s natively, and the
// float16 GEMM runs 1.6-2.1x the widened one; on an AMD EPYC with AVX512-BF16 (no FP16) the
// bfloat16 GEMM is 4-7x faster than the widened one. So it is measured (measureBf16Kernels: a
// few products of model shapes, tens of milliseconds) the first time it matters, unless set
// (the engine sets what it measured before for this CPU, engine/CpuTuning.h). From 16 rows
// on, cpuBf16RowsLinear() takes the chosen path unless it is Native, and attention() in
// Layers.cpp widens many causal queries unless it is Native (attention that is not causal has
// a choice of its own, measured the same way: CpuAttention.h's Bf16Attention).
enum class Bf16Kernels { Auto, Native, Widened, Half };
void setBf16Kernels(Bf16Kernels kernels); // Auto: measure at first use
Bf16Kernels bf16Kernels();                // the choice in force (Native, Widened or Half)
const char* bf16KernelsName(Bf16Kernels kernels); // "native", "widened", "half"
struct Bf16KernelTimes {
    // The same products each way, best of a few runs; half_ms 0 where the CPU lacks FP16.
    double native_ms = 0, widened_ms = 0, half_ms = 0;
    Bf16Kernels fastest() const;
};
Bf16KernelTimes measureBf16Kernels();
bool cpuWidensBf16(); // bf16Kernels() is not Native: many rows do not use LibTorch's bfloat16 kernels
bool cpuBf16RowsApply(const torch::Tensor& x, const torch::Tensor& weight);
// x weight^T + bias through the chosen kernels, bfloat16 in and out. Half falls back to
// Widened for operands holding an infinity or a NaN (the float16 GEMM refuses them).
torch::Tensor cpuBf16RowsLinear(const torch::Tensor& x, const torch::Tensor& weight,
                                const torch::Tensor& bias);
torch::Tensor cpuBf16RowsLinear(const torch::Tensor& x, const torch::Tensor& weight,
                                const torch::Tensor& bias, Bf16Kernels kernels);

// The "fast" precision's prefill through its float32 decoder: while a HalfFloat32Rows(true)
// lives on a thread, products of 16+ float32 rows there go through the float16 GEMM where
// the bfloat16 kernels chosen are Half (so where it is the fastest way this CPU multiplies),
// at 0.12-0.17 % relative error per product (CpuGemmHalf.h); elsewhere, and for operands
// holding an infinity or a NaN, float32 as always. Decoding (one row) stays exact float32.
class HalfFloat32Rows {
  public:
    explicit HalfFloat32Rows(bool on);
    ~HalfFloat32Rows();
    HalfFloat32Rows(const HalfFloat32Rows&) = delete;
    HalfFloat32Rows& operator=(const HalfFloat32Rows&) = delete;

  private:
    bool before_;
};

struct HalfPackedWeight; // CpuGemmHalf.h

// The float16 panels of one float32 weight for those products, packed at the first of them and
// kept: a later prefill then reads 2 bytes a weight instead of 4 and converts nothing (the
// packing was a quarter of the 256M's prefill). Kept while the panels of every cache together
// stay within an eighth of the machine's memory (the 256M's decoder: 270 MB, the 500M's: 720);
// past that, a weight is packed for each product as before. Each Linear owns one (Layers.h),
// shared by its copies; a cache holds one weight, and for any other returns nothing. Safe to
// call from several threads.
class HalfPanelsCache {
  public:
    HalfPanelsCache();
    ~HalfPanelsCache();
    HalfPanelsCache(const HalfPanelsCache&) = delete;
    HalfPanelsCache& operator=(const HalfPanelsCache&) = delete;
    // weight's panels, packed now if they are not yet and the budget allows; null otherwise
    // (another weight packed here, the budget spent, a non-finite value, no AVX512-FP16).
    const HalfPackedWeight* panelsFor(const torch::Tensor& weight);
    // Packs weight's panels now where the fast prefill will ask for them (weight float32 on
    // the CPU, the kernels chosen Half), so that the first question after loading does not
    // pay it (100-400 ms on SmolVLM). The bytes this cache keeps after it (0: none).
    std::int64_t packAhead(const torch::Tensor& weight);
    static std::int64_t bytesKept(); // the panels of every cache alive
    static std::int64_t budget();    // an eighth of the machine's memory

  private:
    std::mutex mutex_;
    torch::Tensor weight_; // the weight packed, kept so no other tensor can take its memory
    std::unique_ptr<HalfPackedWeight> packed_;
    std::int64_t bytes_ = 0;
    bool refused_ = false;
};

// x weight^T + bias through the float16 GEMM when a HalfFloat32Rows is on and it applies (with
// the cache's panels of weight where it has or can make them); undefined otherwise (the caller
// takes at::linear).
torch::Tensor cpuHalfFloat32RowsLinear(const torch::Tensor& x, const torch::Tensor& weight,
                                       const torch::Tensor& bias, HalfPanelsCache* cache = nullptr);

} // namespace vqa::models
