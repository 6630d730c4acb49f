#include "models/CpuAttention.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include <ATen/Parallel.h>

#include "models/CpuGemv.h"
#include "models/KernelChoice.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
// GCC 12 reports "'__Y' may be used uninitialized" inside its own AVX-512 headers once they
// are inlined (as in CpuGemv.cpp): a false positive in the compiler's header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "models/CpuVecMath.h"
#define VQA_CPU_ATTENTION 1
#endif

namespace vqa::models {

#ifdef VQA_CPU_ATTENTION

namespace {

using std::int64_t;
using std::uint16_t;

constexpr int kRows = 6;  // queries in a register tile
constexpr int kKeys = 64; // keys in a score tile, and in a packed panel of keys
constexpr int kVecs = 4;  // 16-float registers across a tile: 64 keys, or 64 of the head's dimensions
// Queries that share each panel of keys and each chunk of values while it is in the first-level
// cache (a head's keys and values are 512 KB for 1,024 patches). On the Intel Xeon this measured
// the same as one tile of 6 queries at a time, its second-level cache keeping up; kept for
// cores whose second level is slower or smaller.
constexpr int64_t kBlockRows = 48;

#define VQA_ATT_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
// The float16 product with the values (AVX512-FP16 CPUs): see valueTileHalf.
#define VQA_ATT_HALF_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx512fp16")))

// Keys whose products a float16 lane sums before its sums go into float32: 32 products (a
// probability, at most 1, times a value scaled below 16, two keys to a lane pair), so a partial
// sum stays below 512. 128 keys measured 2 % faster and up to 1.6x the largest difference from
// the exact result where values cancel (300 keys, head size 8).
constexpr int64_t kHalfKeys = 64;

using vec::firstLanes;

// A row of d bfloat16 values widened into float32, zeros up to `padded`; nothing past it is written.
VQA_ATT_TARGET void widenRow(const uint16_t* src, int64_t d, int64_t padded, float* dst) {
    for (int64_t i = 0; i < padded; i += 16)
        _mm512_mask_storeu_ps(dst + i, firstLanes(padded - i), vec::widenBf16(src + i, firstLanes(std::max<int64_t>(d - i, 0))));
}

// A float buffer whose data start on a cache line: a 64-byte load from anywhere else spans
// two lines.
class Lines {
public:
    float* data() { return data_; }
    void resize(int64_t count) {
        storage_.resize(static_cast<size_t>(count + 16));
        const auto misaligned = reinterpret_cast<std::uintptr_t>(storage_.data()) / sizeof(float) % 16;
        data_ = storage_.data() + (16 - misaligned) % 16;
    }

private:
    std::vector<float> storage_;
    float* data_ = nullptr;
};

// What one thread keeps between the heads it takes.
struct Scratch {
    Lines keys;    // [panels][D][64]: a head's keys, widened and transposed
    Lines values;  // [Skv][Dpad]: its values, widened
    Lines bias;    // [panels * 64]: 0 for a key seen, -inf for one masked or past the end
    Lines queries; // [48][D]: a block of queries, widened
    Lines scores;  // [48][panels * 64]: their scores, then their probabilities
    Lines partial; // [48][Dpad], or [48][Dpad][2] (even and odd keys) in float16: their outputs
                   // before the division by the sums
    // The float16 product with the values only:
    Lines half_values; // [key pairs][Dpad][2] float16: the values, scaled per dimension
    Lines scale;       // [Dpad]: each dimension's scale
    Lines inverse;     // [Dpad]: one over it
    Lines probs;       // [48][panels * 64] float16: the probabilities
};

// Panels of 64 keys, each [D][64] so a tile's four registers for one dimension are one line: 16
// keys' next 16 dimensions widened into registers and transposed there (as CpuGemmHalf packs its
// weights); past the last key and the last dimension, zeros.
VQA_ATT_TARGET void packKeys(const uint16_t* k, int64_t stride, int64_t skv, int64_t d, float* panels) {
    for (int64_t key0 = 0; key0 < skv; key0 += 16) {
        float* panel = panels + key0 / kKeys * d * kKeys + key0 % kKeys;
        for (int64_t j0 = 0; j0 < d; j0 += 16) {
            __m512i r[16];
            for (int c = 0; c < 16; ++c)
                r[c] = key0 + c < skv ? _mm512_castps_si512(vec::widenBf16(k + (key0 + c) * stride + j0, firstLanes(d - j0)))
                                      : _mm512_setzero_si512();
            vec::transpose16(r);
            for (int64_t j = 0; j < 16 && j0 + j < d; ++j)
                _mm512_storeu_si512(panel + (j0 + j) * kKeys, r[j]);
        }
    }
    // The last panel's keys past the end, when it is not whole.
    const int64_t whole = (skv + 15) / 16 * 16, end = (skv + kKeys - 1) / kKeys * kKeys;
    for (int64_t key0 = whole; key0 < end; key0 += 16)
        for (int64_t j = 0; j < d; ++j)
            _mm512_storeu_ps(panels + key0 / kKeys * d * kKeys + j * kKeys + key0 % kKeys, _mm512_setzero_ps());
}

// scores [R][64] (row stride ld) = the R queries (rows of q, stride d) against one panel of
// keys, times scale, plus each key's bias.
template <int R>
VQA_ATT_TARGET void scoreTile(const float* q, int64_t d, const float* panel, float scale, const float* bias,
                              float* scores, int64_t ld) {
    __m512 acc[R][kVecs];
    for (int r = 0; r < R; ++r)
        for (int g = 0; g < kVecs; ++g)
            acc[r][g] = _mm512_setzero_ps();
    for (int64_t j = 0; j < d; ++j, panel += kKeys) {
        const __m512 b0 = _mm512_loadu_ps(panel), b1 = _mm512_loadu_ps(panel + 16),
                     b2 = _mm512_loadu_ps(panel + 32), b3 = _mm512_loadu_ps(panel + 48);
#pragma GCC unroll 6
        for (int r = 0; r < R; ++r) {
            const __m512 x = _mm512_set1_ps(q[r * d + j]);
            acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(x, b2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ps(x, b3, acc[r][3]);
        }
    }
    const __m512 s = _mm512_set1_ps(scale);
    for (int r = 0; r < R; ++r)
        for (int g = 0; g < kVecs; ++g)
            _mm512_storeu_ps(scores + r * ld + g * 16,
                             _mm512_fmadd_ps(acc[r][g], s, _mm512_loadu_ps(bias + g * 16)));
}

// Floats from one query's row of scores to the next: a cache line more than the row, since
// rows a multiple of 4 KB apart would all fall in the same sets of the first-level cache (no
// difference measured on the Intel Xeon; the safe layout).
inline int64_t scoreStride(int64_t length) {
    return length + 16;
}

// A row of scores (length a multiple of 16) becomes e^(score - largest) in place; returns their
// sum. A NaN score (a NaN in the query or a key) makes every probability of the row NaN, as
// LibTorch's softmax does: vmaxps may drop it from the largest, but its exp is NaN and so is the sum.
// The largest score of a row (length a multiple of 16) in every lane.
VQA_ATT_TARGET inline __m512 rowLargest(const float* row, int64_t length) {
    __m512 m = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    for (int64_t i = 0; i < length; i += 16)
        m = _mm512_max_ps(m, _mm512_loadu_ps(row + i));
    return _mm512_set1_ps(_mm512_reduce_max_ps(m));
}

VQA_ATT_TARGET float softmaxRow(float* row, int64_t length) {
    const __m512 largest = rowLargest(row, length);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t i = 0; i < length; i += 16) {
        const __m512 e = vec::exp(_mm512_sub_ps(_mm512_loadu_ps(row + i), largest));
        _mm512_storeu_ps(row + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    return _mm512_reduce_add_ps(sum);
}

// partial [R][dpad] (columns [c0, c0 + 16 V)) += R rows of probabilities (stride ld_p) for
// `keys` keys times those keys' rows of the values (stride dpad).
template <int R, int V>
VQA_ATT_TARGET void valueTile(const float* p, int64_t ld_p, int64_t keys, const float* values, int64_t dpad,
                              int64_t c0, float* partial) {
    __m512 acc[R][V];
    for (int r = 0; r < R; ++r)
        for (int g = 0; g < V; ++g)
            acc[r][g] = _mm512_loadu_ps(partial + r * dpad + c0 + g * 16);
    const float* v = values + c0;
    for (int64_t j = 0; j < keys; ++j, v += dpad) {
        __m512 b[V];
        for (int g = 0; g < V; ++g)
            b[g] = _mm512_loadu_ps(v + g * 16);
#pragma GCC unroll 6
        for (int r = 0; r < R; ++r) {
            const __m512 x = _mm512_set1_ps(p[r * ld_p + j]);
            for (int g = 0; g < V; ++g)
                acc[r][g] = _mm512_fmadd_ps(x, b[g], acc[r][g]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int g = 0; g < V; ++g)
            _mm512_storeu_ps(partial + r * dpad + c0 + g * 16, acc[r][g]);
}

// Every pass over the head's dimensions (64 a pass) of one tile of R queries and one chunk of keys.
template <int R>
VQA_ATT_TARGET void valueTiles(const float* p, int64_t ld_p, int64_t keys, const float* values, int64_t dpad,
                               float* partial) {
    for (int64_t c0 = 0; c0 < dpad; c0 += kVecs * 16) {
        switch (std::min<int64_t>(kVecs, (dpad - c0) / 16)) {
        case 4: valueTile<R, 4>(p, ld_p, keys, values, dpad, c0, partial); break;
        case 3: valueTile<R, 3>(p, ld_p, keys, values, dpad, c0, partial); break;
        case 2: valueTile<R, 2>(p, ld_p, keys, values, dpad, c0, partial); break;
        default: valueTile<R, 1>(p, ld_p, keys, values, dpad, c0, partial); break;
        }
    }
}

// The float16 product with the values, on CPUs with AVX512-FP16 (whose float16 multiply-adds
// do twice float32's per instruction): each of the head's dimensions is scaled by a power of
// two that puts its largest value in [8, 16) (bfloat16 values so scaled are exact in float16,
// bar those 2^18 times smaller than the largest), the probabilities (in [0, 1]) are rounded to
// float16's 11 bits, two keys' products share a lane, and a lane's sums go into float32 every
// kHalfKeys keys. LibTorch's bfloat16 kernel (what transformers runs in bfloat16) rounds the
// probabilities to bfloat16's 8 bits instead.

// The head's values (rows of d, `stride` apart) scaled and packed as [key pairs][dpad][2]
// float16, each lane pair one dimension's values for an even and an odd key; zeros past the
// last key and the last dimension. scale and inverse (dpad each) receive each dimension's scale
// and one over it. False when a value is an infinity or a NaN (the float32 product then carries
// it).
VQA_ATT_HALF_TARGET bool packValuesHalf(const uint16_t* v, int64_t stride, int64_t skv, int64_t d, int64_t dpad,
                                        float* scale, float* inverse, _Float16* packed) {
    // Each dimension's largest magnitude as a bit pattern (ordered as the magnitudes are; an
    // infinity or NaN is 0x7f800000 or above), kept in `inverse` until it is replaced.
    auto* largest = reinterpret_cast<std::uint32_t*>(inverse);
    std::fill(largest, largest + dpad, 0u);
    const __m512i magnitude = _mm512_set1_epi32(0x7fffffff);
    for (int64_t j = 0; j < skv; ++j)
        for (int64_t c = 0; c < d; c += 16) {
            const __m512i bits = _mm512_castps_si512(vec::widenBf16(v + j * stride + c, firstLanes(d - c)));
            const __m512i m = _mm512_loadu_si512(largest + c);
            _mm512_storeu_si512(largest + c, _mm512_max_epu32(m, _mm512_and_si512(bits, magnitude)));
        }
    for (int64_t c = 0; c < dpad; ++c) {
        if (largest[c] >= 0x7f800000u)
            return false;
        float f;
        std::memcpy(&f, &largest[c], 4);
        scale[c] = vec::halfScaleFor(f);
        inverse[c] = 1.0f / scale[c];
    }
    // Lane 2i takes word i of the first operand (the even key), lane 2i + 1 word i of the second.
    alignas(64) std::int16_t order[32];
    for (int i = 0; i < 16; ++i) {
        order[2 * i] = static_cast<std::int16_t>(i);
        order[2 * i + 1] = static_cast<std::int16_t>(32 + i);
    }
    const __m512i interleave = _mm512_load_si512(order);
    for (int64_t j = 0; j < skv; j += 2) {
        for (int64_t c = 0; c < dpad; c += 16) {
            const auto m = firstLanes(std::max<int64_t>(d - c, 0));
            const __m512 s = _mm512_load_ps(scale + c);
            const __m512 even = _mm512_mul_ps(vec::widenBf16(v + j * stride + c, m), s);
            const __m512 odd = j + 1 < skv ? _mm512_mul_ps(vec::widenBf16(v + (j + 1) * stride + c, m), s)
                                           : _mm512_setzero_ps();
            const __m512i pair = _mm512_permutex2var_epi16(
                _mm512_castsi256_si512(_mm256_castph_si256(_mm512_cvtxps_ph(even))), interleave,
                _mm512_castsi256_si512(_mm256_castph_si256(_mm512_cvtxps_ph(odd))));
            _mm512_storeu_si512(packed + j * dpad + 2 * c, pair);
        }
    }
    return true;
}

// softmaxRow's exponentials, also written to probs in float16; returns their float32 sum.
VQA_ATT_HALF_TARGET float softmaxRowHalf(const float* row, int64_t length, _Float16* probs) {
    const __m512 largest = rowLargest(row, length);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t i = 0; i < length; i += 16) {
        const __m512 e = vec::exp(_mm512_sub_ps(_mm512_loadu_ps(row + i), largest));
        _mm256_storeu_ph(probs + i, _mm512_cvtxps_ph(e));
        sum = _mm512_add_ps(sum, e);
    }
    return _mm512_reduce_add_ps(sum);
}

// partial [R][2 dpad] (lanes [2 c0, 2 c0 + 32 V)) += R rows of float16 probabilities (pairs,
// stride ld_p pairs) for `pairs` pairs of keys times those keys' packed values (pairs 2 dpad
// apart): a 32-bit broadcast brings a query's probabilities of an even and an odd key, whose
// products go to neighbouring lanes.
template <int R, int V>
VQA_ATT_HALF_TARGET void valueTileHalf(const std::uint32_t* p, int64_t ld_p, int64_t pairs, const _Float16* values,
                                       int64_t dpad, int64_t c0, float* partial) {
    __m512h acc[R][V];
    for (int r = 0; r < R; ++r)
        for (int g = 0; g < V; ++g)
            acc[r][g] = _mm512_setzero_ph();
    const _Float16* v = values + 2 * c0;
    for (int64_t j = 0; j < pairs; ++j, v += 2 * dpad) {
        __m512h b[V];
        for (int g = 0; g < V; ++g)
            b[g] = _mm512_loadu_ph(v + g * 32);
#pragma GCC unroll 6
        for (int r = 0; r < R; ++r) {
            const __m512h x = _mm512_castsi512_ph(_mm512_set1_epi32(static_cast<int>(p[r * ld_p + j])));
            for (int g = 0; g < V; ++g)
                acc[r][g] = _mm512_fmadd_ph(x, b[g], acc[r][g]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int g = 0; g < V; ++g)
            vec::addHalfInto(acc[r][g], partial + r * 2 * dpad + 2 * c0 + g * 32);
}

template <int R>
VQA_ATT_HALF_TARGET void valueTilesHalf(const std::uint32_t* p, int64_t ld_p, int64_t pairs, const _Float16* values,
                                        int64_t dpad, float* partial) {
    for (int64_t c0 = 0; c0 < dpad; c0 += kVecs * 16) {
        switch (std::min<int64_t>(kVecs, (dpad - c0) / 16)) {
        case 4: valueTileHalf<R, 4>(p, ld_p, pairs, values, dpad, c0, partial); break;
        case 3: valueTileHalf<R, 3>(p, ld_p, pairs, values, dpad, c0, partial); break;
        case 2: valueTileHalf<R, 2>(p, ld_p, pairs, values, dpad, c0, partial); break;
        default: valueTileHalf<R, 1>(p, ld_p, pairs, values, dpad, c0, partial); break;
        }
    }
}

// The tile functions for a tile of R queries (1 to 6), by R.
struct TileKernels {
    void (*score)(const float*, int64_t, const float*, float, const float*, float*, int64_t);
    void (*value)(const float*, int64_t, int64_t, const float*, int64_t, float*);
    void (*valueHalf)(const std::uint32_t*, int64_t, int64_t, const _Float16*, int64_t, float*);
};

template <int R>
constexpr TileKernels tileKernels() {
    return {&scoreTile<R>, &valueTiles<R>, &valueTilesHalf<R>};
}

constexpr TileKernels kTileKernels[kRows + 1] = {tileKernels<1>(), tileKernels<1>(), tileKernels<2>(),
                                                 tileKernels<3>(), tileKernels<4>(), tileKernels<5>(),
                                                 tileKernels<6>()};

// Rows of probabilities (e^(score - largest), stride ld) times the values, in float32, divided
// by the sums and rounded once to bfloat16: every tile's product with a chunk of 64 keys' values
// while the chunk is in the first-level cache.
VQA_ATT_TARGET void valuesFloat(const float* probs, int64_t ld, const float* sums, int64_t rows, int64_t d,
                                int64_t dpad, int64_t skv, Scratch& s, uint16_t* out, int64_t ld_out) {
    float* partial = s.partial.data();
    std::memset(partial, 0, static_cast<size_t>(rows * dpad) * sizeof(float));
    for (int64_t j0 = 0; j0 < skv; j0 += kKeys) {
        const int64_t keys = std::min<int64_t>(kKeys, skv - j0);
        for (int64_t t = 0; t < rows; t += kRows)
            kTileKernels[std::min<int64_t>(kRows, rows - t)].value(probs + t * ld + j0, ld, keys,
                                                                   s.values.data() + j0 * dpad, dpad, partial + t * dpad);
    }
    for (int64_t r = 0; r < rows; ++r) {
        const __m512 inverse = _mm512_set1_ps(1.0f / sums[r]);
        for (int64_t c = 0; c < d; c += 16) {
            const __m512 o = _mm512_mul_ps(_mm512_loadu_ps(partial + r * dpad + c), inverse);
            vec::storeBf16(out + r * ld_out + c, firstLanes(d - c), o);
        }
    }
}

// The same in float16 (packValuesHalf's values, s.probs' probabilities, `length` a row): chunks
// of kHalfKeys keys; each dimension's even-key and odd-key sums are added, its scale and the
// sum taken off, in float32 at the end.
VQA_ATT_HALF_TARGET void valuesHalf(const float* sums, int64_t rows, int64_t d, int64_t dpad, int64_t skv,
                                    int64_t length, Scratch& s, uint16_t* out, int64_t ld_out) {
    float* partial = s.partial.data();
    std::memset(partial, 0, static_cast<size_t>(rows * 2 * dpad) * sizeof(float));
    const auto* probs = reinterpret_cast<const std::uint32_t*>(s.probs.data());
    const auto* values = reinterpret_cast<const _Float16*>(s.half_values.data());
    const int64_t ld_p = length / 2;
    for (int64_t j0 = 0; j0 < skv; j0 += kHalfKeys) {
        const int64_t pairs = (std::min(kHalfKeys, skv - j0) + 1) / 2;
        for (int64_t t = 0; t < rows; t += kRows)
            kTileKernels[std::min<int64_t>(kRows, rows - t)].valueHalf(probs + t * ld_p + j0 / 2, ld_p, pairs,
                                                                       values + j0 * dpad, dpad, partial + t * 2 * dpad);
    }
    for (int64_t r = 0; r < rows; ++r) {
        const __m512 inverse = _mm512_set1_ps(1.0f / sums[r]);
        const float* row = partial + r * 2 * dpad;
        for (int64_t c = 0; c < d; c += 16) {
            const __m512 o = _mm512_mul_ps(_mm512_mul_ps(vec::sumPairs(row + 2 * c), _mm512_loadu_ps(s.inverse.data() + c)), inverse);
            vec::storeBf16(out + r * ld_out + c, firstLanes(d - c), o);
        }
    }
}

// A block of queries (up to kBlockRows, widened, stride d) through the whole head: every
// tile's scores against a panel of keys while the panel is in the first-level cache, each
// row's softmax, then the product with the values (in float16 when `half`: the head's values
// are packed for it). The division by the sums and the one rounding to bfloat16 come last.
VQA_ATT_TARGET void queryBlock(const float* q, int64_t rows, int64_t d, int64_t dpad, int64_t skv,
                               int64_t panels, Scratch& s, float scale, bool half, uint16_t* out, int64_t ld_out) {
    const int64_t length = panels * kKeys, ld = scoreStride(length);
    float* scores = s.scores.data();
    for (int64_t pn = 0; pn < panels; ++pn)
        for (int64_t t = 0; t < rows; t += kRows)
            kTileKernels[std::min<int64_t>(kRows, rows - t)].score(
                q + t * d, d, s.keys.data() + pn * d * kKeys, scale, s.bias.data() + pn * kKeys,
                scores + t * ld + pn * kKeys, ld);
    float sums[kBlockRows];
    if (half) {
        auto* probs = reinterpret_cast<_Float16*>(s.probs.data());
        for (int64_t r = 0; r < rows; ++r)
            sums[r] = softmaxRowHalf(scores + r * ld, length, probs + r * length);
        valuesHalf(sums, rows, d, dpad, skv, length, s, out, ld_out);
    } else {
        for (int64_t r = 0; r < rows; ++r)
            sums[r] = softmaxRow(scores + r * ld, length);
        valuesFloat(scores, ld, sums, rows, d, dpad, skv, s, out, ld_out);
    }
}

struct Shape {
    int64_t n, heads, kv_heads, s, skv, d;
};

struct Strides {
    int64_t batch, head, row;
};

// Queries [q_begin, q_end) of head h of batch item b.
VQA_ATT_TARGET void headRows(const Shape& sh, int64_t b, int64_t h, int64_t q_begin, int64_t q_end,
                             const uint16_t* q, const Strides& qs, const uint16_t* k, const Strides& ks,
                             const uint16_t* v, const Strides& vs, const bool* mask, float scale, bool half_values,
                             uint16_t* out) {
    thread_local Scratch s;
    const int64_t d = sh.d, dpad = (d + 15) / 16 * 16, skv = sh.skv;
    const int64_t panels = (skv + kKeys - 1) / kKeys, length = panels * kKeys;
    const int64_t kvh = h / (sh.heads / sh.kv_heads);
    s.keys.resize(length * d);
    s.bias.resize(length);
    s.queries.resize(kBlockRows * d);
    s.scores.resize(kBlockRows * scoreStride(length));
    s.partial.resize(kBlockRows * 2 * dpad);
    const uint16_t* kb = k + b * ks.batch + kvh * ks.head;
    const uint16_t* vb = v + b * vs.batch + kvh * vs.head;
    packKeys(kb, ks.row, skv, d, s.keys.data());
    bool half = false;
    if (half_values) {
        // Floats, two float16 values each.
        s.half_values.resize((skv + 1) / 2 * dpad);
        s.scale.resize(dpad);
        s.inverse.resize(dpad);
        s.probs.resize(kBlockRows * length / 2);
        half = packValuesHalf(vb, vs.row, skv, d, dpad, s.scale.data(), s.inverse.data(),
                              reinterpret_cast<_Float16*>(s.half_values.data()));
    }
    if (!half) {
        s.values.resize(skv * dpad);
        for (int64_t j = 0; j < skv; ++j)
            widenRow(vb + j * vs.row, d, dpad, s.values.data() + j * dpad);
    }
    const float masked = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < length; ++j)
        s.bias.data()[j] = j < skv && (!mask || mask[b * skv + j]) ? 0.0f : masked;
    // The output is [N, S, H, D]: a query's row of this head is D values, H * D apart.
    const int64_t ld_out = sh.heads * d;
    for (int64_t r0 = q_begin; r0 < q_end; r0 += kBlockRows) {
        const int64_t rows = std::min(kBlockRows, q_end - r0);
        for (int64_t r = 0; r < rows; ++r)
            widenRow(q + b * qs.batch + h * qs.head + (r0 + r) * qs.row, d, d, s.queries.data() + r * d);
        queryBlock(s.queries.data(), rows, d, dpad, skv, panels, s, scale, half,
                   out + (b * sh.s + r0) * ld_out + h * d, ld_out);
    }
}

Strides stridesOf(const torch::Tensor& t) {
    return {t.stride(0), t.stride(1), t.stride(2)};
}

const uint16_t* bits(const torch::Tensor& t) {
    return reinterpret_cast<const uint16_t*>(t.data_ptr<at::BFloat16>());
}

} // namespace

bool cpuAttentionSupported() {
    return vec::hasAvx512Bf16Set();
}

bool cpuAttentionHalfSupported() {
    return vec::hasAvx512Fp16Set();
}

std::optional<torch::Tensor> cpuAttentionBf16(const torch::Tensor& q, const torch::Tensor& k,
                                              const torch::Tensor& v, const torch::Tensor& key_mask,
                                              double scale, bool float16_values) {
    if (!cpuAttentionSupported() || (float16_values && !cpuAttentionHalfSupported()))
        return std::nullopt;
    for (const auto* t : {&q, &k, &v})
        if (t->dim() != 4 || t->scalar_type() != torch::kBFloat16 || !t->device().is_cpu() || t->stride(3) != 1)
            return std::nullopt;
    const Shape sh{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3)};
    if (sh.n < 1 || sh.s < 1 || sh.skv < 1 || sh.d < 1 || sh.kv_heads < 1 || sh.heads % sh.kv_heads != 0 ||
        k.size(0) != sh.n || v.size(0) != sh.n || v.size(1) != sh.kv_heads || v.size(2) != sh.skv ||
        k.size(3) != sh.d || v.size(3) != sh.d)
        return std::nullopt;
    torch::Tensor mask;
    if (key_mask.defined()) {
        if (key_mask.scalar_type() != torch::kBool || key_mask.dim() != 4 || key_mask.size(1) != 1 ||
            key_mask.size(2) != 1 || key_mask.size(3) != sh.skv || (key_mask.size(0) != sh.n && key_mask.size(0) != 1))
            return std::nullopt;
        mask = key_mask.expand({sh.n, 1, 1, sh.skv}).reshape({sh.n, sh.skv}).contiguous();
        // A query that sees no key has no softmax; LibTorch's kernel decides what it gives.
        if (!mask.any(1).all().item<bool>())
            return std::nullopt;
    }
    auto out = torch::empty({sh.n, sh.s, sh.heads, sh.d}, q.options());
    // Heads are the work items; queries are split too when there are fewer heads than threads
    // to keep busy (each piece widens its head's keys and values again: cheap next to the scores).
    const int64_t threads = std::max(1, at::get_num_threads()), items = sh.n * sh.heads;
    const int64_t pieces = std::clamp<int64_t>((2 * threads + items - 1) / items, 1, (sh.s + 47) / 48);
    const int64_t piece_rows = (sh.s + pieces - 1) / pieces;
    const uint16_t *qp = bits(q), *kp = bits(k), *vp = bits(v);
    const bool* mp = mask.defined() ? mask.data_ptr<bool>() : nullptr;
    auto* op = reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>());
    const Strides qs = stridesOf(q), ks = stridesOf(k), vs = stridesOf(v);
    const auto fscale = static_cast<float>(scale);
    at::parallel_for(0, items * pieces, 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const int64_t item = i / pieces, piece = i % pieces;
            const int64_t q_begin = piece * piece_rows, q_end = std::min(sh.s, q_begin + piece_rows);
            if (q_begin < q_end)
                headRows(sh, item / sh.heads, item % sh.heads, q_begin, q_end, qp, qs, kp, ks, vp, vs, mp,
                         fscale, float16_values, op);
        }
    });
    return out.transpose(1, 2);
}

#else

bool cpuAttentionSupported() {
    return false;
}

bool cpuAttentionHalfSupported() {
    return false;
}

std::optional<torch::Tensor> cpuAttentionBf16(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                                              const torch::Tensor&, double, bool) {
    return std::nullopt;
}

#endif

namespace {
MeasuredChoice<Bf16Attention> g_bf16_attention;
} // namespace

void setBf16Attention(Bf16Attention attention) {
    g_bf16_attention.set(attention);
}

const char* bf16AttentionName(Bf16Attention attention) {
    switch (attention) {
    case Bf16Attention::Native: return "native";
    case Bf16Attention::Widened: return "widened";
    case Bf16Attention::Ours: return "ours";
    default: return "auto";
    }
}

Bf16Attention Bf16AttentionTimes::fastest() const {
    return fastestWay(native_ms, widened_ms, ours_ms, Bf16Attention::Native, Bf16Attention::Widened, Bf16Attention::Ours);
}

torch::Tensor cpuBf16Attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& mask, bool causal, double scale, Bf16Attention attention,
                               bool float16_values) {
    if (attention == Bf16Attention::Ours && !causal)
        if (auto out = cpuAttentionBf16(q, k, v, mask, scale, float16_values))
            return *out;
    const auto m = mask.defined() ? std::optional<torch::Tensor>(mask) : std::nullopt;
    const bool gqa = q.size(-3) != k.size(-3);
    if (attention == Bf16Attention::Native)
        return at::scaled_dot_product_attention(q, k, v, m, /*dropout_p=*/0.0, causal, scale, gqa);
    return at::scaled_dot_product_attention(q.to(torch::kFloat32), k.to(torch::kFloat32), v.to(torch::kFloat32), m,
                                            /*dropout_p=*/0.0, causal, scale, gqa)
        .to(torch::kBFloat16);
}

