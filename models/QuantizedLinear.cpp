#include "models/QuantizedLinear.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <ATen/Parallel.h>

#include "models/CpuGemv.h"
#include "models/base/Error.h"
#include "models/quant/QuantKernels.h"

namespace vqa::models {

namespace {

// Below this many rows of activations the matrix-vector loops run once per row; from it on,
// the weights are dequantized slice by slice for a GEMM: bfloat16 where this CPU's bfloat16
// kernels are the fast ones (CpuGemv.h's bf16Kernels(), measured), float32 elsewhere.
constexpr std::int64_t kGemmRows = 4;

// Reads row r of a contiguous 2-D float tensor as float32.
void rowAsFloat(const torch::Tensor& w, std::int64_t r, float* out) {
    const std::int64_t k = w.size(1);
    switch (w.scalar_type()) {
    case torch::kFloat32: {
        const float* p = w.data_ptr<float>() + r * k;
        std::copy(p, p + k, out);
        break;
    }
    case torch::kBFloat16: {
        const auto* p = w.data_ptr<c10::BFloat16>() + r * k;
        std::transform(p, p + k, out, [](c10::BFloat16 v) { return static_cast<float>(v); });
        break;
    }
    case torch::kHalf: {
        const auto* p = w.data_ptr<c10::Half>() + r * k;
        std::transform(p, p + k, out, [](c10::Half v) { return static_cast<float>(v); });
        break;
    }
    default: throw Error("only float32, bfloat16 and float16 weights can be quantized");
    }
}

// Work items of at least ~64 KB of weights each, so small matrices stay on one thread.
std::int64_t grainFor(std::int64_t row_bytes) {
    return std::max<std::int64_t>(1, (std::int64_t(1) << 16) / std::max<std::int64_t>(1, row_bytes));
}

// Row r of m (on the CPU) in the Rows layout: in place, or gathered from its interleaved
// tiles into `scratch`.
const std::uint8_t* rowBytes(const QuantizedMatrix& m, std::int64_t r, std::vector<std::uint8_t>& scratch) {
    const auto* base = m.data.data_ptr<std::uint8_t>();
    const std::int64_t row_bytes = m.data.size(1);
    if (m.layout == QuantLayout::Rows)
        return base + r * row_bytes;
    scratch.resize(row_bytes);
    deinterleaveRow(m.format, base, m.cols, r, scratch.data());
    return scratch.data();
}

// Rows [first, first + n) of m dequantized into a [n, cols] tensor of float32 or bfloat16
// (each weight rounded once from its float32 value), on the CPU.
torch::Tensor dequantizeSliceCpu(const QuantizedMatrix& m, std::int64_t first, std::int64_t n,
                                 torch::ScalarType dtype = torch::kFloat32) {
    auto out = torch::empty({n, m.cols}, dtype);
    const std::int64_t row_bytes = m.data.size(1), k = m.cols;
    if (dtype == torch::kFloat32) {
        float* dst = out.data_ptr<float>();
        at::parallel_for(0, n, grainFor(row_bytes), [&](std::int64_t b, std::int64_t e) {
            std::vector<std::uint8_t> scratch;
            for (std::int64_t r = b; r < e; ++r)
                dequantizeRow(m.format, rowBytes(m, first + r, scratch), k, dst + r * k);
        });
    } else {
        auto* dst = reinterpret_cast<std::uint16_t*>(out.data_ptr<c10::BFloat16>());
        at::parallel_for(0, n, grainFor(row_bytes), [&](std::int64_t b, std::int64_t e) {
            std::vector<std::uint8_t> scratch;
            for (std::int64_t r = b; r < e; ++r)
                dequantizeRowBf16(m.format, rowBytes(m, first + r, scratch), k, dst + r * k);
        });
    }
    return out;
}

std::int64_t storedRows(const QuantizedMatrix& m) {
    return m.layout == QuantLayout::Rows ? m.rows : kInterleaveRows * interleavedGroups(m.rows);
}

void checkMatrix(const QuantizedMatrix& m) {
    if (m.format == QuantFormat::None || !m.data.defined() || m.data.dim() != 2 ||
        m.data.size(0) != storedRows(m) || m.data.size(1) != quantRowBytes(m.format, m.cols) ||
        m.data.scalar_type() != torch::kUInt8 || !m.data.is_contiguous() ||
        (m.layout != QuantLayout::Rows && !m.data.device().is_cpu()))
        throw Error("a quantized matrix whose bytes do not match its format and shape");
}

// out [n, rows] = x W^T for x [n, cols] through dequantized slices of ~4M weights, each reused
// by all n rows. In bfloat16 the activations and the products are rounded once each (about
// 2^-9 relative, well under the weights' own quantization error); the GEMM accumulates in
// float32 either way.
void floatRowsInto(const QuantizedMatrix& w, const torch::Tensor& x, torch::Tensor& out) {
    const auto dtype = cpuWidensBf16() ? torch::kFloat32 : torch::kBFloat16;
    const auto flat = x.to(dtype).contiguous();
    const std::int64_t slice = std::max<std::int64_t>(64, (std::int64_t(1) << 22) / w.cols);
    for (std::int64_t r = 0; r < w.rows; r += slice) {
        const std::int64_t m = std::min(slice, w.rows - r);
        out.narrow(1, r, m).copy_(at::mm(flat, dequantizeSliceCpu(w, r, m, dtype).t()));
    }
}

// y [n, rows] = x W^T for an interleaved W and n rows of x (float32, cols each): every row
// quantized to int8 blocks, then each group's tiles meet the rows a few at a time.
void integerRowsInto(const QuantizedMatrix& w, const float* x, std::int64_t n, float* y) {
    std::vector<Q8Vector> q(n);
    at::parallel_for(0, n, 8, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i)
            quantizeActivation(x + i * w.cols, w.cols, q[i]);
    });
    const QuantIsa isa = activeQuantIsa();
    const auto* base = w.data.data_ptr<std::uint8_t>();
    const std::int64_t group_bytes = kInterleaveRows * w.data.size(1);
    at::parallel_for(0, interleavedGroups(w.rows), std::max<std::int64_t>(1, grainFor(group_bytes) / n),
                     [&](std::int64_t b, std::int64_t e) {
                         quantDotGroups(isa, w.format, base, w.cols, q.data(), n, y, w.rows, w.rows, b, e);
                     });
}

