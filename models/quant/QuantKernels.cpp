// Compiled with -ffp-contract=off (models/CMakeLists.txt): quantizeRow rounds like the
// reference's separate multiply and add, never a fused multiply-add.
#include "models/quant/QuantKernels.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "models/base/Error.h"
#include "models/quant/QuantKernelTable.h"

namespace vqa::models {

std::int64_t quantBlockBytes(QuantFormat format) {
    switch (format) {
    case QuantFormat::Q8_0: return 2 + 32;
    case QuantFormat::Q4_0: return 2 + 16;
    case QuantFormat::Q4_1: return 2 + 2 + 16;
    case QuantFormat::None: break;
    }
    return 0;
}

std::int64_t quantRowBytes(QuantFormat format, std::int64_t k) {
    return (k + kQuantBlock - 1) / kQuantBlock * quantBlockBytes(format);
}

const char* quantFormatName(QuantFormat format) {
    switch (format) {
    case QuantFormat::Q8_0: return "q8_0";
    case QuantFormat::Q4_0: return "q4_0";
    case QuantFormat::Q4_1: return "q4_1";
    case QuantFormat::None: break;
    }
    return "none";
}

bool parseQuantFormat(const std::string& name, QuantFormat& format) {
    for (auto f : {QuantFormat::None, QuantFormat::Q8_0, QuantFormat::Q4_0, QuantFormat::Q4_1})
        if (name == quantFormatName(f)) {
            format = f;
            return true;
        }
    return false;
}

namespace {

void putHalf(std::uint8_t* p, float v) {
    const std::uint16_t h = c10::detail::fp16_ieee_from_fp32_value(v);
    std::memcpy(p, &h, 2);
}

float getHalf(const std::uint8_t* p) {
    std::uint16_t h;
    std::memcpy(&h, p, 2);
    return c10::detail::fp16_ieee_to_fp32_value(h);
}

// Nibbles q[0..31] into 16 bytes: q[j] low, q[j + 16] high.
void packNibbles(const std::uint8_t* q, std::uint8_t* out) {
    for (int j = 0; j < 16; ++j)
        out[j] = static_cast<std::uint8_t>(q[j] | (q[j + 16] << 4));
}

// The three quantizers, step for step as GGUF's Python reference (gguf.quants) computes them
// in float32, so the bytes are the same.
void quantizeBlockQ8_0(const float* x, std::uint8_t* out) {
    float amax = 0;
    for (int j = 0; j < 32; ++j)
        amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    putHalf(out, d);
    for (int j = 0; j < 32; ++j)
        out[2 + j] = static_cast<std::uint8_t>(static_cast<std::int8_t>(std::round(x[j] * id)));
}

void quantizeBlockQ4_0(const float* x, std::uint8_t* out) {
    // The value of largest magnitude, its sign kept: the first of equals, as numpy's argmax.
    float amax = std::fabs(x[0]), max = x[0];
    for (int j = 1; j < 32; ++j)
        if (std::fabs(x[j]) > amax) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    const float d = max / -8.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    std::uint8_t q[32];
    for (int j = 0; j < 32; ++j) {
        const float v = std::trunc(x[j] * id + 8.5f);
        q[j] = static_cast<std::uint8_t>(std::clamp(v, 0.0f, 15.0f));
    }
    putHalf(out, d);
    packNibbles(q, out + 2);
}

void quantizeBlockQ4_1(const float* x, std::uint8_t* out) {
    const float min = *std::min_element(x, x + 32), max = *std::max_element(x, x + 32);
    const float d = (max - min) / 15.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    std::uint8_t q[32];
    for (int j = 0; j < 32; ++j) {
        const float v = std::trunc((x[j] - min) * id + 0.5f);
        q[j] = static_cast<std::uint8_t>(std::clamp(v, 0.0f, 15.0f));
    }
    putHalf(out, d);
    putHalf(out + 2, min);
    packNibbles(q, out + 4);
}

void dequantizeBlock(QuantFormat format, const std::uint8_t* b, float* out) {
    const float d = getHalf(b);
    switch (format) {
    case QuantFormat::Q8_0:
        for (int j = 0; j < 32; ++j)
            out[j] = d * static_cast<float>(static_cast<std::int8_t>(b[2 + j]));
        break;
    case QuantFormat::Q4_0:
        for (int j = 0; j < 16; ++j) {
            out[j] = d * static_cast<float>((b[2 + j] & 15) - 8);
            out[j + 16] = d * static_cast<float>((b[2 + j] >> 4) - 8);
        }
        break;
    case QuantFormat::Q4_1: {
        const float m = getHalf(b + 2);
        for (int j = 0; j < 16; ++j) {
            out[j] = d * static_cast<float>(b[4 + j] & 15) + m;
            out[j + 16] = d * static_cast<float>(b[4 + j] >> 4) + m;
        }
        break;
    }
    case QuantFormat::None: break;
    }
}

void requireFormat(QuantFormat format) {
    if (format == QuantFormat::None)
        throw Error("quantized weights need a format (q8_0, q4_0 or q4_1)");
}

}  // namespace


void quantizeActivation(const float* x, std::int64_t k, Q8Vector& out) {
    const std::int64_t blocks = (k + kQuantBlock - 1) / kQuantBlock;
    out.blocks = blocks;
    out.q.assign(blocks * kQuantBlock, 0);
    out.d.resize(blocks);
    out.lane_d.resize(blocks * 8);
    out.lane_s.resize(blocks * 8);
    out.lane_minus8.resize(blocks * 8);
    out.block_sum.resize(blocks);
    for (std::int64_t b = 0; b < blocks; ++b) {
        const std::int64_t first = b * kQuantBlock, n = std::min(kQuantBlock, k - first);
        float amax = 0;
        for (std::int64_t j = 0; j < n; ++j)
            amax = std::max(amax, std::fabs(x[first + j]));
        const float d = amax / 127.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        for (std::int64_t j = 0; j < n; ++j)
            out.q[first + j] = static_cast<std::int8_t>(std::nearbyint(x[first + j] * id));
        out.d[b] = d;
        int block_sum = 0;
        for (int lane = 0; lane < 8; ++lane) {
            const std::int8_t* g = out.q.data() + first + 4 * lane;
            const int sum = g[0] + g[1] + g[2] + g[3];
            out.lane_d[b * 8 + lane] = d;
            out.lane_s[b * 8 + lane] = d * static_cast<float>(sum);
            out.lane_minus8[b * 8 + lane] = -8 * sum;
            block_sum += sum;
        }
        out.block_sum[b] = block_sum;
    }
}

std::vector<float> dequantizeActivation(const Q8Vector& x, std::int64_t k) {
    std::vector<float> v(k);
    for (std::int64_t i = 0; i < k; ++i)
        v[i] = x.d[i / kQuantBlock] * static_cast<float>(x.q[i]);
    return v;
}

namespace quant {
namespace {

// The portable loops: per block an exact integer dot product, then the scales, as the
// instruction-set versions compute it.
template <QuantFormat F>
void rowsPortable(const std::uint8_t* w, std::int64_t row_bytes, std::int64_t blocks,
                  const Activation& x, float* y, std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
        const std::uint8_t* b = w + r * row_bytes;
        float acc = 0, offset = 0;
        for (std::int64_t i = 0; i < blocks; ++i, b += quantBlockBytes(F)) {
            const std::int8_t* xq = x.q + i * kQuantBlock;
            int dot = 0;
            if constexpr (F == QuantFormat::Q8_0) {
                for (int j = 0; j < 32; ++j)
                    dot += static_cast<std::int8_t>(b[2 + j]) * xq[j];
            } else {
                const std::uint8_t* q = b + (F == QuantFormat::Q4_0 ? 2 : 4);
                for (int j = 0; j < 16; ++j)
                    dot += (q[j] & 15) * xq[j] + (q[j] >> 4) * xq[j + 16];
                for (int lane = 0; lane < 8; ++lane) {
                    if constexpr (F == QuantFormat::Q4_0)
                        dot += x.lane_minus8[i * 8 + lane];
                    else
                        offset += getHalf(b + 2) * x.lane_s[i * 8 + lane];
                }
            }
            acc += static_cast<float>(dot) * (getHalf(b) * x.d[i]);
        }
        y[r] = acc + offset;
    }
}

// The interleaved layout's loops, row by row through the tiles: the same integer dot products
// and scales as rowsPortable. A tile's byte j of row r is at 16 * header + 64 (j / 4) + 4 r + j % 4.
template <QuantFormat F>
void groupsPortable(const std::uint8_t* w, std::int64_t blocks, const Activation* xs, std::int64_t n, float* y,
                    std::int64_t ldy, std::int64_t rows, std::int64_t begin, std::int64_t end) {
    constexpr std::int64_t header = quantHeaderBytes(F);
    const std::int64_t tile = kInterleaveRows * quantBlockBytes(F);
    for (std::int64_t g = begin; g < end; ++g)
        for (std::int64_t r = 0; r < kInterleaveRows && g * kInterleaveRows + r < rows; ++r)
            for (std::int64_t token = 0; token < n; ++token) {
                const Activation& x = xs[token];
                const std::uint8_t* t = w + g * blocks * tile;
                float acc = 0, offset = 0;
                for (std::int64_t i = 0; i < blocks; ++i, t += tile) {
                    const std::int8_t* xq = x.q + i * kQuantBlock;
                    auto byte = [&](int j) { return static_cast<int>(t[16 * header + 64 * (j / 4) + 4 * r + j % 4]); };
                    int dot = 0;
                    if constexpr (F == QuantFormat::Q8_0) {
                        for (int j = 0; j < 32; ++j)
                            dot += (byte(j) - 128) * xq[j];
                    } else {
                        for (int j = 0; j < 16; ++j)
                            dot += (byte(j) & 15) * xq[j] + (byte(j) >> 4) * xq[j + 16];
                        if constexpr (F == QuantFormat::Q4_0)
                            dot -= 8 * x.block_sum[i];
                        else
                            offset += getHalf(t + 32 + 2 * r) * (x.d[i] * static_cast<float>(x.block_sum[i]));
                    }
                    acc += static_cast<float>(dot) * (getHalf(t + 2 * r) * x.d[i]);
                }
                y[token * ldy + g * kInterleaveRows + r] = acc + offset;
            }
}

template <QuantFormat F, void (*Block)(const float*, std::uint8_t*)>
void quantizePortable(const float* x, std::int64_t blocks, std::uint8_t* out) {
    for (std::int64_t b = 0; b < blocks; ++b)
        Block(x + b * kQuantBlock, out + b * quantBlockBytes(F));
}

template <QuantFormat F>
void dequantizePortable(const std::uint8_t* in, std::int64_t blocks, float* out) {
    for (std::int64_t b = 0; b < blocks; ++b)
        dequantizeBlock(F, in + b * quantBlockBytes(F), out + b * kQuantBlock);
}

template <QuantFormat F>
void dequantizeBf16Portable(const std::uint8_t* in, std::int64_t blocks, std::uint16_t* out) {
    float block[32];
    for (std::int64_t b = 0; b < blocks; ++b) {
        dequantizeBlock(F, in + b * quantBlockBytes(F), block);
        for (int j = 0; j < 32; ++j)
            out[b * kQuantBlock + j] = c10::BFloat16(block[j]).x;
    }
}

}  // namespace

const KernelTable kPortable = {"portable",
                               rowsPortable<QuantFormat::Q8_0>,
                               rowsPortable<QuantFormat::Q4_0>,
                               rowsPortable<QuantFormat::Q4_1>,
                               quantizePortable<QuantFormat::Q8_0, quantizeBlockQ8_0>,
                               quantizePortable<QuantFormat::Q4_0, quantizeBlockQ4_0>,
                               quantizePortable<QuantFormat::Q4_1, quantizeBlockQ4_1>,
                               dequantizePortable<QuantFormat::Q8_0>,
                               dequantizePortable<QuantFormat::Q4_0>,
                               dequantizePortable<QuantFormat::Q4_1>,
                               dequantizeBf16Portable<QuantFormat::Q8_0>,
                               dequantizeBf16Portable<QuantFormat::Q4_0>,
                               dequantizeBf16Portable<QuantFormat::Q4_1>,
                               groupsPortable<QuantFormat::Q8_0>,
                               groupsPortable<QuantFormat::Q4_0>,
                               groupsPortable<QuantFormat::Q4_1>};

}  // namespace quant

