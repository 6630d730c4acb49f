#include "models/CpuGemv.h"

#include "models/CpuGemmHalf.h"
#include "models/KernelChoice.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include <unistd.h>

#include <ATen/Parallel.h>

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12 reports "'__Y' may be used uninitialized" inside its own _mm512_reduce_add_ps once
// it is inlined: a false positive in the compiler's header, not in this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define VQA_X86_GEMV 1
#endif

namespace vqa::models {

namespace {

std::atomic<bool> g_disabled{false};
MeasuredChoice<Bf16Kernels> g_bf16_kernels;

#ifdef VQA_X86_GEMV

bool hasAvx512Bf16() {
    static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512bf16");
    return ok;
}

bool hasAvx512() {
    static const bool ok = __builtin_cpu_supports("avx512f");
    return ok;
}

// Asks for the weights 4 KB ahead of each of the four rows being read (with short rows that
// is the next group of rows): four interleaved streams are more than the hardware
// prefetcher keeps ahead of on its own. Measured on a 256M decode, one thread: +14 % float32,
// +35 % bfloat16 over no prefetch; 1 KB ahead gave half that, 8-16 KB no more.
constexpr int kPrefetchBytes = 4096;
template <typename T> inline void prefetchAhead(const T* a, const T* b, const T* c, const T* d) {
    _mm_prefetch(reinterpret_cast<const char*>(a) + kPrefetchBytes, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b) + kPrefetchBytes, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c) + kPrefetchBytes, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(d) + kPrefetchBytes, _MM_HINT_T0);
}

// Rows [begin, end) of y = W x, W [rows, k] bfloat16 row-major. Four rows at a time share
// each load of x; vdpbf16ps multiplies pairs of bfloat16 and accumulates in float32.
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void
rowsBf16(const std::uint16_t* w, const std::uint16_t* x, float* y, std::int64_t begin,
         std::int64_t end, std::int64_t k) {
    const std::int64_t full = k / 32 * 32;
    const auto tail = static_cast<__mmask32>(k - full ? (1ull << (k - full)) - 1 : 0);
// (Macros, not lambdas: a lambda does not inherit the function's target instructions.)
#define load(p) ((__m512bh)_mm512_loadu_si512(p))
#define loadTail(p) ((__m512bh)_mm512_maskz_loadu_epi16(tail, (p)))
    std::int64_t r = begin;
    for (; r + 4 <= end; r += 4) {
        const std::uint16_t* w0 = w + r * k;
        const std::uint16_t *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(),
               a3 = _mm512_setzero_ps();
        for (std::int64_t i = 0; i < full; i += 32) {
            prefetchAhead(w0 + i, w1 + i, w2 + i, w3 + i);
            const __m512bh xv = load(x + i);
            a0 = _mm512_dpbf16_ps(a0, load(w0 + i), xv);
            a1 = _mm512_dpbf16_ps(a1, load(w1 + i), xv);
            a2 = _mm512_dpbf16_ps(a2, load(w2 + i), xv);
            a3 = _mm512_dpbf16_ps(a3, load(w3 + i), xv);
        }
        if (tail) {
            const __m512bh xv = loadTail(x + full);
            a0 = _mm512_dpbf16_ps(a0, loadTail(w0 + full), xv);
            a1 = _mm512_dpbf16_ps(a1, loadTail(w1 + full), xv);
            a2 = _mm512_dpbf16_ps(a2, loadTail(w2 + full), xv);
            a3 = _mm512_dpbf16_ps(a3, loadTail(w3 + full), xv);
        }
        y[r] = _mm512_reduce_add_ps(a0);
        y[r + 1] = _mm512_reduce_add_ps(a1);
        y[r + 2] = _mm512_reduce_add_ps(a2);
        y[r + 3] = _mm512_reduce_add_ps(a3);
    }
    for (; r < end; ++r) {
        const std::uint16_t* w0 = w + r * k;
        __m512 a0 = _mm512_setzero_ps();
        for (std::int64_t i = 0; i < full; i += 32)
            a0 = _mm512_dpbf16_ps(a0, load(w0 + i), load(x + i));
        if (tail)
            a0 = _mm512_dpbf16_ps(a0, loadTail(w0 + full), loadTail(x + full));
        y[r] = _mm512_reduce_add_ps(a0);
    }
#undef load
#undef loadTail
}

