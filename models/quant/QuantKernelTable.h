// The matrix-vector loops over quantized rows, one table per instruction set. Included by the
// instruction-set files (QuantKernelsX86.inc), which are compiled with their own -m flags and
// so may use nothing but this header and the intrinsics: no standard-library templates, whose
// copies could be shared with code that runs on CPUs without those instructions.
#pragma once

#include <cstdint>

namespace vqa::models::quant {

// The activation vector as the loops read it: blocks of 32 int8 values q with a scale d
// (x = d q), and for each block, per group of 4 consecutive values (the 8 int32 lanes a
// 256-bit byte dot product sums into), what the formats need beside the product:
//   lane_d       d, in each of the block's 8 lanes
//   lane_minus8  -8 * (the group's sum of q): Q4_0's w = d (q - 8), started in the lanes
//   lane_s       d * (the group's sum of q): Q4_1's minimum times x
// and per block, block_sum: the sum of its 32 q (the interleaved loops' offsets).
struct Activation {
    const std::int8_t* q;
    const float* d;
    const float* lane_d;
    const std::int32_t* lane_minus8;
    const float* lane_s;
    const std::int32_t* block_sum;
};

// y[r] = sum over k of w[r, k] x[k] for rows begin..end-1 of a quantized matrix of `blocks`
// blocks (row_bytes bytes) per row. Accumulates in float32.
using DotRows = void (*)(const std::uint8_t* w, std::int64_t row_bytes, std::int64_t blocks,
                         const Activation& x, float* y, std::int64_t begin, std::int64_t end);

// The same for the Interleaved16 layout (QuantFormat.h), against n activations at once (a
// prefill's tokens; 1 in a decode step): y[j * ldy + 16 g + r] = row 16 g + r of w times x[j]
// for the groups g in begin..end-1 of the matrix at w, `blocks` blocks per row, r < 16 and
// 16 g + r < rows.
using DotGroups = void (*)(const std::uint8_t* w, std::int64_t blocks, const Activation* x, std::int64_t n,
                           float* y, std::int64_t ldy, std::int64_t rows, std::int64_t begin, std::int64_t end);

// `blocks` whole blocks of 32 floats at x quantized into out, bit for bit as the portable
// quantizer (and GGUF's) does it.
using QuantizeBlocks = void (*)(const float* x, std::int64_t blocks, std::uint8_t* out);

// `blocks` whole blocks at `in` as 32 floats each (exactly the portable dequantizeBlock's), or
// as bfloat16 bits (those floats rounded to nearest even, as c10::BFloat16 rounds them).
using DequantizeBlocks = void (*)(const std::uint8_t* in, std::int64_t blocks, float* out);
using DequantizeBlocksBf16 = void (*)(const std::uint8_t* in, std::int64_t blocks, std::uint16_t* out);

struct KernelTable {
    const char* name;  // "avx512-vnni", "avx-vnni", "avx2", "portable"
    DotRows q8_0;
    DotRows q4_0;
    DotRows q4_1;
    QuantizeBlocks quantize_q8_0;
    QuantizeBlocks quantize_q4_0;
    QuantizeBlocks quantize_q4_1;
    DequantizeBlocks dequantize_q8_0;
    DequantizeBlocks dequantize_q4_0;
    DequantizeBlocks dequantize_q4_1;
    DequantizeBlocksBf16 dequantize_bf16_q8_0;
    DequantizeBlocksBf16 dequantize_bf16_q4_0;
    DequantizeBlocksBf16 dequantize_bf16_q4_1;
    // Loops over the interleaved layout.
    DotGroups q8_0_x16;
    DotGroups q4_0_x16;
    DotGroups q4_1_x16;
};

extern const KernelTable kPortable;
#if defined(__x86_64__) && defined(__GNUC__)
extern const KernelTable kAvx2;
extern const KernelTable kAvxVnni;
extern const KernelTable kAvx512Vnni;
#endif

}  // namespace vqa::models::quant