Bf16AttentionTimes measureBf16Attention(bool float16_values) {
    // A third of a SigLIP layer's attention: 4 heads of 64 dimensions over 1,024 patches.
    c10::InferenceMode inference;
    torch::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
    const auto options = torch::TensorOptions().dtype(torch::kFloat32);
    std::vector<torch::Tensor> qkv;
    for (int i = 0; i < 3; ++i)
        qkv.push_back(at::randn({1, 4, 1024, 64}, gen, options).to(torch::kBFloat16));
    const auto ms = timeWays(
        [&](Bf16Attention attention) {
            cpuBf16Attention(qkv[0], qkv[1], qkv[2], {}, /*causal=*/false, 0.125, attention, float16_values).sum().item<float>();
        },
        Bf16Attention::Native, Bf16Attention::Widened, Bf16Attention::Ours,
        cpuAttentionSupported() && (!float16_values || cpuAttentionHalfSupported()));
    Bf16AttentionTimes t;
    t.native_ms = ms[0];
    t.widened_ms = ms[1];
    t.ours_ms = ms[2];
    return t;
}

Bf16Attention bf16Attention() {
    return g_bf16_attention.get([] { return measureBf16Attention(bf16Kernels() == Bf16Kernels::Half).fastest(); });
}

} // namespace vqa::models
