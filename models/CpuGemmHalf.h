// A bfloat16 matrix product of many rows (an image's patches, a long prompt) on CPUs with
// AVX512-FP16, whose half-precision fused multiply-adds issue at the rate of float32 ones
// with twice the lanes: 478 against 280 GFLOP/s on one core of an Intel Xeon where
// vdpbf16ps gives 76, so neither LibTorch's bfloat16 GEMM (oneDNN, 160 GFLOP/s on two
// threads) nor its float32 one on widened operands (240-310) comes near it.
//
// float16 has 3 more bits of mantissa than bfloat16 and 3 fewer of exponent, so each row of x
// and each row of w is first scaled by a power of two that puts its largest magnitude in
// [8, 16): the scaled bfloat16 values are then exact in float16 (bar those 2^18 times smaller
// than their row's largest, which float16 keeps as subnormals), products are at most 256, and
// a lane sums 64 of them before the partial sum is added into float32, so nothing overflows
// and a partial sum is rounded to 11 bits only within its block of 128 products. The scales
// come off in float32 at the end, with the bias, before one rounding to bfloat16. The result
// differs from a float32-accumulated product by about a quarter of bfloat16's own rounding
// (relative RMS 0.20 % against 0.165 % for the rounding alone, measured on random rows of
// 768-3072 values): tests/models/test_cpu_gemm_half.cpp holds it to that.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace vqa::models {

// The CPU has AVX512-FP16 (and the AVX512-BF16 it rounds the result with).
bool cpuGemmHalfSupported();

// y [m, n] = x [m, k] times w [n, k]^T (+ bias [n]), all bfloat16 and row-major, split over
// the intra-op threads. Returns false when the CPU lacks the instructions or x or w holds an
// infinity or a NaN (the caller then takes a path that carries them); y is then untouched
// where x holds it, but may be partly written where w does (w is read as it is used).
bool cpuGemmHalfBf16(const std::uint16_t* x, std::int64_t m, const std::uint16_t* w,
                     std::int64_t n, std::int64_t k, const std::uint16_t* bias, std::uint16_t* y);

// The same product for float32 x, w and bias, y in float32 (the "fast" precision's prefill
// through a float32 decoder): each value of x and w is rounded to float16's 11 bits after its
// row's scaling, and with the partial sums' rounding the result is 0.12-0.17 % relative RMS
// from the exact product (float32's own: 1e-7; rounding it to bfloat16 would cost 0.165 %).
bool cpuGemmHalfF32(const float* x, std::int64_t m, const float* w, std::int64_t n, std::int64_t k,
                    const float* bias, float* y);

// A float32 weight w [n, k] packed once the way cpuGemmHalfF32 packs it for every product
// (float16 panels of 64 rows, each row scaled): 2 bytes a weight, kept by a caller that runs
// many products over the same weight (CpuGemv.h's HalfPanelsCache).
struct HalfPackedWeight {
    // Leaves new elements uninitialized: the packing writes every one, and zeroing hundreds of
    // megabytes first, on one thread, was half of what packing a decoder costs its first
    // prefill (the 500M's: 380 ms with it, 560-600 before).
    template <typename T>
    struct Uninitialized : std::allocator<T> {
        template <typename U>
        struct rebind {
            using other = Uninitialized<U>;
        };
        template <typename U>
        void construct(U* p) noexcept {
            ::new (static_cast<void*>(p)) U;
        }
    };
    std::int64_t n = 0, k = 0;
    // [n / 64 rounded up][k / 2 rounded up][64] pairs of float16
    std::vector<std::uint32_t, Uninitialized<std::uint32_t>> panels;
    std::vector<float> scales;         // [n rounded up to 64]
    std::size_t bytes() const { return panels.size() * sizeof(std::uint32_t) + scales.size() * sizeof(float); }
};

// The bytes HalfPackedWeight holds for w [n, k]: 64-row panels of k / 2 pairs (4 bytes a pair,
// 2 a weight) and a scale a row.
constexpr std::int64_t halfPackedBytes(std::int64_t n, std::int64_t k) {
    return (n + 63) / 64 * 64 * (((k + 1) / 2) * 4 + 4);
}

// Packs w, split over the intra-op threads. False when the CPU lacks the instructions or w holds
// an infinity or a NaN (out is then empty).
bool cpuGemmHalfPackF32(const float* w, std::int64_t n, std::int64_t k, HalfPackedWeight* out);

// cpuGemmHalfF32 over a packed weight: the same result, without reading the float32 weight.
bool cpuGemmHalfPackedF32(const float* x, std::int64_t m, const HalfPackedWeight& w, const float* bias, float* y);

} // namespace vqa::models
