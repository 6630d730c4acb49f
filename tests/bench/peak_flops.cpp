// One core's peak arithmetic rate, measured: float32 fused multiply-adds (AVX-512, else AVX2);
// where the CPU has AVX512-BF16, bfloat16 dot products (vdpbf16ps: 32 pairs a register, so
// twice the multiply-adds of a float32 FMA per instruction); where it has AVX512-FP16, float16
// fused multiply-adds (32 lanes a register). Each loop keeps 12 independent accumulators, more
// than the instructions' latency times the units that run them, so it runs at the rate the
// core issues them. The accumulators are named variables, not an array: GCC kept an array of
// them in memory, and the store-to-load latency then capped the loop at 63 % of the rate (this
// program reported 176 GFLOP/s of float32 FMA on a core that issues 280). run_bench.py
// compiles it on its first use and divides the vision tower's GFLOP/s by these numbers. Prints
// one JSON object: {"fp32_fma": GFLOP/s, "bf16_dot": GFLOP/s or null, "fp16_fma": GFLOP/s or
// null, "isa": ...}.
//
//   c++ -O2 -std=c++17 peak_flops.cpp -o peak_flops
#include <immintrin.h>

#include <chrono>
#include <cstdio>

namespace {

constexpr long kIterations = 50'000'000;

double seconds(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Each function returns GFLOP/s; the sum it prints to nowhere keeps the loop from being dropped.
volatile float g_sink;

// 12 accumulators a0..a11 of one type, each updated by OP(a, x, y) once an iteration, timed.
#define VQA_PEAK_LOOP(TYPE, INIT, OP, ADD, REDUCE, LANES)                                          \
    TYPE a0 = INIT, a1 = INIT, a2 = INIT, a3 = INIT, a4 = INIT, a5 = INIT, a6 = INIT, a7 = INIT,   \
         a8 = INIT, a9 = INIT, a10 = INIT, a11 = INIT;                                             \
    const auto start = std::chrono::steady_clock::now();                                           \
    for (long n = 0; n < kIterations; ++n) {                                                       \
        a0 = OP(a0, x, y); a1 = OP(a1, x, y); a2 = OP(a2, x, y); a3 = OP(a3, x, y);                \
        a4 = OP(a4, x, y); a5 = OP(a5, x, y); a6 = OP(a6, x, y); a7 = OP(a7, x, y);                \
        a8 = OP(a8, x, y); a9 = OP(a9, x, y); a10 = OP(a10, x, y); a11 = OP(a11, x, y);            \
    }                                                                                              \
    const double s = seconds(start);                                                               \
    const TYPE sum = ADD(ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7))),        \
                         ADD(ADD(a8, a9), ADD(a10, a11)));                                         \
    g_sink = static_cast<float>(REDUCE(sum));                                                      \
    return double(kIterations) * 12 * (LANES) * 2 / s / 1e9

__attribute__((target("avx512f"))) double fmaAvx512() {
    const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(0.0001f);
    const __m512 init = _mm512_set1_ps(g_sink);
#define FMA(a, x, y) _mm512_fmadd_ps(a, x, y)
    VQA_PEAK_LOOP(__m512, init, FMA, _mm512_add_ps, _mm512_reduce_add_ps, 16);
#undef FMA
}

__attribute__((target("avx2,fma"))) double fmaAvx2() {
    const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(0.0001f);
    const __m256 init = _mm256_set1_ps(g_sink);
#define FMA(a, x, y) _mm256_fmadd_ps(a, x, y)
#define FIRST(v) _mm_cvtss_f32(_mm256_castps256_ps128(v))
    VQA_PEAK_LOOP(__m256, init, FMA, _mm256_add_ps, FIRST, 8);
#undef FIRST
#undef FMA
}

__attribute__((target("avx512f,avx512bf16"))) double dotBf16() {
    const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
    const __m512bh y = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.001f), _mm512_set1_ps(-0.001f));
    const __m512 init = _mm512_set1_ps(g_sink);
    // vdpbf16ps: 32 multiply-adds a register (pairs into 16 float32 lanes).
#define DOT(a, x, y) _mm512_dpbf16_ps(a, x, y)
    VQA_PEAK_LOOP(__m512, init, DOT, _mm512_add_ps, _mm512_reduce_add_ps, 32);
#undef DOT
}

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define VQA_PEAK_FP16 1
__attribute__((target("avx512f,avx512fp16"))) double fmaFp16() {
    const __m512h x = _mm512_set1_ph(static_cast<_Float16>(0.999f)), y = _mm512_set1_ph(static_cast<_Float16>(0.0001f));
    const __m512h init = _mm512_set1_ph(static_cast<_Float16>(g_sink));
#define FMA(a, x, y) _mm512_fmadd_ph(a, x, y)
    VQA_PEAK_LOOP(__m512h, init, FMA, _mm512_add_ph, _mm512_reduce_add_ph, 32);
#undef FMA
}
#endif

} // namespace

int main() {
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f");
    const bool bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
#ifdef VQA_PEAK_FP16
    const bool fp16 = avx512 && __builtin_cpu_supports("avx512fp16");
#else
    const bool fp16 = false;
#endif
    if (!avx512 && !__builtin_cpu_supports("fma")) {
        std::printf("{\"fp32_fma\": null, \"bf16_dot\": null, \"fp16_fma\": null, \"isa\": \"no FMA\"}\n");
        return 0;
    }
    // The best of three runs of each: the first may run while the clock is still rising.
    double fma = 0, dot = 0, half = 0;
    for (int run = 0; run < 3; ++run) {
        const double f = avx512 ? fmaAvx512() : fmaAvx2();
        fma = f > fma ? f : fma;
        if (bf16) {
            const double d = dotBf16();
            dot = d > dot ? d : dot;
        }
#ifdef VQA_PEAK_FP16
        if (fp16) {
            const double h = fmaFp16();
            half = h > half ? h : half;
        }
#endif
    }
    char dot_text[32] = "null", half_text[32] = "null";
    if (bf16)
        std::snprintf(dot_text, sizeof dot_text, "%.1f", dot);
    if (fp16)
        std::snprintf(half_text, sizeof half_text, "%.1f", half);
    std::printf("{\"fp32_fma\": %.1f, \"bf16_dot\": %s, \"fp16_fma\": %s, \"isa\": \"%s%s%s\"}\n", fma, dot_text,
                half_text, avx512 ? "avx512f" : "avx2+fma", bf16 ? "+avx512bf16" : "", fp16 ? "+avx512fp16" : "");
    return 0;
}
