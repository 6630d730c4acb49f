#include "models/CpuGemmHalf.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include <ATen/Parallel.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
// GCC 12 reports "'__Y' may be used uninitialized" inside its own AVX-512 headers once they
// are inlined (as in CpuGemv.cpp): a false positive in the compiler's header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "models/CpuVecMath.h"
#define VQA_HALF_GEMM 1
#endif

namespace vqa::models {

#ifdef VQA_HALF_GEMM

namespace {

using std::int64_t;
using std::uint16_t;
using std::uint32_t;

// The register tile: 6 rows of x times 64 columns of w. The 64 columns sit in 4 registers as
// 16 (even k, odd k) pairs each, so a row's two values for k and k+1 arrive with one 32-bit
// broadcast (a plain load; a 16-bit broadcast takes a shuffle port from the multiply-adds)
// and each lane sums one parity: 24 accumulators, 4 weight registers and the broadcast.
constexpr int kRows = 6;
constexpr int kCols = 64;
// k pairs a lane sums in float16 before they go into float32 (128 products of at most 256).
constexpr int64_t kChunkPairs = 64;
// Rows of x one thread converts and keeps while every panel of w passes them.
constexpr int64_t kBlockRows = 96;
// While x in float16 fits a core's second-level cache with room to spare, each thread packs its
// own panels and runs every row past them (two threads of an Intel Xeon, 81 rows: 340-395
// GFLOP/s against 245-285 packing every panel first; 1,024 rows of 768: 494 against 472); x
// larger than that is better kept in blocks of rows with the panels shared.
constexpr int64_t kFewRowsBytes = int64_t(3) << 19;

#define VQA_HALF_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512fp16,avx512bf16")))

inline float bf16ToFloat(uint16_t v) {
    const uint32_t bits = uint32_t(v) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// The largest magnitude in a bfloat16 row as a bit pattern: without the sign bit, the patterns
// of bfloat16 numbers are ordered like the numbers, and an infinity or NaN is 0x7f80 or above.
VQA_HALF_TARGET uint16_t largestBits(const uint16_t* src, int64_t k) {
    __m512i m = _mm512_setzero_si512();
    const __m512i magnitude = _mm512_set1_epi16(0x7fff);
    int64_t i = 0;
    for (; i + 32 <= k; i += 32)
        m = _mm512_max_epu16(m, _mm512_and_si512(_mm512_loadu_si512(src + i), magnitude));
    if (i < k) {
        const auto tail = static_cast<__mmask32>((1ull << (k - i)) - 1);
        m = _mm512_max_epu16(m, _mm512_and_si512(_mm512_maskz_loadu_epi16(tail, src + i), magnitude));
    }
    alignas(64) uint16_t lanes[32];
    _mm512_store_si512(lanes, m);
    return *std::max_element(lanes, lanes + 32);
}

constexpr uint16_t kNotFinite = 0x7f80;

// The largest magnitude in a float32 row as a bit pattern, as largestBits does for bfloat16.
VQA_HALF_TARGET uint32_t largestBits(const float* src, int64_t k) {
    __m512i m = _mm512_setzero_si512();
    const __m512i magnitude = _mm512_set1_epi32(0x7fffffff);
    for (int64_t i = 0; i < k; i += 16) {
        const auto tail = vec::firstLanes(k - i);
        m = _mm512_max_epu32(m, _mm512_and_si512(_mm512_maskz_loadu_epi32(tail, src + i), magnitude));
    }
    return static_cast<uint32_t>(_mm512_reduce_max_epu32(m));
}

// A row's scale (vec::halfScaleFor its largest magnitude); false when it holds an infinity or a NaN.
VQA_HALF_TARGET bool rowScale(const uint16_t* src, int64_t k, float* scale) {
    const uint16_t largest = largestBits(src, k);
    *scale = vec::halfScaleFor(bf16ToFloat(largest));
    return largest < kNotFinite;
}

VQA_HALF_TARGET bool rowScale(const float* src, int64_t k, float* scale) {
    const uint32_t largest = largestBits(src, k);
    float f;
    std::memcpy(&f, &largest, 4);
    *scale = vec::halfScaleFor(f);
    return largest < 0x7f800000u;
}

// k bfloat16 values times scale, as float16 (exact for normal float16 results), then a zero
// when k is odd so the row is whole pairs.
VQA_HALF_TARGET void toHalf(const uint16_t* src, int64_t k, float scale, _Float16* dst) {
    const __m512 s = _mm512_set1_ps(scale);
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
        const __m512 f = vec::widenBf16(raw);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                            _mm256_castph_si256(_mm512_cvtxps_ph(_mm512_mul_ps(f, s))));
    }
    for (; i < k; ++i)
        dst[i] = static_cast<_Float16>(bf16ToFloat(src[i]) * scale);
    if (k % 2)
        dst[k] = static_cast<_Float16>(0.0f);
}

VQA_HALF_TARGET void toHalf(const float* src, int64_t k, float scale, _Float16* dst) {
    const __m512 s = _mm512_set1_ps(scale);
    for (int64_t i = 0; i < k; i += 16) {
        const auto m = vec::firstLanes(k - i);
        _mm256_mask_storeu_epi16(dst + i, m, _mm256_castph_si256(_mm512_cvtxps_ph(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + i), s))));
    }
    if (k % 2)
        dst[k] = static_cast<_Float16>(0.0f);
}

