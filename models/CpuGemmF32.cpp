#include "models/CpuGemmF32.h"

#include <algorithm>
#include <functional>
#include <vector>

#include <ATen/Parallel.h>

#include "models/KernelChoice.h"

#if defined(__x86_64__) && defined(__GNUC__)
#ifndef __clang__
// GCC 12 reports "'__Y' may be used uninitialized" inside its own _mm512_reduce_add_ps once it
// is inlined (as in CpuGemv.cpp): a false positive in the compiler's header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>
#define VQA_X86_GEMM_F32 1
#endif

namespace vqa::models {

namespace {

MeasuredChoice<F32Rows> g_f32_rows;

} // namespace

#ifdef VQA_X86_GEMM_F32

namespace {

using std::int64_t;

#define VQA_F32_TARGET __attribute__((target("avx512f,avx512dq")))

// Rows of x in a register tile, and rows of w: 24 accumulators, 4 weight registers, one of x.
constexpr int kTileRows = 6;
constexpr int kTileCols = 4;
// Weight rows a thread takes at a time: every row of x passes them while they sit in the
// second-level cache, and the next block is asked for meanwhile. 16, 32 and 64 measured alike
// on the SmolVLM shapes with the weights cold (within this machine's spread).
constexpr int64_t kBlockCols = 16;
constexpr int64_t kLine = 64;

// The sums of a0..a3's lanes, in that order.
VQA_F32_TARGET inline __m128 laneSums4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    const __m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1));
    const __m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
    const __m512 u = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t1))),
                                   _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t1))));
    const __m256 v = _mm256_add_ps(_mm512_castps512_ps256(u), _mm512_extractf32x8_ps(u, 1));
    return _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
}

// What a thread still has to ask for of the next block: `lines` cache lines from `at`, a few
// with each tile so that they arrive spread over the block's work.
struct Prefetch {
    const char* at = nullptr;
    int64_t lines = 0, per_tile = 0;
};

// y[r][c] (+ bias[c]) = x row r . w row c for R rows of x (stride k, as y's is ldy) and C rows
// of w (4, or 1 for the last rows of an odd count).
template <int R, int C>
VQA_F32_TARGET void tile(const float* x, const float* w, int64_t k, const float* bias, float* y, int64_t ldy,
                         Prefetch& prefetch) {
    static_assert(C == 4 || C == 1);
    // The weight registers are named rather than an array, and the prefetch state is in
    // locals: with an array (or a store through the reference: __m512 may alias anything) the
    // compiler kept the accumulators in memory.
    const char* ask = prefetch.at;
    int64_t asks = std::min(prefetch.lines, prefetch.per_tile);
    prefetch.lines -= asks;
    prefetch.at += asks * kLine;
    __m512 acc[R][C];
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c)
            acc[r][c] = _mm512_setzero_ps();
    const auto multiplyAdd = [&](__m512 w0, __m512 w1, __m512 w2, __m512 w3, int r, __m512 xv)
        __attribute__((always_inline, target("avx512f,avx512dq"))) {
        acc[r][0] = _mm512_fmadd_ps(xv, w0, acc[r][0]);
        if constexpr (C == 4) {
            acc[r][1] = _mm512_fmadd_ps(xv, w1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(xv, w2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ps(xv, w3, acc[r][3]);
        }
    };
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        if (asks > 0) {
            _mm_prefetch(ask, _MM_HINT_T1);
            ask += kLine;
            --asks;
        }
        const __m512 w0 = _mm512_loadu_ps(w + i);
        const __m512 w1 = C == 4 ? _mm512_loadu_ps(w + k + i) : w0;
        const __m512 w2 = C == 4 ? _mm512_loadu_ps(w + 2 * k + i) : w0;
        const __m512 w3 = C == 4 ? _mm512_loadu_ps(w + 3 * k + i) : w0;
        for (int r = 0; r < R; ++r)
            multiplyAdd(w0, w1, w2, w3, r, _mm512_loadu_ps(x + r * k + i));
    }
    if (i < k) {
        const __mmask16 mask = __mmask16((1u << (k - i)) - 1);
        const __m512 w0 = _mm512_maskz_loadu_ps(mask, w + i);
        const __m512 w1 = C == 4 ? _mm512_maskz_loadu_ps(mask, w + k + i) : w0;
        const __m512 w2 = C == 4 ? _mm512_maskz_loadu_ps(mask, w + 2 * k + i) : w0;
        const __m512 w3 = C == 4 ? _mm512_maskz_loadu_ps(mask, w + 3 * k + i) : w0;
        for (int r = 0; r < R; ++r)
            multiplyAdd(w0, w1, w2, w3, r, _mm512_maskz_loadu_ps(mask, x + r * k + i));
    }
    for (; asks > 0; --asks, ask += kLine) // k too short to spread them over
        _mm_prefetch(ask, _MM_HINT_T1);
    for (int r = 0; r < R; ++r) {
        float* out = y + r * ldy;
        if constexpr (C == 4) {
            __m128 s = laneSums4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
            if (bias)
                s = _mm_add_ps(s, _mm_loadu_ps(bias));
            _mm_storeu_ps(out, s);
        } else {
            out[0] = _mm512_reduce_add_ps(acc[r][0]) + (bias ? bias[0] : 0.0f);
        }
    }
}