// The prefill's choice: -1 until measured or set, else a QuantPrefill.
std::atomic<int> g_prefill{-1};

} // namespace

void setQuantPrefill(QuantPrefill prefill) {
    g_prefill = prefill == QuantPrefill::Auto ? -1 : static_cast<int>(prefill);
}

QuantPrefill quantPrefill() {
    const int chosen = g_prefill.load();
    if (chosen >= 0)
        return static_cast<QuantPrefill>(chosen);
    const char* env = std::getenv("VQA_QUANT_PREFILL");
    QuantPrefill p;
    if (env != nullptr && std::strcmp(env, "integer") == 0) {
        p = QuantPrefill::Integer;
    } else if (env != nullptr && std::strcmp(env, "float") == 0) {
        p = QuantPrefill::Float;
    } else {
        const auto t = measureQuantPrefill();
        p = t.integer_ms < t.float_ms ? QuantPrefill::Integer : QuantPrefill::Float;
    }
    int expected = -1;  // two threads that measured at once keep the first's choice
    g_prefill.compare_exchange_strong(expected, static_cast<int>(p));
    return static_cast<QuantPrefill>(g_prefill.load());
}

QuantPrefillTimes measureQuantPrefill() {
    torch::NoGradGuard no_grad;
    // A decoder's product of a prefill's size: 2048 outputs of 2048 inputs in Q4_0, 32 rows.
    // The blocks are written directly (scale 2^-7, codes that vary), as quantizing 4M weights
    // would take longer than the measurement.
    auto m = QuantizedMatrix::empty(QuantFormat::Q4_0, 2048, 2048);
    auto* bytes = m.data.data_ptr<std::uint8_t>();
    for (std::int64_t i = 0; i < m.data.numel(); ++i)
        bytes[i] = static_cast<std::uint8_t>(i * 37 + (i >> 7));
    for (std::int64_t b = 0; b < m.data.numel(); b += quantBlockBytes(QuantFormat::Q4_0)) {
        bytes[b] = 0x00;  // float16 0x2000 = 2^-7, little-endian
        bytes[b + 1] = 0x20;
    }
    const auto w = withLayout(m, QuantLayout::Interleaved16);
    const auto x = torch::arange(32 * 2048, torch::kFloat32).mul(0.11).cos().view({32, 2048});
    auto out = torch::empty({32, 2048});
    auto best = [&](auto&& run) {
        double ms = 1e30;
        for (int i = 0; i < 3; ++i) {
            const auto start = std::chrono::steady_clock::now();
            run();
            ms = std::min(ms, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        }
        return ms;
    };
    QuantPrefillTimes t;
    t.integer_ms = best([&] { integerRowsInto(w, x.data_ptr<float>(), 32, out.data_ptr<float>()); });
    t.float_ms = best([&] { floatRowsInto(w, x, out); });
    return t;
}

torch::Tensor dequantizeWithTensorOps(const QuantizedMatrix& m) {
    checkMatrix(m);
    if (m.layout != QuantLayout::Rows)
        return dequantizeWithTensorOps(withLayout(m, QuantLayout::Rows));
    const std::int64_t blocks = (m.cols + kQuantBlock - 1) / kQuantBlock;
    auto b = m.data.view({m.rows, blocks, quantBlockBytes(m.format)});
    auto halfAt = [&](std::int64_t offset) {
        return b.narrow(2, offset, 2).contiguous().view(torch::kHalf).to(torch::kFloat32);
    };
    auto nibbles = [&](std::int64_t offset) {
        auto q = b.narrow(2, offset, 16);
        return torch::cat({q.bitwise_and(15), q.bitwise_right_shift(4)}, 2).to(torch::kFloat32);
    };
    const auto d = halfAt(0); // [rows, blocks, 1]
    torch::Tensor w;
    switch (m.format) {
    case QuantFormat::Q8_0: w = b.narrow(2, 2, 32).contiguous().view(torch::kInt8).to(torch::kFloat32) * d; break;
    case QuantFormat::Q4_0: w = (nibbles(2) - 8) * d; break;
    case QuantFormat::Q4_1: w = nibbles(4) * d + halfAt(2); break;
    case QuantFormat::None: throw Error("a quantized matrix without a format");
    }
    return w.reshape({m.rows, blocks * kQuantBlock}).narrow(1, 0, m.cols);
}

QuantizedMatrix QuantizedMatrix::empty(QuantFormat format, std::int64_t rows, std::int64_t cols) {
    if (format == QuantFormat::None)
        throw Error("a quantized matrix needs a format (q8_0, q4_0 or q4_1)");
    QuantizedMatrix m;
    m.format = format;
    m.rows = rows;
    m.cols = cols;
    m.data = torch::empty({rows, quantRowBytes(format, cols)}, torch::kUInt8);
    return m;
}

void quantizeRowsInto(const torch::Tensor& w, QuantizedMatrix& into, std::int64_t first_row) {
    if (into.layout != QuantLayout::Rows)
        throw Error("weights are quantized into a matrix in rows, before it is placed");
    if (w.dim() != 2 || w.size(1) != into.cols || first_row < 0 ||
        first_row + w.size(0) > into.rows)
        throw Error("cannot quantize a " + c10::str(w.sizes()) + " weight into rows " +
                    std::to_string(first_row) + ".. of a [" + std::to_string(into.rows) + ", " +
                    std::to_string(into.cols) + "] matrix");
    auto src = w.device().is_cpu() ? w.contiguous() : w.to(torch::kCPU).contiguous();
    if (src.scalar_type() != torch::kFloat32 && src.scalar_type() != torch::kBFloat16 &&
        src.scalar_type() != torch::kHalf)
        throw Error("only float32, bfloat16 and float16 weights can be quantized, not " +
                    std::string(c10::toString(src.scalar_type())));
    const std::int64_t row_bytes = into.data.size(1), k = into.cols;
    auto* dst = into.data.data_ptr<std::uint8_t>() + first_row * row_bytes;
    at::parallel_for(0, src.size(0), grainFor(k * 4), [&](std::int64_t b, std::int64_t e) {
        std::vector<float> row(k);
        for (std::int64_t r = b; r < e; ++r) {
            rowAsFloat(src, r, row.data());
            quantizeRow(into.format, row.data(), k, dst + r * row_bytes);
        }
    });
}

QuantizedMatrix quantizeMatrix(const torch::Tensor& w, QuantFormat format) {
    if (w.dim() != 2)
        throw Error("only a 2-D weight can be quantized, not " + c10::str(w.sizes()));
    auto m = QuantizedMatrix::empty(format, w.size(0), w.size(1));
    quantizeRowsInto(w, m, 0);
    return m;
}

torch::Tensor dequantize(const QuantizedMatrix& m, torch::ScalarType dtype) {
    checkMatrix(m);
    if (m.data.device().is_cpu())
        return dequantizeSliceCpu(m, 0, m.rows).to(dtype);
    return dequantizeWithTensorOps(m).to(dtype);
}

torch::Tensor dequantizeRows(const QuantizedMatrix& m, const torch::Tensor& ids,
                             torch::ScalarType dtype) {
    checkMatrix(m);
    auto flat = ids.to(m.data.device(), torch::kInt64).reshape({-1});
    if (flat.numel() > 0 && (flat.min().item<std::int64_t>() < 0 ||
                             flat.max().item<std::int64_t>() >= m.rows))
        throw Error("token ids outside the embedding's " + std::to_string(m.rows) + " rows");
    QuantizedMatrix picked = m;
    picked.rows = flat.numel();
    if (m.layout == QuantLayout::Rows) {
        picked.data = m.data.index_select(0, flat);
    } else {
        picked.layout = QuantLayout::Rows;
        picked.data = torch::empty({picked.rows, m.data.size(1)}, torch::kUInt8);
        auto* dst = picked.data.data_ptr<std::uint8_t>();
        const auto* id = flat.data_ptr<std::int64_t>();
        for (std::int64_t j = 0; j < picked.rows; ++j)
            deinterleaveRow(m.format, m.data.data_ptr<std::uint8_t>(), m.cols, id[j], dst + j * m.data.size(1));
    }
    auto shape = ids.sizes().vec();
    shape.push_back(m.cols);
    return dequantize(picked, dtype).reshape(shape);
}

torch::Tensor quantizedLinear(const torch::Tensor& x, const QuantizedMatrix& w,
                              const torch::Tensor& bias) {
    checkMatrix(w);
    if (x.size(-1) != w.cols)
        throw Error("a linear of " + std::to_string(w.cols) + " inputs was given " +
                    c10::str(x.sizes()));
    const bool fast = x.device().is_cpu() && w.data.device().is_cpu() &&
                      !(x.requires_grad() && torch::GradMode::is_enabled());
    if (!fast)
        return at::linear(x, dequantize(w, x.scalar_type()),
                          bias.defined() ? std::optional<torch::Tensor>(bias) : std::nullopt);

    auto flat = x.reshape({-1, w.cols});
    const std::int64_t n = flat.size(0);
    auto out = torch::empty({n, w.rows}, torch::kFloat32);
    if (w.layout != QuantLayout::Rows && (n < kGemmRows || quantPrefill() == QuantPrefill::Integer)) {
        flat = flat.to(torch::kFloat32).contiguous();
        integerRowsInto(w, flat.data_ptr<float>(), n, out.data_ptr<float>());
    } else if (n < kGemmRows) {
        flat = flat.to(torch::kFloat32).contiguous();
        for (std::int64_t i = 0; i < n; ++i)
            quantizedGemvInto(w, flat.data_ptr<float>() + i * w.cols, out.data_ptr<float>() + i * w.rows);
    } else {
        floatRowsInto(w, flat, out);
    }
    if (bias.defined())
        out.add_(bias.to(torch::kFloat32));
    auto shape = x.sizes().vec();
    shape.back() = w.rows;
    return out.to(x.scalar_type()).reshape(shape);
}

void quantizedGemvInto(const QuantizedMatrix& w, const float* x, float* y) {
    checkMatrix(w);
    if (!w.data.device().is_cpu())
        throw Error("the quantized matrix-vector loops need the matrix on the CPU");
    // One per calling thread, kept: a decode step quantizes an activation for every linear,
    // and the buffers reach their size once. The workers below read the caller's through this
    // reference (naming the thread_local there would give each worker its own, empty one).
    thread_local Q8Vector kept;
    Q8Vector& q = kept;
    quantizeActivation(x, w.cols, q);
    const QuantIsa isa = activeQuantIsa();
    const auto* base = w.data.data_ptr<std::uint8_t>();
    if (w.layout == QuantLayout::Rows) {
        at::parallel_for(0, w.rows, grainFor(w.data.size(1)), [&](std::int64_t b, std::int64_t e) {
            quantDotRows(isa, w.format, base, w.cols, q, y, b, e);
        });
    } else {
        at::parallel_for(0, interleavedGroups(w.rows), grainFor(kInterleaveRows * w.data.size(1)),
                         [&](std::int64_t b, std::int64_t e) {
                             quantDotGroups(isa, w.format, base, w.cols, &q, 1, y, w.rows, w.rows, b, e);
                         });
    }
}

QuantizedMatrix withLayout(const QuantizedMatrix& m, QuantLayout layout) {
    checkMatrix(m);
    if (m.layout == layout)
        return m;
    auto src = m.data.to(torch::kCPU).contiguous();
    const auto* base = src.data_ptr<std::uint8_t>();
    const std::int64_t row_bytes = src.size(1), groups = interleavedGroups(m.rows);
    QuantizedMatrix out = m;
    out.layout = layout;
    if (layout == QuantLayout::Interleaved16) {
        out.data = torch::empty({kInterleaveRows * groups, row_bytes}, torch::kUInt8);
        auto* dst = out.data.data_ptr<std::uint8_t>();
        at::parallel_for(0, groups, grainFor(kInterleaveRows * row_bytes), [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t g = b; g < e; ++g)
                interleaveGroup(m.format, base, m.rows, m.cols, g, dst + g * kInterleaveRows * row_bytes);
        });
    } else {
        out.data = torch::empty({m.rows, row_bytes}, torch::kUInt8);
        auto* dst = out.data.data_ptr<std::uint8_t>();
        at::parallel_for(0, m.rows, grainFor(row_bytes), [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t r = b; r < e; ++r)
                deinterleaveRow(m.format, base, m.cols, r, dst + r * row_bytes);
        });
    }
    return out;
}