// 32 bfloat16 values (the mask's first; zeros after) times scale, as 32 float16 values: 16
// (even k, odd k) pairs.
VQA_HALF_TARGET __m512i toHalfPairs(const uint16_t* src, __mmask32 m, __m512 scale) {
    const __m512i raw = _mm512_maskz_loadu_epi16(m, src);
    const __m512 lo = vec::widenBf16(_mm512_castsi512_si256(raw));
    const __m512 hi = vec::widenBf16(_mm512_extracti64x4_epi64(raw, 1));
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_castph_si256(_mm512_cvtxps_ph(_mm512_mul_ps(lo, scale)))),
                              _mm256_castph_si256(_mm512_cvtxps_ph(_mm512_mul_ps(hi, scale))), 1);
}

// The same from 32 float32 values (rounded to float16: the float32 GEMM's one loss).
VQA_HALF_TARGET __m512i toHalfPairs(const float* src, __mmask32 m, __m512 scale) {
    const __m512 lo = _mm512_maskz_loadu_ps(static_cast<__mmask16>(m), src);
    const __m512 hi = _mm512_maskz_loadu_ps(static_cast<__mmask16>(m >> 16), src + 16);
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_castph_si256(_mm512_cvtxps_ph(_mm512_mul_ps(lo, scale)))),
                              _mm256_castph_si256(_mm512_cvtxps_ph(_mm512_mul_ps(hi, scale))), 1);
}

// One panel of w: 64 of its rows (columns of the product), scaled and converted, laid out as
// [k pair][64 columns][2]; past the matrix's last row, zeros. 16 rows' next 16 pairs are
// converted in registers and transposed there (gathers from a staged copy took twice as long:
// a prefill of a few dozen tokens packs every weight of the decoder). Returns false on a
// non-finite value. scales receives each row's scale.
template <typename T>
VQA_HALF_TARGET bool packPanel(const T* w, int64_t n, int64_t k, int64_t first, float* scales,
                               uint32_t* panel) {
    const int64_t pairs = (k + 1) / 2;
    for (int group = 0; group < kCols; group += 16) {
        __m512 row_scale[16];
        for (int c = 0; c < 16; ++c) {
            const int64_t row = first + group + c;
            scales[group + c] = 1.0f;
            if (row < n && !rowScale(w + row * k, k, &scales[group + c]))
                return false;
            row_scale[c] = _mm512_set1_ps(scales[group + c]);
        }
        for (int64_t p0 = 0; p0 < pairs; p0 += 16) {
            const int64_t from = p0 * 2, left = k - from;
            const auto mask = static_cast<__mmask32>(left >= 32 ? ~0u : (1u << left) - 1);
            __m512i r[16];
            for (int c = 0; c < 16; ++c) {
                const int64_t row = first + group + c;
                r[c] = row < n ? toHalfPairs(w + row * k + from, mask, row_scale[c]) : _mm512_setzero_si512();
            }
            vec::transpose16(r);
            for (int64_t j = 0; j < 16 && p0 + j < pairs; ++j)
                _mm512_storeu_si512(panel + (p0 + j) * kCols + group, r[j]);
        }
    }
    return true;
}