namespace {

const quant::KernelTable& tableOf(QuantIsa isa) {
    switch (isa) {
#if defined(__x86_64__) && defined(__GNUC__)
    case QuantIsa::Avx2: return quant::kAvx2;
    case QuantIsa::AvxVnni: return quant::kAvxVnni;
    case QuantIsa::Avx512Vnni: return quant::kAvx512Vnni;
#endif
    default: return quant::kPortable;
    }
}

bool cpuRuns(QuantIsa isa) {
#if defined(__x86_64__) && defined(__GNUC__)
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                      __builtin_cpu_supports("f16c");
    switch (isa) {
    case QuantIsa::Portable: return true;
    case QuantIsa::Avx2: return avx2;
    case QuantIsa::AvxVnni: return avx2 && __builtin_cpu_supports("avxvnni");
    case QuantIsa::Avx512Vnni:
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vnni");
    }
    return false;
#else
    return isa == QuantIsa::Portable;
#endif
}

std::atomic<int> g_chosen{-1};  // a QuantIsa set by setQuantIsa, or -1

void checkActivation(const Q8Vector& x, std::int64_t k) {
    if (x.blocks * kQuantBlock < k)
        throw Error("quantized matrix-vector product: the activation is shorter than the rows");
}

quant::Activation activationOf(const Q8Vector& x) {
    return {x.q.data(), x.d.data(), x.lane_d.data(), x.lane_minus8.data(), x.lane_s.data(), x.block_sum.data()};
}

}  // namespace