QuantizedMatrix placeQuantized(QuantizedMatrix m, const torch::Device& device) {
    if (!device.is_cpu()) {
        m = withLayout(m, QuantLayout::Rows);
        m.data = m.data.to(device);
        return m;
    }
    const QuantLayout layout = cpuQuantLayout();
    checkMatrix(m);
    // A group of 16 rows takes the same bytes in both layouts, so a matrix of whole groups
    // that nothing else holds is rearranged where it lies, a group at a time: a 7B model's
    // largest matrix (its 139 MB lm_head) is then never held twice while loading.
    if (layout == QuantLayout::Interleaved16 && m.layout == QuantLayout::Rows && m.rows % kInterleaveRows == 0 &&
        m.data.device().is_cpu() && m.data.use_count() == 1 && m.data.storage().use_count() == 1) {
        auto* base = m.data.data_ptr<std::uint8_t>();
        const std::int64_t group_bytes = kInterleaveRows * m.data.size(1);
        at::parallel_for(0, interleavedGroups(m.rows), grainFor(group_bytes), [&](std::int64_t b, std::int64_t e) {
            std::vector<std::uint8_t> rows(group_bytes);
            for (std::int64_t g = b; g < e; ++g) {
                std::memcpy(rows.data(), base + g * group_bytes, group_bytes);
                interleaveGroup(m.format, rows.data(), kInterleaveRows, m.cols, 0, base + g * group_bytes);
            }
        });
        m.layout = layout;
        return m;
    }
    return withLayout(m, layout);
}

QuantLayout cpuQuantLayout() {
    const char* env = std::getenv("VQA_QUANT_LAYOUT");
    const bool rows = env != nullptr && std::strcmp(env, "rows") == 0;
    return !rows && quantIsaInterleaves(activeQuantIsa()) ? QuantLayout::Interleaved16 : QuantLayout::Rows;
}

} // namespace vqa::models