// tile [R][128] (each column's even-k and odd-k sums side by side) += the products of R rows
// of x (a[r]: pairs from the chunk's first) and one panel's chunk of `pairs` pairs.
template <int R>
VQA_HALF_TARGET void chunk(const uint32_t* const* a, int64_t pairs, const _Float16* b, float* tile) {
    __m512h acc[R][4];
    for (int r = 0; r < R; ++r)
        for (int q = 0; q < 4; ++q)
            acc[r][q] = _mm512_setzero_ph();
    for (int64_t p = 0; p < pairs; ++p, b += 2 * kCols) {
        const __m512h b0 = _mm512_loadu_ph(b), b1 = _mm512_loadu_ph(b + 32),
                      b2 = _mm512_loadu_ph(b + 64), b3 = _mm512_loadu_ph(b + 96);
#pragma GCC unroll 6
        for (int r = 0; r < R; ++r) {
            const __m512h x = _mm512_castsi512_ph(_mm512_set1_epi32(static_cast<int>(a[r][p])));
            acc[r][0] = _mm512_fmadd_ph(x, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ph(x, b1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ph(x, b2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ph(x, b3, acc[r][3]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int q = 0; q < 4; ++q)
            vec::addHalfInto(acc[r][q], tile + r * 2 * kCols + q * 32);
}

VQA_HALF_TARGET void chunkRows(int rows, const uint32_t* const* a, int64_t pairs, const _Float16* b,
                               float* tile) {
    switch (rows) {
    case 6: chunk<6>(a, pairs, b, tile); break;
    case 5: chunk<5>(a, pairs, b, tile); break;
    case 4: chunk<4>(a, pairs, b, tile); break;
    case 3: chunk<3>(a, pairs, b, tile); break;
    case 2: chunk<2>(a, pairs, b, tile); break;
    default: chunk<1>(a, pairs, b, tile); break;
    }
}

// One row of the result for one panel: the even and odd sums added, the scales taken off,
// the bias added; bfloat16 results rounded once, float32 ones stored as they are. Only the
// panel's `cols` real columns are written.
template <typename T>
VQA_HALF_TARGET void finishRow(const float* t, float row_scale, const float* col_scales, const T* bias,
                               int64_t cols, T* y) {
    const __m512 inverse_row = _mm512_set1_ps(1.0f / row_scale);
    for (int g = 0; g * 16 < cols; ++g) {
        const int64_t left = cols - g * 16;
        const auto mask = vec::firstLanes(left);
        __m512 sum = _mm512_mul_ps(vec::sumPairs(t + g * 32), _mm512_div_ps(inverse_row, _mm512_loadu_ps(col_scales + g * 16)));
        if constexpr (std::is_same_v<T, float>) {
            if (bias)
                sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mask, bias + g * 16));
            _mm512_mask_storeu_ps(y + g * 16, mask, sum);
        } else {
            if (bias)
                sum = _mm512_add_ps(sum, vec::widenBf16(bias + g * 16, mask));
            vec::storeBf16(y + g * 16, mask, sum);
        }
    }
}

// 64-byte aligned floats for a tile's aligned loads and stores, from a vector kept by its thread.
float* alignedTile(std::vector<float>& storage, int64_t count) {
    storage.resize(static_cast<size_t>(count + 16));
    float* base = storage.data();
    return base + (16 - (reinterpret_cast<std::uintptr_t>(base) / sizeof(float)) % 16) % 16;
}

// Rows [begin, begin + rows) of the product for one panel of w: xh holds those rows in
// float16 (stride 2 * pairs), the panel's chunks pass every tile of 6 rows while they are in
// the first-level cache, then each row is finished. tile: rows rounded up to 6, times 128 floats.
template <typename T>
VQA_HALF_TARGET void panelRows(const _Float16* xh, int64_t begin, int64_t rows, int64_t pairs,
                               const float* row_scales, const _Float16* panel, const float* panel_scales,
                               int64_t pn, int64_t n, const T* bias, float* tile, T* y) {
    const int64_t padded = pairs * 2, tiles = (rows + kRows - 1) / kRows;
    std::memset(tile, 0, static_cast<size_t>(tiles * kRows * 2 * kCols) * sizeof(float));
    for (int64_t c0 = 0; c0 < pairs; c0 += kChunkPairs) {
        const int64_t chunk_pairs = std::min(kChunkPairs, pairs - c0);
        for (int64_t t = 0; t < tiles; ++t) {
            const int r_count = static_cast<int>(std::min<int64_t>(kRows, rows - t * kRows));
            const uint32_t* a[kRows];
            for (int r = 0; r < r_count; ++r)
                a[r] = reinterpret_cast<const uint32_t*>(xh + (t * kRows + r) * padded) + c0;
            chunkRows(r_count, a, chunk_pairs, panel + c0 * 2 * kCols, tile + t * kRows * 2 * kCols);
        }
    }
    const int64_t cols = std::min<int64_t>(kCols, n - pn * kCols);
    for (int64_t i = 0; i < rows; ++i)
        finishRow(tile + i * 2 * kCols, row_scales[begin + i], panel_scales, bias ? bias + pn * kCols : nullptr,
                  cols, y + (begin + i) * n + pn * kCols);
}

// What one thread keeps between calls: rows of x in float16, a panel of w packed, a tile.
struct Scratch {
    std::vector<_Float16> x;
    std::vector<uint32_t> panel;
    std::vector<float> tile;
};

// Many rows: rows [begin, end) against every panel (packed beforehand, shared): the rows are
// converted once and stay in this thread's cache while the panels pass them.
template <typename T>
VQA_HALF_TARGET void blockRows(const T* x, int64_t begin, int64_t end, int64_t k,
                               const float* row_scales, const uint32_t* panels, const float* col_scales,
                               int64_t n, const T* bias, T* y) {
    thread_local Scratch scratch;
    const int64_t pairs = (k + 1) / 2, padded = pairs * 2, rows = end - begin;
    scratch.x.resize(static_cast<size_t>(rows * padded));
    float* tile = alignedTile(scratch.tile, (rows + kRows - 1) / kRows * kRows * 2 * kCols);
    for (int64_t i = 0; i < rows; ++i)
        toHalf(x + (begin + i) * k, k, row_scales[begin + i], scratch.x.data() + i * padded);
    for (int64_t pn = 0; pn < (n + kCols - 1) / kCols; ++pn)
        panelRows(scratch.x.data(), begin, rows, pairs, row_scales,
                  reinterpret_cast<const _Float16*>(panels + pn * pairs * kCols), col_scales + pn * kCols, pn, n,
                  bias, tile, y);
}

// Few rows (a prefill of a few dozen tokens): each panel is packed by the thread that uses it
// and passes every row (converted beforehand, shared) while it is in that thread's cache, so the
// packed weight never goes out to memory and back. Returns false on a non-finite value of w.
template <typename T>
VQA_HALF_TARGET bool panelsOfRows(const _Float16* xh, int64_t m, const T* w, int64_t n, int64_t k,
                                  const float* row_scales, int64_t first_panel, int64_t end_panel,
                                  const T* bias, T* y) {
    thread_local Scratch scratch;
    const int64_t pairs = (k + 1) / 2;
    scratch.panel.resize(static_cast<size_t>(pairs * kCols));
    float* tile = alignedTile(scratch.tile, (m + kRows - 1) / kRows * kRows * 2 * kCols);
    float panel_scales[kCols];
    for (int64_t pn = first_panel; pn < end_panel; ++pn) {
        if (!packPanel(w, n, k, pn * kCols, panel_scales, scratch.panel.data()))
            return false;
        panelRows(xh, 0, m, pairs, row_scales, reinterpret_cast<const _Float16*>(scratch.panel.data()),
                  panel_scales, pn, n, bias, tile, y);
    }
    return true;
}

} // namespace

bool cpuGemmHalfSupported() {
    return vec::hasAvx512Fp16Set();
}

namespace {

// Each row's scale of x; false on a non-finite value.
template <typename T>
bool rowScales(const T* x, int64_t m, int64_t k, std::vector<float>& row_scales) {
    row_scales.resize(static_cast<size_t>(m));
    std::atomic<bool> finite{true};
    at::parallel_for(0, m, 64, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e && finite; ++i)
            if (!rowScale(x + i * k, k, &row_scales[i]))
                finite = false;
    });
    return finite;
}

// Packs every panel of w into panels (pairs * 64 a panel) and scales (64 a panel), split over
// the threads; false on a non-finite value.
template <typename T>
bool packPanels(const T* w, int64_t n, int64_t k, uint32_t* panels, float* scales) {
    const int64_t pairs = (k + 1) / 2, panel_count = (n + kCols - 1) / kCols;
    std::atomic<bool> finite{true};
    at::parallel_for(0, panel_count, 1, [&](int64_t b, int64_t e) {
        for (int64_t pn = b; pn < e && finite; ++pn)
            if (!packPanel(w, n, k, pn * kCols, scales + pn * kCols, panels + pn * pairs * kCols))
                finite = false;
    });
    return finite;
}

// Many rows over packed panels: each thread an equal share of the rows (whole tiles), in blocks
// of at most kBlockRows: blocks dealt out whole left one thread a block more than the other (11
// blocks of 1,024 rows on two threads: 6 against 5).
template <typename T>
void manyRows(const T* x, int64_t m, int64_t n, int64_t k, const std::vector<float>& row_scales,
              const uint32_t* packed, const float* scales, const T* bias, T* y) {
    const int64_t threads = std::max(1, at::get_num_threads());
    const int64_t share = ((m + kRows - 1) / kRows + threads - 1) / threads * kRows;
    at::parallel_for(0, (m + share - 1) / share, 1, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
            const int64_t begin = t * share, end = std::min(m, begin + share);
            const int64_t blocks = (end - begin + kBlockRows - 1) / kBlockRows;
            const int64_t block_rows = ((end - begin + blocks - 1) / blocks + kRows - 1) / kRows * kRows;
            for (int64_t r = begin; r < end; r += block_rows)
                blockRows(x, r, std::min(end, r + block_rows), k, row_scales.data(), packed, scales, n, bias, y);
        }
    });
}

