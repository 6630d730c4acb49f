// Vector functions shared by the AVX-512 kernels (CpuAttention.cpp, CpuGelu.cpp, CpuGemmHalf.cpp):
// included only where the x86-64 intrinsics are, by files whose kernels carry a target attribute
// that includes each function's.
#pragma once

#include <algorithm>
#include <cmath>

#include <immintrin.h>

namespace vqa::models::vec {

// e^x in float32 to within 2 units in the last place: e^x = 2^n e^r with n the integer nearest
// x / ln 2 and |r| <= ln 2 / 2, r from a two-part ln 2 (exact products), e^r by its Taylor
// series to r^7 (relative error below 1e-8 there), 2^n applied by vscalefps, which also gives
// the subnormals, zero below float's range (arguments under -104, -inf included) and infinity
// above it. A NaN gives NaN (vmaxps and vminps return their second operand when either is NaN,
// so the argument goes second).
__attribute__((target("avx512f"))) inline __m512 exp(__m512 x) {
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

// The CPU has AVX512-F/BW/VL/DQ and AVX512-BF16: what every kernel here needs (CpuGemmHalf
// also needs AVX512-FP16).
inline bool hasAvx512Bf16Set() {
    static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                           __builtin_cpu_supports("avx512bf16");
    return ok;
}

// ... and AVX512-FP16 (the float16 GEMM, and the attention's float16 product with the values).
inline bool hasAvx512Fp16Set() {
    static const bool ok = hasAvx512Bf16Set() && __builtin_cpu_supports("avx512fp16");
    return ok;
}

// The power of two that puts `largest` (a magnitude) in [8, 16), short of float's largest
// (a subnormal gets 2^126 and stays smaller); 1 for zero. Scaled so, bfloat16 values are exact
// in float16 but for those 2^18 times smaller than the largest, and products of two stay
// below 256.
inline float halfScaleFor(float largest) {
    if (largest == 0.0f)
        return 1.0f;
    int e = 0;
    std::frexp(largest, &e);
    return std::ldexp(1.0f, std::min(4 - e, 126));
}

// 16 bfloat16 values as float32: exact.
__attribute__((target("avx512f"))) inline __m512 widenBf16(__m256i raw) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
}

// 16 (or the mask's first) bfloat16 values as float32: exact.
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m512 widenBf16(const void* p, __mmask16 m) {
    return widenBf16(_mm256_maskz_loadu_epi16(m, p));
}

// 16 floats (the mask's first) rounded to bfloat16, nearest even, and stored at p: how every
// kernel here writes a bfloat16 result.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) inline void storeBf16(void* p, __mmask16 m, __m512 v) {
    _mm256_mask_storeu_epi16(p, m, reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v)));
}

// v rounded to bfloat16 and widened back: a bfloat16 intermediate the reference rounds.
__attribute__((target("avx512f,avx512bf16"))) inline __m512 roundBf16(__m512 v) {
    return widenBf16(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v)));
}

// The float16 kernels' flush: acc's 32 float16 partial sums added into the 32 floats at t
// (lanes 0-15 at t, 16-31 at t + 16), before float16 would hold too few of their bits.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512fp16"))) inline void addHalfInto(__m512h acc, float* t) {
    const __m512i a = _mm512_castph_si512(acc);
    const __m512 lo = _mm512_cvtxph_ps(_mm256_castsi256_ph(_mm512_castsi512_si256(a)));
    const __m512 hi = _mm512_cvtxph_ps(_mm256_castsi256_ph(_mm512_extracti64x4_epi64(a, 1)));
    _mm512_storeu_ps(t, _mm512_add_ps(_mm512_loadu_ps(t), lo));
    _mm512_storeu_ps(t + 16, _mm512_add_ps(_mm512_loadu_ps(t + 16), hi));
}

// The 16 sums of neighbouring floats at t (t[0] + t[1], t[2] + t[3], ...): the float16 kernels
// sum each output's even and odd pairs in neighbouring lanes, and add them last.
__attribute__((target("avx512f"))) inline __m512 sumPairs(const float* t) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 v0 = _mm512_loadu_ps(t), v1 = _mm512_loadu_ps(t + 16);
    return _mm512_add_ps(_mm512_permutex2var_ps(v0, even, v1), _mm512_permutex2var_ps(v0, odd, v1));
}

inline __mmask16 firstLanes(long count) {
    return static_cast<__mmask16>(count >= 16 ? 0xffff : (1u << count) - 1);
}

// r[j] = word j of every r[i] (a 16 x 16 transpose of 32-bit words): pairs within 128-bit lanes,
// then pairs of pairs, then the lanes themselves.
__attribute__((target("avx512f"))) inline void transpose16(__m512i* r) {
    __m512i a[16], b[16];
    for (int i = 0; i < 16; i += 2) {
        a[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        a[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    // b[4i + c], lane L: word 4L + c of rows 4i to 4i + 3.
    for (int i = 0; i < 16; i += 4) {
        b[i] = _mm512_unpacklo_epi64(a[i], a[i + 2]);
        b[i + 1] = _mm512_unpackhi_epi64(a[i], a[i + 2]);
        b[i + 2] = _mm512_unpacklo_epi64(a[i + 1], a[i + 3]);
        b[i + 3] = _mm512_unpackhi_epi64(a[i + 1], a[i + 3]);
    }
    // r[4L + c], lane i: b[4i + c]'s lane L.
    for (int c = 0; c < 4; ++c) {
        const __m512i s0 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0x44), s1 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0xee);
        const __m512i s2 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0x44),
                      s3 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0xee);
        r[c] = _mm512_shuffle_i32x4(s0, s2, 0x88);
        r[4 + c] = _mm512_shuffle_i32x4(s0, s2, 0xdd);
        r[8 + c] = _mm512_shuffle_i32x4(s1, s3, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(s1, s3, 0xdd);
    }
}

} // namespace vqa::models::vec