const char* quantIsaName(QuantIsa isa) {
    return tableOf(isa).name;
}

std::vector<QuantIsa> supportedQuantIsas() {
    static const std::vector<QuantIsa> isas = [] {
        std::vector<QuantIsa> v;
        for (auto isa : {QuantIsa::Portable, QuantIsa::Avx2, QuantIsa::AvxVnni, QuantIsa::Avx512Vnni})
            if (cpuRuns(isa))
                v.push_back(isa);
        return v;
    }();
    return isas;
}

QuantIsa activeQuantIsa() {
    const int chosen = g_chosen.load();
    if (chosen >= 0)
        return static_cast<QuantIsa>(chosen);
    // VQA_QUANT_ISA names the loops to use instead of the CPU's best (for comparing them, or
    // to step around one); a name this CPU cannot run is ignored.
    static const QuantIsa fromEnvironment = [] {
        const char* env = std::getenv("VQA_QUANT_ISA");
        for (auto isa : supportedQuantIsas())
            if (env != nullptr && std::strcmp(env, quantIsaName(isa)) == 0)
                return isa;
        return supportedQuantIsas().back();
    }();
    return fromEnvironment;
}

void setQuantIsa(QuantIsa isa) {
    if (!cpuRuns(isa))
        throw Error(std::string("this CPU cannot run the ") + quantIsaName(isa) + " quantized loops");
    g_chosen = static_cast<int>(isa);
}