// x in float16 (rows scaled), shared by the threads while the panels pass it.
template <typename T>
std::vector<_Float16> halfRows(const T* x, int64_t m, int64_t k, const std::vector<float>& row_scales) {
    const int64_t pairs = (k + 1) / 2;
    std::vector<_Float16> xh(static_cast<size_t>(m * pairs * 2));
    at::parallel_for(0, m, 16, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
            toHalf(x + i * k, k, row_scales[i], xh.data() + i * pairs * 2);
    });
    return xh;
}

template <typename T>
bool gemm(const T* x, int64_t m, const T* w, int64_t n, int64_t k, const T* bias, T* y) {
    if (!cpuGemmHalfSupported() || m <= 0 || n <= 0 || k <= 0)
        return false;
    const int64_t pairs = (k + 1) / 2, panel_count = (n + kCols - 1) / kCols;
    std::vector<float> row_scales;
    if (!rowScales(x, m, k, row_scales))
        return false;
    if (m * pairs * 2 * int64_t(sizeof(_Float16)) <= kFewRowsBytes) {
        const auto xh = halfRows(x, m, k, row_scales);
        std::atomic<bool> finite{true};
        at::parallel_for(0, panel_count, 1, [&](int64_t b, int64_t e) {
            if (finite && !panelsOfRows(xh.data(), m, w, n, k, row_scales.data(), b, e, bias, y))
                finite = false;
        });
        return finite;
    }
    // The packed panels are as large as w. The calling thread keeps them between calls (a
    // vision tower's products reuse the pages) unless they are larger than a tower's weights.
    thread_local std::vector<uint32_t> panels;
    thread_local std::vector<float> col_scales;
    panels.resize(static_cast<size_t>(panel_count * pairs * kCols));
    struct Release {
        ~Release() {
            if (panels.capacity() * sizeof(uint32_t) > (std::size_t(32) << 20))
                std::vector<uint32_t>().swap(panels);
        }
    } release;
    col_scales.resize(static_cast<size_t>(panel_count * kCols));
    // Pointers, not the thread_local vectors: inside the loops another thread would name its own.
    uint32_t* const packed = panels.data();
    float* const scales = col_scales.data();
    if (!packPanels(w, n, k, packed, scales))
        return false;
    manyRows(x, m, n, k, row_scales, packed, scales, bias, y);
    return true;
}

