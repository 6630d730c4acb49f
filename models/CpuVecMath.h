// Vector functions shared by the AVX-512 kernels (CpuAttention.cpp, CpuGelu.cpp): included only
// where the x86-64 intrinsics are, by files whose kernels carry the same target attribute.
#pragma once

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

// 16 (or the mask's first) bfloat16 values as float32: exact.
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m512 widenBf16(const void* p, __mmask16 m) {
    const __m256i raw = _mm256_maskz_loadu_epi16(m, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
}

inline __mmask16 firstLanes(long count) {
    return static_cast<__mmask16>(count >= 16 ? 0xffff : (1u << count) - 1);
}

} // namespace vqa::models::vec