void resetQuantIsa() {
    g_chosen = -1;
}

void quantDotRows(QuantIsa isa, QuantFormat format, const std::uint8_t* w, std::int64_t k,
                  const Q8Vector& x, float* y, std::int64_t begin, std::int64_t end) {
    const auto& t = tableOf(isa);
    const auto fn = format == QuantFormat::Q8_0   ? t.q8_0
                    : format == QuantFormat::Q4_0 ? t.q4_0
                    : format == QuantFormat::Q4_1 ? t.q4_1
                                                  : nullptr;
    if (fn == nullptr)
        throw Error("quantized matrix-vector product needs a format (q8_0, q4_0 or q4_1)");
    checkActivation(x, k);
    fn(w, quantRowBytes(format, k), (k + kQuantBlock - 1) / kQuantBlock, activationOf(x), y, begin, end);
}

bool quantIsaInterleaves(QuantIsa isa) {
    return isa != QuantIsa::Portable;
}

void quantDotGroups(QuantIsa isa, QuantFormat format, const std::uint8_t* w, std::int64_t k,
                    const Q8Vector* x, std::int64_t n, float* y, std::int64_t ldy, std::int64_t rows,
                    std::int64_t begin, std::int64_t end) {
    requireFormat(format);
    // The activations as the loops read them, a few at a time on the stack.
    constexpr std::int64_t kChunk = 64;
    quant::Activation a[kChunk];
    const auto& t = tableOf(isa);
    const auto fn = format == QuantFormat::Q8_0 ? t.q8_0_x16 : format == QuantFormat::Q4_0 ? t.q4_0_x16 : t.q4_1_x16;
    for (std::int64_t first = 0; first < n; first += kChunk) {
        const std::int64_t m = std::min(kChunk, n - first);
        for (std::int64_t j = 0; j < m; ++j) {
            checkActivation(x[first + j], k);
            a[j] = activationOf(x[first + j]);
        }
        fn(w, (k + kQuantBlock - 1) / kQuantBlock, a, m, y + first * ldy, ldy, rows, begin, end);
    }
}