// Rows [begin, end) of Y = X W^T for M input rows at once (M <= 4; x row j at x + j k, output
// row j at y + j n): each weight row is read once for all M inputs, which is what makes
// several sequences decoded together cheaper than each alone. Four weight rows at a time,
// 4 M float32 accumulators.
template <int M>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void
rowsBf16Multi(const std::uint16_t* w, const std::uint16_t* x, float* y, std::int64_t begin,
              std::int64_t end, std::int64_t k, std::int64_t n) {
    const std::int64_t full = k / 32 * 32;
    const auto tail = static_cast<__mmask32>(k - full ? (1ull << (k - full)) - 1 : 0);
#define load(p) ((__m512bh)_mm512_loadu_si512(p))
#define loadTail(p) ((__m512bh)_mm512_maskz_loadu_epi16(tail, (p)))
    std::int64_t r = begin;
    for (; r + 4 <= end; r += 4) {
        const std::uint16_t* w0 = w + r * k;
        const std::uint16_t *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
        __m512 a[4][M];
        for (int q = 0; q < 4; ++q)
            for (int j = 0; j < M; ++j)
                a[q][j] = _mm512_setzero_ps();
        for (std::int64_t i = 0; i < full; i += 32) {
            prefetchAhead(w0 + i, w1 + i, w2 + i, w3 + i);
            const __m512bh v0 = load(w0 + i), v1 = load(w1 + i), v2 = load(w2 + i), v3 = load(w3 + i);
            for (int j = 0; j < M; ++j) {
                const __m512bh xv = load(x + j * k + i);
                a[0][j] = _mm512_dpbf16_ps(a[0][j], v0, xv);
                a[1][j] = _mm512_dpbf16_ps(a[1][j], v1, xv);
                a[2][j] = _mm512_dpbf16_ps(a[2][j], v2, xv);
                a[3][j] = _mm512_dpbf16_ps(a[3][j], v3, xv);
            }
        }
        if (tail) {
            const __m512bh v0 = loadTail(w0 + full), v1 = loadTail(w1 + full), v2 = loadTail(w2 + full),
                           v3 = loadTail(w3 + full);
            for (int j = 0; j < M; ++j) {
                const __m512bh xv = loadTail(x + j * k + full);
                a[0][j] = _mm512_dpbf16_ps(a[0][j], v0, xv);
                a[1][j] = _mm512_dpbf16_ps(a[1][j], v1, xv);
                a[2][j] = _mm512_dpbf16_ps(a[2][j], v2, xv);
                a[3][j] = _mm512_dpbf16_ps(a[3][j], v3, xv);
            }
        }
        for (int j = 0; j < M; ++j)
            for (int q = 0; q < 4; ++q)
                y[j * n + r + q] = _mm512_reduce_add_ps(a[q][j]);
    }
    for (int j = 0; j < M; ++j) // the last rows, fewer than four
        rowsBf16(w, x + j * k, y + j * n, r, end, k);
#undef load
#undef loadTail
}

