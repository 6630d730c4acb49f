#include "models/CpuRowOps.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include <ATen/Parallel.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
// GCC 12 reports "'__Y' may be used uninitialized" inside its own AVX-512 headers once they
// are inlined (as in CpuGemv.cpp): a false positive in the compiler's header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "models/CpuVecMath.h"
#define VQA_CPU_ROW_OPS 1
#endif

namespace vqa::models {

#ifdef VQA_CPU_ROW_OPS

namespace {

using std::int64_t;

#define VQA_ROW_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

// Loads and stores of 16 values (the mask's first) of a float32 or bfloat16 row, as float32.
template <typename T>
VQA_ROW_TARGET inline __m512 load(const T* p, __mmask16 m) {
    if constexpr (std::is_same_v<T, float>)
        return _mm512_maskz_loadu_ps(m, p);
    else
        return vec::widenBf16(p, m);
}

template <typename T>
VQA_ROW_TARGET inline void store(T* p, __mmask16 m, __m512 v) {
    if constexpr (std::is_same_v<T, float>)
        _mm512_mask_storeu_ps(p, m, v);
    else
        vec::storeBf16(p, m, v);
}

// v as a value of T (bfloat16: rounded to nearest even), back in float32.
template <typename T>
VQA_ROW_TARGET inline __m512 asDtype(__m512 v) {
    if constexpr (std::is_same_v<T, float>)
        return v;
    else
        return vec::roundBf16(v);
}

template <typename T>
VQA_ROW_TARGET void rmsNormRow(const T* x, const T* w, int64_t n, float eps, T* y) {
    __m512 sum = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        const __m512 v = load(x + i, vec::firstLanes(n - i));
        sum = _mm512_add_ps(sum, _mm512_mul_ps(v, v));  // each square rounded, as pow(2) rounds it
    }
    const float inverse = 1.0f / std::sqrt(_mm512_reduce_add_ps(sum) / static_cast<float>(n) + eps);
    const __m512 s = _mm512_set1_ps(inverse);
    for (int64_t i = 0; i < n; i += 16) {
        const auto m = vec::firstLanes(n - i);
        store(y + i, m, _mm512_mul_ps(load(w + i, m), asDtype<T>(_mm512_mul_ps(load(x + i, m), s))));
    }
}

template <typename T>
VQA_ROW_TARGET void siluGateRow(const T* gate, const T* up, int64_t n, T* y) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const auto m = vec::firstLanes(n - i);
        const __m512 g = load(gate + i, m);
        // x / (1 + e^-x), as LibTorch's silu: far below zero e^-x is infinite and the result -0.
        const __m512 s = asDtype<T>(_mm512_div_ps(g, _mm512_add_ps(one, vec::exp(_mm512_sub_ps(_mm512_setzero_ps(), g)))));
        store(y + i, m, _mm512_mul_ps(s, load(up + i, m)));
    }
}

// One head's d values of q or k rotated: x cos + rotate_half(x) sin, each product and the sum
// rounded in float32 as the reference's three float32 ops round them, then once to T.
template <typename T>
VQA_ROW_TARGET void rotateRow(const T* x, const float* cos, const float* sin, int64_t d, T* y) {
    const int64_t half = d / 2;
    for (int64_t i = 0; i < half; i += 16) {
        const auto m = vec::firstLanes(half - i);
        const __m512 x1 = load(x + i, m), x2 = load(x + half + i, m);
        const __m512 lo = _mm512_add_ps(_mm512_mul_ps(x1, _mm512_maskz_loadu_ps(m, cos + i)),
                                        _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), x2), _mm512_maskz_loadu_ps(m, sin + i)));
        const __m512 hi = _mm512_add_ps(_mm512_mul_ps(x2, _mm512_maskz_loadu_ps(m, cos + half + i)),
                                        _mm512_mul_ps(x1, _mm512_maskz_loadu_ps(m, sin + half + i)));
        store(y + i, m, lo);
        store(y + half + i, m, hi);
    }
}

// Whether the fused ops take x: float32 or bfloat16 on the CPU, contiguous, no gradient.
bool takes(const torch::Tensor& x) {
    return vec::hasAvx512Bf16Set() && x.defined() && x.device().is_cpu() && x.is_contiguous() &&
           (x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kBFloat16) && !x.requires_grad();
}

// Rows per task: about 16K values, so that small tensors (a prefill of a few dozen tokens) stay
// on one thread.
int64_t grain(int64_t width) {
    return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, width));
}

template <typename T>
const T* data(const torch::Tensor& t) {
    return static_cast<const T*>(t.data_ptr());
}

