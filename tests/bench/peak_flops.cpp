// One core's peak arithmetic rate, measured: float32 fused multiply-adds (AVX-512, else AVX2)
// and, where the CPU has AVX512-BF16, bfloat16 dot products (vdpbf16ps: 32 pairs a register, so
// twice the multiply-adds of a float32 FMA). Each loop keeps 12 independent accumulators, more
// than the instructions' latency times the units that run them, so it runs at the rate the
// core issues them. run_bench.py compiles it on its first use and divides the vision tower's
// GFLOP/s by these numbers. Prints one JSON object: {"fp32_fma": GFLOP/s, "bf16_dot": GFLOP/s
// or null, "isa": ...}.
//
//   c++ -O2 -mavx512f -mavx512bf16 -mavx2 -mfma peak_flops.cpp -o peak_flops
#include <immintrin.h>

#include <chrono>
#include <cstdio>

namespace {

constexpr int kAccumulators = 12;
constexpr long kIterations = 20'000'000;

double seconds(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Each function returns GFLOP/s; the sum it prints to nowhere keeps the loop from being dropped.
volatile float g_sink;

__attribute__((target("avx512f"))) double fmaAvx512() {
    __m512 acc[kAccumulators];
    for (int i = 0; i < kAccumulators; ++i)
        acc[i] = _mm512_set1_ps(0.001f * float(i));
    const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.0001f);
    const auto start = std::chrono::steady_clock::now();
    for (long n = 0; n < kIterations; ++n)
        for (int i = 0; i < kAccumulators; ++i)
            acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    const double s = seconds(start);
    __m512 sum = acc[0];
    for (int i = 1; i < kAccumulators; ++i)
        sum = _mm512_add_ps(sum, acc[i]);
    g_sink = _mm512_reduce_add_ps(sum);
    return double(kIterations) * kAccumulators * 16 * 2 / s / 1e9;
}

__attribute__((target("avx2,fma"))) double fmaAvx2() {
    __m256 acc[kAccumulators];
    for (int i = 0; i < kAccumulators; ++i)
        acc[i] = _mm256_set1_ps(0.001f * float(i));
    const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.0001f);
    const auto start = std::chrono::steady_clock::now();
    for (long n = 0; n < kIterations; ++n)
        for (int i = 0; i < kAccumulators; ++i)
            acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    const double s = seconds(start);
    float out[8];
    __m256 sum = acc[0];
    for (int i = 1; i < kAccumulators; ++i)
        sum = _mm256_add_ps(sum, acc[i]);
    _mm256_storeu_ps(out, sum);
    g_sink = out[0];
    return double(kIterations) * kAccumulators * 8 * 2 / s / 1e9;
}

__attribute__((target("avx512f,avx512bf16"))) double dotBf16() {
    __m512 acc[kAccumulators];
    for (int i = 0; i < kAccumulators; ++i)
        acc[i] = _mm512_set1_ps(0.001f * float(i));
    const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
    const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.001f), _mm512_set1_ps(-0.001f));
    const auto start = std::chrono::steady_clock::now();
    for (long n = 0; n < kIterations; ++n)
        for (int i = 0; i < kAccumulators; ++i)
            acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    const double s = seconds(start);
    __m512 sum = acc[0];
    for (int i = 1; i < kAccumulators; ++i)
        sum = _mm512_add_ps(sum, acc[i]);
    g_sink = _mm512_reduce_add_ps(sum);
    return double(kIterations) * kAccumulators * 32 * 2 / s / 1e9;
}

} // namespace

int main() {
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f");
    const bool bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
    if (!avx512 && !__builtin_cpu_supports("fma")) {
        std::printf("{\"fp32_fma\": null, \"bf16_dot\": null, \"isa\": \"no FMA\"}\n");
        return 0;
    }
    // The best of three runs of each: the first may run while the clock is still rising.
    double fma = 0, dot = 0;
    for (int run = 0; run < 3; ++run) {
        const double f = avx512 ? fmaAvx512() : fmaAvx2();
        fma = f > fma ? f : fma;
        if (bf16) {
            const double d = dotBf16();
            dot = d > dot ? d : dot;
        }
    }
    if (bf16)
        std::printf("{\"fp32_fma\": %.1f, \"bf16_dot\": %.1f, \"isa\": \"avx512f+avx512bf16\"}\n", fma, dot);
    else
        std::printf("{\"fp32_fma\": %.1f, \"bf16_dot\": null, \"isa\": \"%s\"}\n", fma, avx512 ? "avx512f" : "avx2+fma");
    return 0;
}
