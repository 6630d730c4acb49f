// The matrix-vector loops over quantized rows, one table per instruction set. Included by the
// instruction-set files (QuantKernelsX86.inc), which are compiled with their own -m flags and
// so may use nothing but this header and the intrinsics: no standard-library templates, whose
// copies could be shared with code that runs on CPUs without those instructions.
#pragma once

#include <cstdint>

namespace vqa::models::quant {

// y[r] = sum over k of w[r, k] x[k] for rows begin..end-1 of a quantized matrix of `blocks`
// blocks (row_bytes bytes) per row, x given as blocks of 32 int8 values xq with scales xd
// (x = xd q) and xs = xd * (sum of the block's q). Accumulates in float32.
using DotRows = void (*)(const std::uint8_t* w, std::int64_t row_bytes, std::int64_t blocks,
                         const std::int8_t* xq, const float* xd, const float* xs, float* y,
                         std::int64_t begin, std::int64_t end);

struct KernelTable {
    const char* name;  // "avx512-vnni", "avx-vnni", "avx2", "portable"
    DotRows q8_0;
    DotRows q4_0;
    DotRows q4_1;
};

extern const KernelTable kPortable;
#if defined(__x86_64__) && defined(__GNUC__)
extern const KernelTable kAvx2;
extern const KernelTable kAvxVnni;
extern const KernelTable kAvx512Vnni;
#endif

}  // namespace vqa::models::quant