// R rows of x against weight rows [c0, c1) of w.
template <int R>
VQA_F32_TARGET void rowsAgainst(const float* x, const float* w, int64_t k, int64_t c0, int64_t c1, const float* bias,
                                float* y, int64_t n, Prefetch& prefetch) {
    const auto b = [&](int64_t c) { return bias ? bias + c : nullptr; };
    int64_t c = c0;
    for (; c + kTileCols <= c1; c += kTileCols)
        tile<R, kTileCols>(x, w + c * k, k, b(c), y + c, n, prefetch);
    for (; c < c1; ++c)
        tile<R, 1>(x, w + c * k, k, b(c), y + c, n, prefetch);
}

VQA_F32_TARGET void gemm(const float* x, int64_t m, const float* w, int64_t n, int64_t k, const float* bias,
                         float* y) {
    const int64_t blocks = (n + kBlockCols - 1) / kBlockCols;
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t c0 = b * kBlockCols, c1 = std::min(n, c0 + kBlockCols);
            Prefetch prefetch;
            if (b + 1 < b1) { // the next block of this thread's, while this one is worked on
                const int64_t next_end = std::min(n, c1 + kBlockCols);
                prefetch.at = reinterpret_cast<const char*>(w + c1 * k);
                prefetch.lines = ((next_end - c1) * k * int64_t(sizeof(float)) + kLine - 1) / kLine;
                const int64_t tiles = ((m + kTileRows - 1) / kTileRows) * ((c1 - c0 + kTileCols - 1) / kTileCols);
                prefetch.per_tile = prefetch.lines / tiles + 1;
            }
            // Rows of x in tiles of 6; a last tile of 1 or 2 rows (8 or 4 loads for 4 or 8
            // multiply-adds) is evened out with the tile before it: 7 rows as 4 and 3, 8 as 4 and 4.
            const int64_t left = m % kTileRows;
            const int64_t full = m - left - (m > kTileRows && left > 0 && left < 3 ? kTileRows : 0);
            int64_t r = 0;
            for (; r < full; r += kTileRows)
                rowsAgainst<kTileRows>(x + r * k, w, k, c0, c1, bias, y + r * n, n, prefetch);
            if (m - r > kTileRows) {
                rowsAgainst<4>(x + r * k, w, k, c0, c1, bias, y + r * n, n, prefetch);
                r += 4;
            }
            switch (m - r) {
            case 5: rowsAgainst<5>(x + r * k, w, k, c0, c1, bias, y + r * n, n, prefetch); break;
            case 4: rowsAgainst<4>(x + r * k, w, k, c0, c1, bias, y + r * n, n, prefetch); break;
            case 3: rowsAgainst<3>(x + r * k, w, k, c0, c1, bias, y + r * n, n, prefetch); break;
            case 2: rowsAgainst<2>(x + r * k, w, k, c0, c1, bias, y + r * n, n, prefetch); break;
            case 1: rowsAgainst<1>(x + r * k, w, k, c0, c1, bias, y + r * n, n, prefetch); break;
            default: break;
            }
        }
    });
}

} // namespace

bool cpuGemmF32Supported() {
    static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    return ok;
}