// The product over panels packed beforehand: few rows pass each panel on the thread that takes
// it, many rows are split as gemm splits them.
bool packedGemm(const float* x, int64_t m, const HalfPackedWeight& w, const float* bias, float* y) {
    const int64_t n = w.n, k = w.k, pairs = (k + 1) / 2, panel_count = (n + kCols - 1) / kCols;
    if (!cpuGemmHalfSupported() || m <= 0 || n <= 0 || k <= 0 ||
        w.panels.size() != static_cast<size_t>(panel_count * pairs * kCols) ||
        w.scales.size() != static_cast<size_t>(panel_count * kCols))
        return false;
    std::vector<float> row_scales;
    if (!rowScales(x, m, k, row_scales))
        return false;
    if (m * pairs * 2 * int64_t(sizeof(_Float16)) > kFewRowsBytes) {
        manyRows(x, m, n, k, row_scales, w.panels.data(), w.scales.data(), bias, y);
        return true;
    }
    const auto xh = halfRows(x, m, k, row_scales);
    at::parallel_for(0, panel_count, 1, [&](int64_t b, int64_t e) {
        thread_local Scratch scratch;
        float* tile = alignedTile(scratch.tile, (m + kRows - 1) / kRows * kRows * 2 * kCols);
        for (int64_t pn = b; pn < e; ++pn)
            panelRows(xh.data(), 0, m, pairs, row_scales.data(),
                      reinterpret_cast<const _Float16*>(w.panels.data() + pn * pairs * kCols),
                      w.scales.data() + pn * kCols, pn, n, bias, tile, y);
    });
    return true;
}

} // namespace

