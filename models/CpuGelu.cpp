#include "models/CpuGelu.h"

#include <ATen/Parallel.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
// GCC 12 reports "'__Y' may be used uninitialized" inside its own AVX-512 headers once they
// are inlined (as in CpuGemv.cpp): a false positive in the compiler's header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "models/CpuVecMath.h"
#define VQA_CPU_GELU 1
#endif

namespace vqa::models {

#ifdef VQA_CPU_GELU

namespace {

// x / (1 + e^t) over bfloat16 in float32, one rounding: t = -2 sqrt(2 / pi) (x + 0.044715 x^3)
// for the tanh GELU, t = -1.702 x for the quick one (x sigmoid(1.702 x)).
template <bool Quick>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void gelu(const std::uint16_t* x, std::int64_t count,
                                                                          std::uint16_t* y) {
    const __m512 kappa = _mm512_set1_ps(0.044715f);
    const __m512 minus_two_beta = _mm512_set1_ps(-2.0f * 0.7978845608028654f); // -2 sqrt(2 / pi)
    const __m512 minus_quick = _mm512_set1_ps(-1.702f);
    const __m512 one = _mm512_set1_ps(1.0f);
    for (std::int64_t i = 0; i < count; i += 16) {
        const __mmask16 m = vec::firstLanes(count - i);
        const __m512 v = vec::widenBf16(x + i, m);
        __m512 t;
        if constexpr (Quick) {
            t = _mm512_mul_ps(minus_quick, v);
        } else {
            const __m512 cube = _mm512_mul_ps(_mm512_mul_ps(v, v), v);
            t = _mm512_mul_ps(minus_two_beta, _mm512_fmadd_ps(kappa, cube, v));
        }
        __m512 g = _mm512_div_ps(v, _mm512_add_ps(one, vec::exp(t)));
        // Far below zero (tanh: x < -9.4; quick: x < -47) 1 + e^t is e^t to float's precision,
        // and it overflows while the result is still a normal float: x e^-t there, down to its
        // subnormals.
        const __mmask16 far = _mm512_cmp_ps_mask(t, _mm512_set1_ps(80.0f), _CMP_GT_OQ);
        if (far)
            g = _mm512_mask_mul_ps(g, far, v, vec::exp(_mm512_sub_ps(_mm512_setzero_ps(), t)));
        vec::storeBf16(y + i, m, g);
    }
}

template <bool Quick>
std::optional<torch::Tensor> geluBf16(const torch::Tensor& x) {
    if (!vec::hasAvx512Bf16Set() || x.scalar_type() != torch::kBFloat16 || !x.device().is_cpu() || !x.is_contiguous() ||
        x.requires_grad())
        return std::nullopt;
    auto y = torch::empty_like(x);
    const auto* in = static_cast<const std::uint16_t*>(x.data_ptr());
    auto* out = static_cast<std::uint16_t*>(y.data_ptr());
    // A NaN gives NaN, as LibTorch's does.
    at::parallel_for(0, x.numel(), 1 << 14, [&](std::int64_t begin, std::int64_t end) {
        gelu<Quick>(in + begin, end - begin, out + begin);
    });
    return y;
}

} // namespace

std::optional<torch::Tensor> cpuGeluTanhBf16(const torch::Tensor& x) {
    return geluBf16<false>(x);
}

std::optional<torch::Tensor> cpuQuickGeluBf16(const torch::Tensor& x) {
    return geluBf16<true>(x);
}

#else

std::optional<torch::Tensor> cpuGeluTanhBf16(const torch::Tensor&) {
    return std::nullopt;
}

std::optional<torch::Tensor> cpuQuickGeluBf16(const torch::Tensor&) {
    return std::nullopt;
}

#endif

} // namespace vqa::models