bool cpuGemmF32(const float* x, std::int64_t m, const float* w, std::int64_t n, std::int64_t k,
                const float* bias, float* y) {
    if (!cpuGemmF32Supported())
        return false;
    if (m > 0 && n > 0) {
        if (k == 0)
            for (int64_t r = 0; r < m; ++r)
                for (int64_t c = 0; c < n; ++c)
                    y[r * n + c] = bias ? bias[c] : 0.0f;
        else
            gemm(x, m, w, n, k, bias, y);
    }
    return true;
}

#else

bool cpuGemmF32Supported() {
    return false;
}

bool cpuGemmF32(const float*, std::int64_t, const float*, std::int64_t, std::int64_t, const float*, float*) {
    return false;
}

#endif

void setF32Rows(F32Rows rows) {
    g_f32_rows.set(rows);
}

const char* f32RowsName(F32Rows rows) {
    switch (rows) {
    case F32Rows::Native: return "native";
    case F32Rows::Ours: return "ours";
    default: return "auto";
    }
}

F32Rows F32RowsTimes::fastest() const {
    return ours_ms > 0 && ours_ms < native_ms ? F32Rows::Ours : F32Rows::Native;
}

namespace {

// Ours can take x weight^T + bias: float32 on the CPU, 2 to kCpuGemmF32MaxRows rows of x, a
// contiguous 2-D weight, a bias of its rows, no autograd, and the CPU has AVX-512. Cheap: no
// measuring.
bool oursApplies(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
    if (!x.defined() || !weight.defined() || !x.device().is_cpu() || !weight.device().is_cpu() ||
        x.scalar_type() != torch::kFloat32 || weight.scalar_type() != torch::kFloat32 || weight.dim() != 2 ||
        !weight.is_contiguous() || x.dim() == 0 || x.size(-1) != weight.size(1) || weight.size(1) == 0 ||
        x.requires_grad() || weight.requires_grad() ||
        (bias.defined() && (bias.scalar_type() != torch::kFloat32 || !bias.device().is_cpu() || bias.dim() != 1 ||
                            bias.size(0) != weight.size(0) || bias.requires_grad())))
        return false;
    const std::int64_t m = x.numel() / weight.size(1);
    return m >= 2 && m <= kCpuGemmF32MaxRows && cpuGemmF32Supported();
}

// Ours for a product oursApplies to.
torch::Tensor oursLinear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
    const std::int64_t k = weight.size(1), n = weight.size(0), m = x.numel() / k;
    const auto xc = x.contiguous();
    const auto bc = bias.defined() ? bias.contiguous() : torch::Tensor();
    auto sizes = x.sizes().vec();
    sizes.back() = n;
    auto y = torch::empty(sizes, x.options());
    cpuGemmF32(xc.data_ptr<float>(), m, weight.data_ptr<float>(), n, k, bc.defined() ? bc.data_ptr<float>() : nullptr,
               y.data_ptr<float>());
    return y;
}

} // namespace

torch::Tensor cpuF32RowsLinear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
    // The choice is asked (and measured, the first time) only where ours could run.
    if (!oursApplies(x, weight, bias) || f32Rows() != F32Rows::Ours)
        return {};
    return oursLinear(x, weight, bias);
}

F32RowsTimes measureF32Rows() {
    // A prompt's 86 rows against decoder-shaped weights (a square one and a wide one), each
    // bigger than a core's second-level cache so that it streams as a prefill's do.
    c10::InferenceMode inference;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
    const auto options = torch::TensorOptions().dtype(torch::kFloat32);
    auto x = at::randn({86, 1024}, gen, options);
    const std::vector<torch::Tensor> weights = {at::randn({1024, 1024}, gen, options),
                                                at::randn({4096, 1024}, gen, options)};
    std::vector<std::function<void()>> runs = {[&] {
        for (const auto& w : weights)
            at::linear(x, w).sum().item<float>();
    }};
    if (cpuGemmF32Supported())
        runs.push_back([&] {
            for (const auto& w : weights)
                oursLinear(x, w, {}).sum().item<float>();
        });
    const auto ms = bestMilliseconds(runs);
    F32RowsTimes t;
    t.native_ms = ms[0];
    t.ours_ms = ms.size() > 1 ? ms[1] : 0.0;
    return t;
}

F32Rows f32Rows() {
    return g_f32_rows.get([] { return measureF32Rows().fastest(); });
}

} // namespace vqa::models