void quantizeRow(QuantFormat format, const float* x, std::int64_t k, std::uint8_t* out) {
    quantizeRow(activeQuantIsa(), format, x, k, out);
}

void dequantizeRow(QuantFormat format, const std::uint8_t* row, std::int64_t k, float* out) {
    dequantizeRow(activeQuantIsa(), format, row, k, out);
}

void dequantizeRowBf16(QuantFormat format, const std::uint8_t* row, std::int64_t k, std::uint16_t* out) {
    dequantizeRowBf16(activeQuantIsa(), format, row, k, out);
}

void dequantizeRow(QuantIsa isa, QuantFormat format, const std::uint8_t* row, std::int64_t k, float* out) {
    requireFormat(format);
    const auto& t = tableOf(isa);
    const auto fn = format == QuantFormat::Q8_0 ? t.dequantize_q8_0 : format == QuantFormat::Q4_0 ? t.dequantize_q4_0 : t.dequantize_q4_1;
    const std::int64_t full = k / kQuantBlock;
    fn(row, full, out);
    if (k > full * kQuantBlock) {  // the last block's padding dropped
        float block[32];
        dequantizeBlock(format, row + full * quantBlockBytes(format), block);
        std::copy(block, block + (k - full * kQuantBlock), out + full * kQuantBlock);
    }
}

void dequantizeRowBf16(QuantIsa isa, QuantFormat format, const std::uint8_t* row, std::int64_t k, std::uint16_t* out) {
    requireFormat(format);
    const auto& t = tableOf(isa);
    const auto fn = format == QuantFormat::Q8_0   ? t.dequantize_bf16_q8_0
                    : format == QuantFormat::Q4_0 ? t.dequantize_bf16_q4_0
                                                  : t.dequantize_bf16_q4_1;
    const std::int64_t full = k / kQuantBlock;
    fn(row, full, out);
    if (k > full * kQuantBlock) {
        float block[32];
        dequantizeBlock(format, row + full * quantBlockBytes(format), block);
        for (std::int64_t j = 0; j < k - full * kQuantBlock; ++j)
            out[full * kQuantBlock + j] = c10::BFloat16(block[j]).x;
    }
}

void quantizeRow(QuantIsa isa, QuantFormat format, const float* x, std::int64_t k, std::uint8_t* out) {
    requireFormat(format);
    const std::int64_t bytes = quantBlockBytes(format), full = k / kQuantBlock;
    const auto& t = tableOf(isa);
    const auto fn = format == QuantFormat::Q8_0 ? t.quantize_q8_0 : format == QuantFormat::Q4_0 ? t.quantize_q4_0 : t.quantize_q4_1;
    fn(x, full, out);
    if (k > full * kQuantBlock) {  // the last block, padded with zeros
        float block[32] = {};
        std::copy(x + full * kQuantBlock, x + k, block);
        fn(block, 1, out + full * bytes);
    }
}

}  // namespace vqa::models