// The same for float32 with fused multiply-adds.
__attribute__((target("avx512f"))) void rowsF32(const float* w, const float* x, float* y,
                                                std::int64_t begin, std::int64_t end,
                                                std::int64_t k) {
    const std::int64_t full = k / 16 * 16;
    const auto tail = static_cast<__mmask16>(k - full ? (1u << (k - full)) - 1 : 0);
    std::int64_t r = begin;
    for (; r + 4 <= end; r += 4) {
        const float* w0 = w + r * k;
        const float *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(),
               a3 = _mm512_setzero_ps();
        for (std::int64_t i = 0; i < full; i += 16) {
            prefetchAhead(w0 + i, w1 + i, w2 + i, w3 + i);
            const __m512 xv = _mm512_loadu_ps(x + i);
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w0 + i), xv, a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w1 + i), xv, a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w2 + i), xv, a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w3 + i), xv, a3);
        }
        if (tail) {
            const __m512 xv = _mm512_maskz_loadu_ps(tail, x + full);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w0 + full), xv, a0);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w1 + full), xv, a1);
            a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w2 + full), xv, a2);
            a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w3 + full), xv, a3);
        }
        y[r] = _mm512_reduce_add_ps(a0);
        y[r + 1] = _mm512_reduce_add_ps(a1);
        y[r + 2] = _mm512_reduce_add_ps(a2);
        y[r + 3] = _mm512_reduce_add_ps(a3);
    }
    for (; r < end; ++r) {
        const float* w0 = w + r * k;
        __m512 a0 = _mm512_setzero_ps();
        for (std::int64_t i = 0; i < full; i += 16)
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w0 + i), _mm512_loadu_ps(x + i), a0);
        if (tail)
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w0 + full),
                                 _mm512_maskz_loadu_ps(tail, x + full), a0);
        y[r] = _mm512_reduce_add_ps(a0);
    }
}

#endif // VQA_X86_GEMV

} // namespace

void setCpuGemvDisabled(bool disabled) {
    g_disabled = disabled;
}

void setBf16Kernels(Bf16Kernels kernels) {
    g_bf16_kernels.set(kernels);
}

const char* bf16KernelsName(Bf16Kernels kernels) {
    switch (kernels) {
    case Bf16Kernels::Native: return "native";
    case Bf16Kernels::Widened: return "widened";
    case Bf16Kernels::Half: return "half";
    default: return "auto";
    }
}

Bf16Kernels Bf16KernelTimes::fastest() const {
    return fastestWay(native_ms, widened_ms, half_ms, Bf16Kernels::Native, Bf16Kernels::Widened, Bf16Kernels::Half);
}

Bf16KernelTimes measureBf16Kernels() {
    // Products of the shapes bfloat16 models run many rows through: 256 rows (an image's
    // merged tokens, a prompt) against a square weight and a wide one.
    c10::InferenceMode inference;
    torch::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
    auto x = at::randn({256, 1024}, gen, torch::TensorOptions().dtype(torch::kFloat32)).to(torch::kBFloat16);
    const std::vector<torch::Tensor> weights = {
        at::randn({1024, 1024}, gen, torch::TensorOptions().dtype(torch::kFloat32)).to(torch::kBFloat16),
        at::randn({4096, 1024}, gen, torch::TensorOptions().dtype(torch::kFloat32)).to(torch::kBFloat16)};
    const auto ms = timeWays(
        [&](Bf16Kernels kernels) {
            for (const auto& w : weights)
                (kernels == Bf16Kernels::Native ? at::linear(x, w) : cpuBf16RowsLinear(x, w, {}, kernels))
                    .sum()
                    .item<float>();
        },
        Bf16Kernels::Native, Bf16Kernels::Widened, Bf16Kernels::Half, cpuGemmHalfSupported());
    Bf16KernelTimes t;
    t.native_ms = ms[0];
    t.widened_ms = ms[1];
    t.half_ms = ms[2];
    return t;
}

Bf16Kernels bf16Kernels() {
#ifdef VQA_X86_GEMV
    return g_bf16_kernels.get([] { return measureBf16Kernels().fastest(); });
#else
    return Bf16Kernels::Native;
#endif
}

bool cpuWidensBf16() {
    return bf16Kernels() != Bf16Kernels::Native;
}

bool cpuBf16RowsApply(const torch::Tensor& x, const torch::Tensor& weight) {
#ifdef VQA_X86_GEMV
    // The choice last: it is measured the first time a bfloat16 product could take it.
    return x.defined() && weight.defined() && x.device().is_cpu() && weight.device().is_cpu() &&
           x.scalar_type() == torch::kBFloat16 && weight.scalar_type() == torch::kBFloat16 && x.dim() > 0 &&
           x.size(-1) > 0 && x.numel() / x.size(-1) >= 16 && !x.requires_grad() && !weight.requires_grad() &&
           cpuWidensBf16();
#else
    return false;
#endif
}

