#include "engine/io/AwqWeights.h"

#include <cstring>

#include <c10/util/Half.h>

#include <ATen/Parallel.h>

#include "models/QuantizedLinear.h"
#include "models/base/Error.h"

namespace vqa {

namespace {

constexpr std::int64_t kPack = 8;  // 4-bit weights per int32
// Column j of a packed int32 sits in its nibble kNibble[j] (AutoAWQ packs the columns
// 0 2 4 6 1 3 5 7 into nibbles 0..7).
constexpr int kNibble[kPack] = {0, 4, 1, 5, 2, 6, 3, 7};

std::string shapeOf(const torch::Tensor& t) { return c10::str(t.sizes()); }

bool endsWith(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string stemOf(const std::string& weight_name) {
    return weight_name.substr(0, weight_name.size() - std::string(".weight").size());
}

// [a, b] int32 of packed columns -> [a, b * 8] int32 of 4-bit values in column order.
torch::Tensor unpackColumns(const torch::Tensor& packed) {
    std::vector<std::int64_t> shifts;
    for (int n : kNibble)
        shifts.push_back(4 * n);
    const auto s = torch::tensor(shifts, torch::kInt32);
    return packed.unsqueeze(-1).bitwise_right_shift(s).bitwise_and(15).reshape({packed.size(0), -1});
}

}  // namespace

void awqToQ41(const torch::Tensor& qweight, const torch::Tensor& qzeros, const torch::Tensor& scales,
              std::int64_t group, std::uint8_t* rows, std::int64_t row_stride) {
    const std::int64_t in = qweight.size(0), packs = qweight.size(1), out = packs * kPack;
    const std::int64_t blocks = in / models::kQuantBlock;
    const std::int64_t block_bytes = models::quantBlockBytes(models::QuantFormat::Q4_1);
    const auto* qw = qweight.data_ptr<std::int32_t>();
    const auto* qz = qzeros.data_ptr<std::int32_t>();
    const auto* sc = scales.data_ptr<float>();
    at::parallel_for(0, blocks, 16, [&](std::int64_t first, std::int64_t last) {
        std::int32_t column[models::kQuantBlock];
        for (std::int64_t b = first; b < last; ++b) {
            const std::int64_t i0 = b * models::kQuantBlock, g = i0 / group;
            for (std::int64_t p = 0; p < packs; ++p) {
                for (std::int64_t t = 0; t < models::kQuantBlock; ++t)
                    column[t] = qw[(i0 + t) * packs + p];
                const std::int32_t zeros = qz[g * packs + p];
                for (std::int64_t j = 0; j < kPack; ++j) {
                    const std::int64_t o = p * kPack + j;
                    const int shift = 4 * kNibble[j];
                    const float d = sc[g * out + o];
                    const float z = static_cast<float>((zeros >> shift) & 15);
                    const c10::Half dh(d), mh(-(d * z));  // d is a float16 already: exact
                    std::uint8_t* dst = rows + o * row_stride + b * block_bytes;
                    std::memcpy(dst, &dh.x, 2);
                    std::memcpy(dst + 2, &mh.x, 2);
                    for (int k = 0; k < 16; ++k)
                        dst[4 + k] = static_cast<std::uint8_t>(((column[k] >> shift) & 15) |
                                                               (((column[k + 16] >> shift) & 15) << 4));
                }
            }
        }
    });
}

bool AwqWeights::packed(const std::string& name) const {
    return endsWith(name, ".weight") && !source_.contains(name) && source_.contains(stemOf(name) + ".qweight");
}

std::vector<std::string> AwqWeights::names() const {
    auto names = source_.names();
    for (const auto& n : source_.names())
        if (endsWith(n, ".qweight"))
            names.push_back(n.substr(0, n.size() - std::string(".qweight").size()) + ".weight");
    return names;
}

void AwqWeights::release(const std::string& name) const {
    if (!packed(name)) {
        source_.release(name);
        return;
    }
    const std::string stem = stemOf(name);
    for (const char* tail : {".qweight", ".qzeros", ".scales"})
        source_.release(stem + tail);
}

AwqWeights::Packed AwqWeights::tensors(const std::string& name, std::int64_t rows, std::int64_t cols) const {
    const std::string stem = stemOf(name);
    Packed p;
    p.qweight = source_.get(stem + ".qweight");
    p.qzeros = source_.get(stem + ".qzeros");
    p.scales = source_.get(stem + ".scales");
    p.group = settings_.group_size == -1 ? cols : settings_.group_size;
    const auto wrong = [&](const std::string& what) {
        throw Error(where_ + ": the AWQ linear '" + stem + "' (qweight " + shapeOf(p.qweight) + " " +
                    std::string(c10::toString(p.qweight.scalar_type())) + ", qzeros " + shapeOf(p.qzeros) + ", scales " +
                    shapeOf(p.scales) + ") " + what);
    };
    if (rows <= 0 || rows % kPack != 0 || cols % p.group != 0 || cols % models::kQuantBlock != 0)
        wrong("cannot hold the [" + std::to_string(rows) + ", " + std::to_string(cols) + "] weight config.json implies in groups of " +
              std::to_string(p.group) + " (AWQ packs 8 outputs per int32; a group must divide the inputs)");
    const std::int64_t groups = cols / p.group;
    if (p.qweight.scalar_type() != torch::kInt32 || p.qzeros.scalar_type() != torch::kInt32 ||
        !p.scales.is_floating_point())
        wrong("is not stored as int32 qweight and qzeros with floating-point scales");
    if (p.qweight.sizes() != c10::IntArrayRef{cols, rows / kPack})
        wrong("should have qweight [" + std::to_string(cols) + ", " + std::to_string(rows / kPack) +
              "] for the weight config.json implies ([" + std::to_string(rows) + ", " + std::to_string(cols) + "])");
    if (p.qzeros.sizes() != c10::IntArrayRef{groups, rows / kPack} || p.scales.sizes() != c10::IntArrayRef{groups, rows})
        wrong("should have " + std::to_string(groups) + " groups of " + std::to_string(p.group) +
              " inputs (group_size in quantization_config)");
    p.qweight = p.qweight.contiguous();
    p.qzeros = p.qzeros.contiguous();
    p.scales = p.scales.to(torch::kFloat32).contiguous();
    return p;
}

torch::Tensor AwqWeights::get(const std::string& name) const {
    if (!packed(name))
        return source_.get(name);
    const std::string stem = stemOf(name);
    const auto qweight = source_.get(stem + ".qweight");
    const std::int64_t cols = qweight.size(0), rows = qweight.dim() == 2 ? qweight.size(1) * kPack : 0;
    const auto p = tensors(name, rows, cols);
    const auto q = unpackColumns(p.qweight);                                   // [in, out]
    const auto z = unpackColumns(p.qzeros).repeat_interleave(p.group, 0);      // [in, out]
    const auto s = p.scales.repeat_interleave(p.group, 0);                     // [in, out]
    return ((q - z).to(torch::kFloat32) * s).t().contiguous();
}

bool AwqWeights::quantizedInto(const std::string& name, std::int64_t rows, models::QuantizedMatrix& into,
                               std::int64_t first_row) const {
    if (!packed(name))
        return source_.quantizedInto(name, rows, into, first_row);
    if (into.format != models::QuantFormat::Q4_1)
        throw Error(where_ + ": '" + stemOf(name) + "' holds AWQ's 4-bit weights, which load as q4_1, not as " +
                    models::quantFormatName(into.format));
    if (first_row < 0 || first_row + rows > into.rows)
        throw Error(where_ + ": '" + stemOf(name) + "' does not fit the rows of the matrix it is read into");
    const auto p = tensors(name, rows, into.cols);
    const std::int64_t stride = into.data.size(1);
    awqToQ41(p.qweight, p.qzeros, p.scales, p.group, into.data.data_ptr<std::uint8_t>() + first_row * stride, stride);
    return true;
}

}  // namespace vqa
