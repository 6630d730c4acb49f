// A float32 product of a few rows on the CPU: a prompt's prefill, a follow-up question, several
// answers decoded together. LibTorch's GEMM (MKL) first copies each weight into panels of its
// own layout and then multiplies them; with a few dozen rows each weight streams from memory
// once per product, and that copy, which waits on memory while nothing is multiplied, took 27 %
// of a SmolVLM-500M prefill of 86 tokens (perf, two threads of an Intel Xeon). Here each result
// is the dot product of a row of x and a row of w read where it lies: 4 rows of w times 6 rows
// of x a register tile, summed along k in 16 lanes whose sums are added at the end; a thread
// goes through its weight rows in blocks of 16, every row of x past each block, and while it
// computes one block it asks for the next, so the memory works while the cores multiply (without
// those asks it was no faster than MKL). On the decoder's shapes with the weights cold (30
// layers of SmolVLM-256M, two threads of an Intel Xeon) it took 0.6-0.8x MKL's time from 4 to
// 64 rows and 0.85-1.05x from 128 to 256; at 300 rows the two were even and at 1,024 MKL was
// faster, its copy paid for by the rows. A whole prefill (median of 30): SmolVLM-256M, 86
// tokens 83-84 -> 73-79 ms, 20 tokens 43 -> 29 ms; SmolVLM-500M, 86 tokens 238-247 -> 207-213
// ms. Which is faster depends on the CPU (its loads per cycle, its memory), so it is measured
// like the bfloat16 choices (engine/CpuTuning.h records it, VQA_F32_ROWS overrides). The result
// differs from MKL's by the order of the sums (float32's own rounding, 1e-7 to 1e-6 relative).
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace vqa::models {

// Rows of x up to which the product is ours when chosen; more go to LibTorch.
constexpr std::int64_t kCpuGemmF32MaxRows = 256;

// The CPU has AVX-512 (F).
bool cpuGemmF32Supported();

// y [m, n] = x [m, k] times w [n, k]^T (+ bias [n]), all float32, row-major and contiguous,
// split over the intra-op threads. False (y untouched) where the CPU lacks AVX-512.
bool cpuGemmF32(const float* x, std::int64_t m, const float* w, std::int64_t n, std::int64_t k,
                const float* bias, float* y);

// Which way float32 products of 2 to kCpuGemmF32MaxRows rows run on the CPU: LibTorch's GEMM
// (Native) or ours above (Ours). Measured (measureF32Rows: products of decoder shapes each way,
// tens of milliseconds) the first time it matters unless set.
enum class F32Rows { Auto, Native, Ours };
void setF32Rows(F32Rows rows);          // Auto: measure at first use
F32Rows f32Rows();                      // the choice in force (Native or Ours)
const char* f32RowsName(F32Rows rows);  // "native", "ours"
struct F32RowsTimes {
    // The same products each way, best of a few runs; ours_ms 0 where the CPU cannot run ours.
    double native_ms = 0, ours_ms = 0;
    F32Rows fastest() const;
};
F32RowsTimes measureF32Rows();

// x weight^T + bias through ours where it applies: float32 x of 2 to kCpuGemmF32MaxRows rows
// (any leading shape) and weight [n, k] on the CPU, no autograd, the choice Ours. Undefined
// otherwise (the caller takes LibTorch's way).
torch::Tensor cpuF32RowsLinear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

} // namespace vqa::models