namespace {

// x [..., k] times an [n, k] weight (transposed) + bias through one of CpuGemmHalf's products,
// gemm(x, m, bias, y) on contiguous operands (the bias in x's dtype), shaped like x with the last
// dimension n; undefined where it refuses.
template <typename T, typename Gemm>
torch::Tensor halfGemmLinear(const torch::Tensor& x, std::int64_t n, std::int64_t k, const torch::Tensor& bias,
                             const Gemm& gemm) {
    const auto xc = x.contiguous();
    const auto bc = bias.defined() ? bias.to(x.scalar_type()).contiguous() : torch::Tensor();
    auto sizes = x.sizes().vec();
    sizes.back() = n;
    auto y = torch::empty(sizes, x.options());
    const auto data = [](const torch::Tensor& t) { return static_cast<const T*>(t.data_ptr()); };
    if (!gemm(data(xc), xc.numel() / k, bc.defined() ? data(bc) : nullptr, static_cast<T*>(y.data_ptr())))
        return {};
    return y;
}

// The same with the weight as it is (contiguous), packed by the product itself.
template <typename T>
torch::Tensor halfGemmLinear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                             bool (*gemm)(const T*, std::int64_t, const T*, std::int64_t, std::int64_t, const T*, T*)) {
    const auto wc = weight.contiguous();
    const std::int64_t n = weight.size(0), k = weight.size(1);
    return halfGemmLinear<T>(x, n, k, bias, [&](const T* xp, std::int64_t m, const T* b, T* y) {
        return gemm(xp, m, static_cast<const T*>(wc.data_ptr()), n, k, b, y);
    });
}

} // namespace

torch::Tensor cpuBf16RowsLinear(const torch::Tensor& x, const torch::Tensor& weight,
                                const torch::Tensor& bias) {
    return cpuBf16RowsLinear(x, weight, bias, bf16Kernels());
}

torch::Tensor cpuBf16RowsLinear(const torch::Tensor& x, const torch::Tensor& weight,
                                const torch::Tensor& bias, Bf16Kernels kernels) {
    if (kernels == Bf16Kernels::Half && weight.dim() == 2 && x.size(-1) == weight.size(1) &&
        (!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)))) {
        if (auto y = halfGemmLinear<std::uint16_t>(x, weight, bias, cpuGemmHalfBf16); y.defined())
            return y;
    }
    auto b = bias.defined() ? std::optional<torch::Tensor>(bias.to(torch::kFloat32)) : std::nullopt;
    return at::linear(x.to(torch::kFloat32), weight.to(torch::kFloat32), b)
        .to(torch::kBFloat16);
}

namespace {
thread_local bool t_half_float32_rows = false;
} // namespace

HalfFloat32Rows::HalfFloat32Rows(bool on) : before_(t_half_float32_rows) {
    t_half_float32_rows = on;
}

HalfFloat32Rows::~HalfFloat32Rows() {
    t_half_float32_rows = before_;
}

namespace {
std::atomic<std::int64_t> g_half_panels_bytes{0};
} // namespace

HalfPanelsCache::HalfPanelsCache() = default;

HalfPanelsCache::~HalfPanelsCache() {
    g_half_panels_bytes -= bytes_;
}

std::int64_t HalfPanelsCache::bytesKept() {
    return g_half_panels_bytes;
}

std::int64_t HalfPanelsCache::budget() {
    static const std::int64_t bytes = [] {
        const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
        return pages > 0 && page > 0 ? std::int64_t(pages) * page / 8 : std::int64_t(0);
    }();
    return bytes;
}

