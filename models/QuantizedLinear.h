// Quantized weight matrices as tensors (formats: quant/QuantFormat.h). Made from a float weight
// while a model loads, on all intra-op threads. Multiplied on the CPU by the loops of
// quant/QuantKernels.h: one row of activations is quantized to int8 blocks and meets the
// weights in integer dot products (the decode step); several rows (a prefill) go the same way
// a few at a time over an interleaved matrix (QuantPrefill::Integer below), or are multiplied
// against slices of dequantized weight rows (Float, and matrices in rows: each slice reused by
// every row), in bfloat16 where this CPU's bfloat16 GEMM is the fast one (CpuGemv.h's
// bf16Kernels()), in float32 elsewhere. Elsewhere (CUDA, or an input that needs gradients) the
// matrix is dequantized to the input's dtype and multiplied by at::linear.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "models/quant/QuantFormat.h"

namespace vqa::models {

struct QuantizedMatrix {
    QuantFormat format = QuantFormat::None;
    QuantLayout layout = QuantLayout::Rows;
    std::int64_t rows = 0, cols = 0;
    // uint8 [rows, quantRowBytes(format, cols)] on the model's device; Interleaved16 (on the
    // CPU only): [16 * interleavedGroups(rows), the same], groups of 16 rows after each other.
    torch::Tensor data;

    // An uninitialized matrix on the CPU in rows, filled by quantizeRowsInto.
    static QuantizedMatrix empty(QuantFormat format, std::int64_t rows, std::int64_t cols);
    std::int64_t bytes() const { return data.defined() ? data.numel() : 0; }
};

// m (in rows, as loaded) where a model runs: on a CPU whose quantized loops read the
// interleaved layout faster (AVX2 and up) in that layout, unless VQA_QUANT_LAYOUT=rows.
QuantizedMatrix placeQuantized(QuantizedMatrix m, const torch::Device& device);
// The layout placeQuantized gives a matrix that stays on the CPU.
QuantLayout cpuQuantLayout();
// m in the given layout, on the CPU (a copy; m itself when it is already in that layout).
QuantizedMatrix withLayout(const QuantizedMatrix& m, QuantLayout layout);

// w (2-D float32, bfloat16 or float16 on the CPU) quantized into rows first_row.. of `into`,
// whose cols must be w.size(1). Throws vqa::Error on a shape mismatch or a non-float tensor.
void quantizeRowsInto(const torch::Tensor& w, QuantizedMatrix& into, std::int64_t first_row);
QuantizedMatrix quantizeMatrix(const torch::Tensor& w, QuantFormat format);

// The matrix as floats [rows, cols] in `dtype`, on its device.
torch::Tensor dequantize(const QuantizedMatrix& m, torch::ScalarType dtype);
// The same in tensor operations (float32), as dequantize does on devices other than the CPU;
// tests compare it with the CPU's loops.
torch::Tensor dequantizeWithTensorOps(const QuantizedMatrix& m);
// Rows `ids` (int64, any shape) as floats [..., cols] in `dtype`: an embedding lookup.
torch::Tensor dequantizeRows(const QuantizedMatrix& m, const torch::Tensor& ids,
                             torch::ScalarType dtype);

// x W^T + b for x [..., cols] of any float dtype; the result has x's dtype, rounded once.
torch::Tensor quantizedLinear(const torch::Tensor& x, const QuantizedMatrix& w,
                              const torch::Tensor& bias);

// The one-token step's product on raw memory: y[rows] = W x for x of `cols` floats, the
// matrix on the CPU, over the intra-op threads.
void quantizedGemvInto(const QuantizedMatrix& w, const float* x, float* y);

// How several rows of activations (a prefill) meet an interleaved matrix on the CPU: Integer
// quantizes each row to int8 blocks, as a decode step does, and runs the interleaved loops on
// 4 rows at a time (each tile unpacked once for all 4), as llama.cpp's prefill does; Float
// multiplies float activations by dequantized slices in a GEMM (the float model over the
// rounded weights; always so for matrices in rows). Which is faster depends on the CPU's
// integer and float rates, so Auto measures both once (measureQuantPrefill: a Q4_0 product of
// a decoder's shape, a few milliseconds) at the first prefill that needs it, unless the
// environment's VQA_QUANT_PREFILL says integer or float.
enum class QuantPrefill { Auto, Integer, Float };
void setQuantPrefill(QuantPrefill prefill);
QuantPrefill quantPrefill();  // the choice in force (Integer or Float)
struct QuantPrefillTimes {
    double integer_ms = 0, float_ms = 0;  // the same product both ways, best of a few runs
};
QuantPrefillTimes measureQuantPrefill();

}  // namespace vqa::models
