// One core's peak arithmetic rate, measured: float32 fused multiply-adds (AVX-512, else AVX2);
// where the CPU has AVX512-BF16, bfloat16 dot products (vdpbf16ps: 32 pairs a register, so
// twice the multiply-adds of a float32 FMA per instruction); where it has AVX512-FP16, float16
// fused multiply-adds (32 lanes a register); where it has AMX, bfloat16 tile products
// (tdpbf16ps: 16 x 16 results of 32 pairs each an instruction, four tiles in flight). Each
// vector loop keeps 12 independent accumulators, more
// than the instructions' latency times the units that run them, so it runs at the rate the
// core issues them. The accumulators are named variables, not an array: GCC kept an array of
// them in memory, and the store-to-load latency then capped the loop at 63 % of the rate (this
// program reported 176 GFLOP/s of float32 FMA on a core that issues 280). run_bench.py
// compiles it on its first use and divides the vision tower's GFLOP/s by these numbers. Prints
// one JSON object: {"fp32_fma": GFLOP/s, "bf16_dot": GFLOP/s or null, "fp16_fma": GFLOP/s or
// null, "amx_bf16": GFLOP/s or null, "isa": ...}.
//
//   c++ -O2 -std=c++17 peak_flops.cpp -o peak_flops
#include <immintrin.h>

#include <chrono>
#include <cstdint>
#include <cstdio>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

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

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__linux__)
#define VQA_PEAK_AMX 1
// Linux hands a process the tile registers' state only when asked (arch_prctl
// ARCH_REQ_XCOMP_PERM for XTILEDATA); without it the first tile instruction faults.
bool amxPermitted() {
    constexpr int kReqXcompPerm = 0x1023, kXtileData = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXtileData) == 0;
}

struct TileConfig {
    std::uint8_t palette = 1, start_row = 0, reserved[14] = {};
    std::uint16_t bytes_per_row[16] = {};
    std::uint8_t rows[16] = {};
};

__attribute__((target("amx-tile,amx-bf16"))) double amxBf16() {
    TileConfig config;
    for (int t = 0; t < 8; ++t) {
        config.rows[t] = 16;
        config.bytes_per_row[t] = 64;
    }
    _tile_loadconfig(&config);
    alignas(64) static std::uint16_t a[16 * 32], b[16 * 32];
    alignas(64) static float c[16 * 16];
    for (int i = 0; i < 16 * 32; ++i)
        a[i] = b[i] = 0x3c00; // bfloat16 1/128: the sums stay finite
    _tile_loadd(4, a, 64);
    _tile_loadd(5, b, 64);
    _tile_loadd(6, a, 64);
    _tile_loadd(7, b, 64);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    constexpr long kTileIterations = kIterations / 5;
    const auto start = std::chrono::steady_clock::now();
    for (long n = 0; n < kTileIterations; ++n) {
        _tile_dpbf16ps(0, 4, 5);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 6, 5);
        _tile_dpbf16ps(3, 6, 7);
    }
    const double s = seconds(start);
    _tile_stored(0, c, 64);
    g_sink = c[0];
    _tile_release();
    return double(kTileIterations) * 4 * (16 * 16 * 32) * 2 / s / 1e9;
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
#ifdef VQA_PEAK_AMX
    const bool amx = __builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-bf16") && amxPermitted();
#else
    const bool amx = false;
#endif
    if (!avx512 && !__builtin_cpu_supports("fma")) {
        std::printf("{\"fp32_fma\": null, \"bf16_dot\": null, \"fp16_fma\": null, \"amx_bf16\": null, "
                    "\"isa\": \"no FMA\"}\n");
        return 0;
    }
    // The best of three runs of each: the first may run while the clock is still rising.
    double fma = 0, dot = 0, half = 0, tiles = 0;
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
#ifdef VQA_PEAK_AMX
        if (amx) {
            const double t = amxBf16();
            tiles = t > tiles ? t : tiles;
        }
#endif
    }
    char dot_text[32] = "null", half_text[32] = "null", amx_text[32] = "null";
    if (bf16)
        std::snprintf(dot_text, sizeof dot_text, "%.1f", dot);
    if (fp16)
        std::snprintf(half_text, sizeof half_text, "%.1f", half);
    if (amx)
        std::snprintf(amx_text, sizeof amx_text, "%.1f", tiles);
    std::printf("{\"fp32_fma\": %.1f, \"bf16_dot\": %s, \"fp16_fma\": %s, \"amx_bf16\": %s, \"isa\": \"%s%s%s%s\"}\n",
                fma, dot_text, half_text, amx_text, avx512 ? "avx512f" : "avx2+fma", bf16 ? "+avx512bf16" : "",
                fp16 ? "+avx512fp16" : "", amx ? "+amx-bf16" : "");
    return 0;
}