template <typename T>
T* data(torch::Tensor& t) {
    return static_cast<T*>(t.data_ptr());
}

// Calls f.template operator()<T>() with T the storage type of float32 or bfloat16.
template <typename F>
void byDtype(torch::ScalarType dtype, F&& f) {
    if (dtype == torch::kFloat32)
        f.template operator()<float>();
    else
        f.template operator()<std::uint16_t>();
}

} // namespace

std::optional<torch::Tensor> cpuRmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
    if (!takes(x) || !takes(weight) || weight.scalar_type() != x.scalar_type() || x.dim() < 1 ||
        weight.dim() != 1 || weight.size(0) != x.size(-1) || x.numel() == 0)
        return std::nullopt;
    const int64_t n = x.size(-1), rows = x.numel() / n;
    auto y = torch::empty_like(x);
    byDtype(x.scalar_type(), [&]<typename T>() {
        const T *in = data<T>(x), *w = data<T>(weight);
        T* out = data<T>(y);
        at::parallel_for(0, rows, grain(n), [&](int64_t begin, int64_t end) {
            for (int64_t r = begin; r < end; ++r)
                rmsNormRow(in + r * n, w, n, static_cast<float>(eps), out + r * n);
        });
    });
    return y;
}

std::optional<torch::Tensor> cpuSiluGate(const torch::Tensor& gate_up, int64_t inter) {
    if (!takes(gate_up) || gate_up.dim() < 1 || inter <= 0 || gate_up.size(-1) != 2 * inter)
        return std::nullopt;
    auto sizes = gate_up.sizes().vec();
    sizes.back() = inter;
    auto y = torch::empty(sizes, gate_up.options());
    const int64_t rows = gate_up.numel() / (2 * inter);
    byDtype(gate_up.scalar_type(), [&]<typename T>() {
        const T* in = data<T>(gate_up);
        T* out = data<T>(y);
        at::parallel_for(0, rows, grain(2 * inter), [&](int64_t begin, int64_t end) {
            for (int64_t r = begin; r < end; ++r)
                siluGateRow(in + r * 2 * inter, in + r * 2 * inter + inter, inter, out + r * inter);
        });
    });
    return y;
}

std::optional<std::array<torch::Tensor, 3>> cpuVisionQkvRotary(const torch::Tensor& qkv, int64_t heads,
                                                               const torch::Tensor& cos, const torch::Tensor& sin) {
    if (!takes(qkv) || qkv.dim() != 2 || heads <= 0 || qkv.size(1) % (3 * heads) != 0)
        return std::nullopt;
    const int64_t s = qkv.size(0), d = qkv.size(1) / (3 * heads);
    for (const auto* t : {&cos, &sin})
        if (!takes(*t) || t->scalar_type() != torch::kFloat32 || t->dim() != 2 || t->size(0) != s || t->size(1) != d)
            return std::nullopt;
    if (d % 2 != 0)
        return std::nullopt;
    std::array<torch::Tensor, 3> out;
    for (auto& t : out)
        t = torch::empty({heads, s, d}, qkv.options());
    byDtype(qkv.scalar_type(), [&]<typename T>() {
        const T* in = data<T>(qkv);
        T *q = data<T>(out[0]), *k = data<T>(out[1]), *v = data<T>(out[2]);
        const float *c = cos.data_ptr<float>(), *sn = sin.data_ptr<float>();
        at::parallel_for(0, s, grain(3 * heads * d), [&](int64_t begin, int64_t end) {
            for (int64_t p = begin; p < end; ++p) {
                const T* row = in + p * 3 * heads * d;
                for (int64_t h = 0; h < heads; ++h) {
                    const int64_t at = (h * s + p) * d;
                    rotateRow(row + h * d, c + p * d, sn + p * d, d, q + at);
                    rotateRow(row + (heads + h) * d, c + p * d, sn + p * d, d, k + at);
                    std::memcpy(v + at, row + (2 * heads + h) * d, static_cast<size_t>(d) * sizeof(T));
                }
            }
        });
    });
    return out;
}

#else

std::optional<torch::Tensor> cpuRmsNorm(const torch::Tensor&, const torch::Tensor&, double) {
    return std::nullopt;
}

std::optional<torch::Tensor> cpuSiluGate(const torch::Tensor&, std::int64_t) {
    return std::nullopt;
}

std::optional<std::array<torch::Tensor, 3>> cpuVisionQkvRotary(const torch::Tensor&, std::int64_t,
                                                               const torch::Tensor&, const torch::Tensor&) {
    return std::nullopt;
}

#endif

} // namespace vqa::models
