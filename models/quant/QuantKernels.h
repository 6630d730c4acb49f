// Quantized weights on raw memory: quantizing and dequantizing rows (bit for bit as
// llama.cpp and GGUF's Python quantizer do), quantizing an activation vector to int8 blocks,
// and the matrix-vector loops, in one version per instruction set chosen at run time from the
// CPU's features (AVX512-VNNI, AVX-VNNI, AVX2, or portable C++). No LibTorch: the
// tensor-level API is models/QuantizedLinear.h.
#pragma once

#include <cstdint>
#include <vector>

#include "models/quant/QuantFormat.h"

namespace vqa::models {

// The k weights at `x` as ceil(k / 32) blocks at `out` (quantRowBytes(format, k) bytes), with
// the active instruction set's quantizer (or `isa`'s: every one writes the same bytes).
void quantizeRow(QuantFormat format, const float* x, std::int64_t k, std::uint8_t* out);
// The inverse: k weights (the padding of the last block dropped), with the active instruction
// set's loops (every one gives the same floats: one rounding each).
void dequantizeRow(QuantFormat format, const std::uint8_t* row, std::int64_t k, float* out);
// The same floats as bfloat16 bits, rounded to nearest even (c10::BFloat16's rounding).
void dequantizeRowBf16(QuantFormat format, const std::uint8_t* row, std::int64_t k, std::uint16_t* out);

// An activation vector as the integer dot products take it: blocks of 32 int8 values q with
// a float32 scale d (x ~ d q, |q| <= 127), the last block padded with zeros, and per group of
// 4 values what the formats' offsets need (QuantKernelTable.h's Activation).
struct Q8Vector {
    std::vector<std::int8_t> q;
    std::vector<float> d;
    std::vector<float> lane_d, lane_s;      // 8 per block
    std::vector<std::int32_t> lane_minus8;  // 8 per block
    std::vector<std::int32_t> block_sum;    // the sum of each block's q
    std::int64_t blocks = 0;
};
void quantizeActivation(const float* x, std::int64_t k, Q8Vector& out);
// x as the products see it: d q for each of its k values.
std::vector<float> dequantizeActivation(const Q8Vector& x, std::int64_t k);

// The instruction sets the loops are written for, from the most general.
enum class QuantIsa { Portable, Avx2, AvxVnni, Avx512Vnni };
const char* quantIsaName(QuantIsa isa);
// Those this CPU runs (Portable always), in the order of the enum.
std::vector<QuantIsa> supportedQuantIsas();
// What quantDotRows uses when not told: the last supported one, unless setQuantIsa chose
// (or the environment's VQA_QUANT_ISA names one this CPU runs: "avx2", "portable", ...).
QuantIsa activeQuantIsa();
// Chooses the loops for tests and benchmarks (an unsupported one is refused with vqa::Error);
// resetQuantIsa() goes back to the CPU's best.
void setQuantIsa(QuantIsa isa);
void resetQuantIsa();

void quantizeRow(QuantIsa isa, QuantFormat format, const float* x, std::int64_t k, std::uint8_t* out);
void dequantizeRow(QuantIsa isa, QuantFormat format, const std::uint8_t* row, std::int64_t k, float* out);
void dequantizeRowBf16(QuantIsa isa, QuantFormat format, const std::uint8_t* row, std::int64_t k, std::uint16_t* out);

// y[r] = (row r of w) . x for rows [begin, end) of a matrix in `format` with k columns,
// row_bytes = quantRowBytes(format, k), one thread, with the given loops.
void quantDotRows(QuantIsa isa, QuantFormat format, const std::uint8_t* w, std::int64_t k,
                  const Q8Vector& x, float* y, std::int64_t begin, std::int64_t end);

// The interleaved layout (QuantFormat.h's Interleaved16). A matrix of `rows` rows has
// ceil(rows / 16) groups of 16 * quantRowBytes(format, k) bytes each.
std::int64_t interleavedGroups(std::int64_t rows);
// Group g of the Interleaved16 layout at `out`, from a Rows-layout matrix of `rows` rows at
// `w` (rows past the last are zeros).
void interleaveGroup(QuantFormat format, const std::uint8_t* w, std::int64_t rows, std::int64_t k,
                     std::int64_t g, std::uint8_t* out);
// Row r of the Interleaved16 matrix at `w` as the Rows layout writes it (quantRowBytes bytes).
void deinterleaveRow(QuantFormat format, const std::uint8_t* w, std::int64_t k, std::int64_t r,
                     std::uint8_t* out);
// Whether `isa`'s loops read the interleaved layout faster than rows: every vector
// instruction set's do (the portable loops read both alike).
bool quantIsaInterleaves(QuantIsa isa);
// y[j * ldy + r] = (row r of w) . x[j] for the n activations x and the rows r of groups
// [begin, end) of an Interleaved16 matrix of `rows` rows, one thread.
void quantDotGroups(QuantIsa isa, QuantFormat format, const std::uint8_t* w, std::int64_t k,
                    const Q8Vector* x, std::int64_t n, float* y, std::int64_t ldy, std::int64_t rows,
                    std::int64_t begin, std::int64_t end);

}  // namespace vqa::models