const HalfPackedWeight* HalfPanelsCache::panelsFor(const torch::Tensor& weight) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (packed_)
        return weight_.is_same(weight) ? packed_.get() : nullptr;
    if (refused_ || !weight.is_contiguous())
        return nullptr;
    const std::int64_t n = weight.size(0), k = weight.size(1), bytes = halfPackedBytes(n, k);
    std::int64_t kept = g_half_panels_bytes;
    do {
        if (kept + bytes > budget()) {
            refused_ = true;
            return nullptr;
        }
    } while (!g_half_panels_bytes.compare_exchange_weak(kept, kept + bytes));
    // Refused (a non-finite value) or out of memory: the bytes given back, and this weight
    // packed for each product from now on.
    bool packed_ok = false;
    std::unique_ptr<HalfPackedWeight> packed;
    try {
        packed = std::make_unique<HalfPackedWeight>();
        packed_ok = cpuGemmHalfPackF32(weight.data_ptr<float>(), n, k, packed.get());
    } catch (...) {
        g_half_panels_bytes -= bytes;
        refused_ = true;
        throw;
    }
    if (!packed_ok) {
        g_half_panels_bytes -= bytes;
        refused_ = true;
        return nullptr;
    }
    weight_ = weight;
    packed_ = std::move(packed);
    bytes_ = bytes;
    return packed_.get();
}

std::int64_t HalfPanelsCache::packAhead(const torch::Tensor& weight) {
    if (!weight.defined() || !weight.device().is_cpu() || weight.scalar_type() != torch::kFloat32 ||
        weight.dim() != 2 || weight.requires_grad() || bf16Kernels() != Bf16Kernels::Half)
        return 0;
    return panelsFor(weight) ? halfPackedBytes(weight.size(0), weight.size(1)) : 0;
}

torch::Tensor cpuHalfFloat32RowsLinear(const torch::Tensor& x, const torch::Tensor& weight,
                                       const torch::Tensor& bias, HalfPanelsCache* cache) {
    if (!t_half_float32_rows || !x.defined() || !weight.defined() || !x.device().is_cpu() ||
        !weight.device().is_cpu() || x.scalar_type() != torch::kFloat32 || weight.scalar_type() != torch::kFloat32 ||
        weight.dim() != 2 || x.dim() == 0 || x.size(-1) != weight.size(1) || x.numel() / weight.size(1) < 16 ||
        x.requires_grad() || weight.requires_grad() ||
        (bias.defined() && (bias.dim() != 1 || bias.size(0) != weight.size(0) || bias.requires_grad())) ||
        bf16Kernels() != Bf16Kernels::Half)
        return {};
    if (const HalfPackedWeight* packed = cache ? cache->panelsFor(weight) : nullptr) {
        auto y = halfGemmLinear<float>(x, weight.size(0), weight.size(1), bias,
                                       [packed](const float* xp, std::int64_t m, const float* b, float* out) {
                                           return cpuGemmHalfPackedF32(xp, m, *packed, b, out);
                                       });
        if (y.defined())
            return y;
    }
    return halfGemmLinear<float>(x, weight, bias, cpuGemmHalfF32);
}

bool cpuGemvApplies(const torch::Tensor& x, const torch::Tensor& weight) {
    if (!x.defined() || !weight.defined() || !x.device().is_cpu() || !weight.device().is_cpu() ||
        weight.dim() != 2 || x.dim() == 0 || x.size(-1) != weight.size(1) || weight.size(1) == 0 ||
        x.scalar_type() != weight.scalar_type() || x.requires_grad() || weight.requires_grad())
        return false;
    const std::int64_t rows = x.numel() / weight.size(1);
    const bool one = rows == 1, few = rows > 1 && rows <= kCpuGemvMaxRows && x.scalar_type() == torch::kBFloat16;
    return (one || few) && cpuGemvSupports(x.scalar_type());
}

bool cpuGemvSupports(torch::ScalarType dtype) {
#ifdef VQA_X86_GEMV
    if (g_disabled)
        return false;
    if (dtype == torch::kBFloat16)
        return hasAvx512Bf16();
    if (dtype == torch::kFloat32)
        return hasAvx512();
#endif
    (void)dtype;
    return false;
}