bool cpuGemmHalfPackF32(const float* w, int64_t n, int64_t k, HalfPackedWeight* out) {
    *out = HalfPackedWeight{};
    if (!cpuGemmHalfSupported() || n <= 0 || k <= 0)
        return false;
    const int64_t pairs = (k + 1) / 2, panel_count = (n + kCols - 1) / kCols;
    HalfPackedWeight packed;
    packed.n = n;
    packed.k = k;
    packed.panels.resize(static_cast<size_t>(panel_count * pairs * kCols));
    packed.scales.resize(static_cast<size_t>(panel_count * kCols));
    if (!packPanels(w, n, k, packed.panels.data(), packed.scales.data()))
        return false;
    *out = std::move(packed);
    return true;
}

bool cpuGemmHalfPackedF32(const float* x, int64_t m, const HalfPackedWeight& w, const float* bias, float* y) {
    return packedGemm(x, m, w, bias, y);
}

bool cpuGemmHalfBf16(const uint16_t* x, int64_t m, const uint16_t* w, int64_t n, int64_t k,
                     const uint16_t* bias, uint16_t* y) {
    return gemm(x, m, w, n, k, bias, y);
}

bool cpuGemmHalfF32(const float* x, int64_t m, const float* w, int64_t n, int64_t k, const float* bias,
                    float* y) {
    return gemm(x, m, w, n, k, bias, y);
}

#else

bool cpuGemmHalfSupported() {
    return false;
}

bool cpuGemmHalfBf16(const std::uint16_t*, std::int64_t, const std::uint16_t*, std::int64_t, std::int64_t,
                     const std::uint16_t*, std::uint16_t*) {
    return false;
}

bool cpuGemmHalfF32(const float*, std::int64_t, const float*, std::int64_t, std::int64_t, const float*, float*) {
    return false;
}

bool cpuGemmHalfPackF32(const float*, std::int64_t, std::int64_t, HalfPackedWeight* out) {
    *out = HalfPackedWeight{};
    return false;
}

bool cpuGemmHalfPackedF32(const float*, std::int64_t, const HalfPackedWeight&, const float*, float*) {
    return false;
}

#endif

} // namespace vqa::models