void cpuGemvRows(torch::ScalarType dtype, const void* w, const void* x, float* y,
                 std::int64_t rows, std::int64_t k) {
#ifdef VQA_X86_GEMV
    if (dtype == torch::kBFloat16)
        rowsBf16(static_cast<const std::uint16_t*>(w), static_cast<const std::uint16_t*>(x), y,
                 0, rows, k);
    else
        rowsF32(static_cast<const float*>(w), static_cast<const float*>(x), y, 0, rows, k);
#else
    (void)dtype, (void)w, (void)x, (void)y, (void)rows, (void)k;
#endif
}

void cpuGemvInto(const torch::Tensor& weight, const void* x, float* y) {
#ifdef VQA_X86_GEMV
    const std::int64_t rows = weight.size(0), k = weight.size(1);
    const auto dtype = weight.scalar_type();
    const char* w = static_cast<const char*>(weight.data_ptr());
    const std::int64_t row_bytes = k * static_cast<std::int64_t>(weight.element_size());
    // Chunks of whole 4-row groups, big enough that a thread's share outweighs waking it.
    const std::int64_t grain = std::max<std::int64_t>(16, (std::int64_t(1) << 16) / k) / 4 * 4;
    at::parallel_for(0, rows, grain, [&](std::int64_t b, std::int64_t e) {
        cpuGemvRows(dtype, w + b * row_bytes, x, y + b, e - b, k);
    });
#else
    (void)weight, (void)x, (void)y;
#endif
}

void cpuGemmFewInto(const torch::Tensor& weight, const std::uint16_t* x, std::int64_t m, float* y) {
#ifdef VQA_X86_GEMV
    const std::int64_t n = weight.size(0), k = weight.size(1);
    const auto* w = static_cast<const std::uint16_t*>(weight.data_ptr());
    const std::int64_t grain = std::max<std::int64_t>(16, (std::int64_t(1) << 16) / k) / 4 * 4;
    at::parallel_for(0, n, grain, [&](std::int64_t b, std::int64_t e) {
        // Inputs four at a time: a second group finds the same weight rows in the cache.
        for (std::int64_t j = 0; j < m; j += 4) {
            const std::uint16_t* xj = x + j * k;
            float* yj = y + j * n;
            switch (std::min<std::int64_t>(4, m - j)) {
            case 1: rowsBf16(w, xj, yj, b, e, k); break;
            case 2: rowsBf16Multi<2>(w, xj, yj, b, e, k, n); break;
            case 3: rowsBf16Multi<3>(w, xj, yj, b, e, k, n); break;
            default: rowsBf16Multi<4>(w, xj, yj, b, e, k, n); break;
            }
        }
    });
#else
    (void)weight, (void)x, (void)m, (void)y;
#endif
}

torch::Tensor cpuGemv(const torch::Tensor& x, const torch::Tensor& weight,
                      const torch::Tensor& bias) {
#ifdef VQA_X86_GEMV
    auto xc = x.contiguous();
    auto wc = weight.contiguous();
    const std::int64_t rows = weight.size(0), m = x.numel() / weight.size(1);
    auto y = torch::empty({m, rows}, x.options().dtype(torch::kFloat32));
    if (m == 1)
        cpuGemvInto(wc, xc.data_ptr(), y.data_ptr<float>());
    else
        cpuGemmFewInto(wc, static_cast<const std::uint16_t*>(xc.data_ptr()), m, y.data_ptr<float>());
    if (bias.defined())
        y.add_(bias.to(torch::kFloat32));
    auto sizes = x.sizes().vec();
    sizes.back() = rows;
    return (x.scalar_type() == torch::kFloat32 ? y : y.to(x.scalar_type())).view(sizes);
#else
    return at::linear(x, weight,
                      bias.defined() ? std::optional<torch::Tensor>(bias) : std::nullopt);
#endif
}

} // namespace vqa::models
