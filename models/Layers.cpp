#include "models/Layers.h"

#include <algorithm>
#include <sstream>

#include "models/base/Error.h"
#include "models/CpuAttention.h"
#include "models/CpuGelu.h"
#include "models/CpuGemmF32.h"
#include "models/CpuGemv.h"
#include "models/CpuRowOps.h"

namespace vqa::models {

namespace {

std::string shapeString(c10::IntArrayRef shape) {
    std::ostringstream s;
    s << '[';
    for (std::size_t i = 0; i < shape.size(); ++i)
        s << (i ? ", " : "") << shape[i];
    s << ']';
    return s.str();
}

} // namespace

torch::Tensor Linear::operator()(const torch::Tensor& x) const {
    if (quantized)
        return quantizedLinear(x, *quantized, bias);
    return linear(x, weight, bias, half_panels.get());
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias, HalfPanelsCache* half_panels) {
    if (cpuGemvApplies(x, weight))
        return cpuGemv(x, weight, bias); // one token on the CPU: see CpuGemv.h
    if (cpuBf16RowsApply(x, weight))
        return cpuBf16RowsLinear(x, weight, bias); // many bfloat16 rows: see CpuGemv.h
    if (auto y = cpuHalfFloat32RowsLinear(x, weight, bias, half_panels); y.defined())
        return y; // many float32 rows under the "fast" precision: see CpuGemv.h
    if (auto y = cpuF32RowsLinear(x, weight, bias); y.defined())
        return y; // a few float32 rows (a prompt): see CpuGemmF32.h
    return at::linear(x, weight,
                      bias.defined() ? std::optional<torch::Tensor>(bias) : std::nullopt);
}

Linear fuseLinears(const std::vector<Linear>& parts) {
    std::vector<torch::Tensor> weights, biases;
    bool any_bias = false;
    for (const auto& p : parts)
        any_bias = any_bias || p.bias.defined();
    for (const auto& p : parts) {
        weights.push_back(p.weight);
        if (any_bias)
            biases.push_back(
                p.bias.defined() ? p.bias : torch::zeros({p.outFeatures()}, p.weight.options()));
    }
    Linear fused;
    fused.weight = torch::cat(weights, 0).contiguous();
    if (any_bias)
        fused.bias = torch::cat(biases, 0).contiguous();
    return fused;
}

torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
    if (auto y = cpuRmsNorm(x, weight, eps)) // one pass; refuses tensors that record gradients
        return *y;
    auto input_dtype = x.scalar_type();
    auto h = x.to(torch::kFloat32);
    h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
    return weight * h.to(input_dtype);
}

torch::Tensor layerNorm(const torch::Tensor& x, const torch::Tensor& weight,
                        const torch::Tensor& bias, double eps) {
    return at::layer_norm(x, {x.size(-1)}, weight, bias, eps);
}

torch::Tensor geluTanh(const torch::Tensor& x) {
    if (auto y = cpuGeluTanhBf16(x)) // refuses tensors that record gradients
        return *y;
    return at::gelu(x, "tanh");
}

torch::Tensor quickGelu(const torch::Tensor& x) {
    if (auto y = cpuQuickGeluBf16(x)) // refuses tensors that record gradients
        return *y;
    return x * torch::sigmoid(1.702 * x);
}

torch::Tensor silu(const torch::Tensor& x) {
    return at::silu(x);
}

torch::Tensor gatedActivation(const std::string& name, const torch::Tensor& gate_up, std::int64_t inter) {
    if (name == "silu" || name == "swish")
        if (auto y = cpuSiluGate(gate_up, inter)) // one pass; refuses tensors that record gradients
            return *y;
    return activation(name, gate_up.narrow(-1, 0, inter)) * gate_up.narrow(-1, inter, inter);
}

bool isKnownActivation(const std::string& name) {
    return name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_fast" ||
           name == "gelu" || name == "quick_gelu" || name == "silu" || name == "swish";
}

torch::Tensor activation(const std::string& name, const torch::Tensor& x) {
    if (name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_fast")
        return geluTanh(x); // the tanh approximation, in all three of its spellings
    if (name == "gelu")
        return at::gelu(x);
    if (name == "quick_gelu")
        return quickGelu(x);
    if (name == "silu" || name == "swish")
        return models::silu(x);
    throw Error("activation '" + name +
                "' is not implemented; supported: gelu_pytorch_tanh, gelu, quick_gelu, silu");
}

Rotary Rotary::make(int head_dim, double theta, torch::Device device) {
    // inv_freq = 1 / theta^(arange(0, dim, 2) / dim), all in float32 like the reference.
    auto exponents =
        torch::arange(0, head_dim, 2, torch::dtype(torch::kInt64)).to(torch::kFloat32) /
        static_cast<float>(head_dim);
    auto base = torch::full({}, theta, torch::dtype(torch::kFloat32));
    Rotary r;
    r.inv_freq = (1.0 / torch::pow(base, exponents)).to(device);
    return r;
}

std::pair<torch::Tensor, torch::Tensor> Rotary::cosSin(const torch::Tensor& positions,
                                                       torch::ScalarType dtype) const {
    auto freqs = positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq; // [T, D/2]
    auto emb = torch::cat({freqs, freqs}, -1);
    return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

std::pair<torch::Tensor, torch::Tensor> Rotary::cosSinSections(const torch::Tensor& positions,
                                                               const std::vector<int>& sections,
                                                               torch::ScalarType dtype,
                                                               bool interleaved) const {
    // [3, T, D/2]: every axis's angles; then each section of the frequencies takes its axis's.
    auto freqs = positions.to(inv_freq.device(), torch::kFloat32).unsqueeze(-1) * inv_freq;
    if (interleaved) {
        const std::int64_t n = freqs.size(-1);
        auto half = freqs[0].clone();
        for (std::int64_t axis = 1; axis <= 2 && axis < static_cast<std::int64_t>(sections.size()); ++axis) {
            const std::int64_t end = std::min<std::int64_t>(3 * sections[axis], n);
            if (end <= axis)
                continue;
            auto idx = torch::arange(axis, end, 3, torch::dtype(torch::kInt64).device(freqs.device()));
            half.index_copy_(-1, idx, freqs[axis].index_select(-1, idx));
        }
        auto emb = torch::cat({half, half}, -1);
        return {emb.cos().to(dtype), emb.sin().to(dtype)};
    }
    std::vector<torch::Tensor> parts;
    std::int64_t offset = 0;
    for (std::size_t j = 0; j < sections.size(); ++j) {
        parts.push_back(freqs[static_cast<std::int64_t>(j % 3)].narrow(-1, offset, sections[j]));
        offset += sections[j];
    }
    auto half = torch::cat(parts, -1);
    auto emb = torch::cat({half, half}, -1);
    return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

torch::Tensor applyRotary(const torch::Tensor& x, const torch::Tensor& cos,
                          const torch::Tensor& sin) {
    const auto half = x.size(-1) / 2;
    auto x1 = x.narrow(-1, 0, half);
    auto x2 = x.narrow(-1, half, half);
    auto rotated = torch::cat({-x2, x1}, -1);
    return x * cos + rotated * sin;
}

void applyRotaryInto(torch::Tensor& out, const torch::Tensor& x, const torch::Tensor& cos,
                     const torch::Tensor& sin) {
    if (at::GradMode::is_enabled() && (x.requires_grad() || cos.requires_grad())) {
        out.copy_(applyRotary(x, cos, sin)); // out= kernels do not record gradients
        return;
    }
    // [x1, x2] -> [x1 cos1 - x2 sin1, x2 cos2 + x1 sin2]
    const auto half = x.size(-1) / 2;
    auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
    auto o1 = out.narrow(-1, 0, half), o2 = out.narrow(-1, half, half);
    at::mul_out(o1, x1, cos.narrow(-1, 0, half));
    o1.addcmul_(x2, sin.narrow(-1, 0, half), -1);
    at::mul_out(o2, x2, cos.narrow(-1, half, half));
    o2.addcmul_(x1, sin.narrow(-1, half, half));
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& mask, bool causal, double scale) {
    const bool gqa = q.size(-3) != k.size(-3);
    if (q.scalar_type() == torch::kBFloat16 && q.device().is_cpu() && q.size(-2) >= 16 &&
        !q.requires_grad() && !k.requires_grad() && !v.requires_grad()) {
        // Many bfloat16 queries on the CPU (an image's patches): the way measured fastest on
        // this CPU (CpuAttention.h). Widened, the scores are the same (bfloat16 products are
        // exact in float32, both accumulate in float32); only the probabilities stay float32 for
        // the product with the values, where the bfloat16 kernel rounds them; one rounding of
        // the output, as that kernel does. Ours widens as it goes, and where float16 is this
        // CPU's fastest (Half) multiplies the probabilities by the values in float16, with 11
        // bits of each probability (the bfloat16 kernel keeps 8).
        // Causal ones (a prefill) are widened where the products are, not timed on their own.
        const Bf16Attention way =
            causal ? (cpuWidensBf16() ? Bf16Attention::Widened : Bf16Attention::Native) : bf16Attention();
        return cpuBf16Attention(q, k, v, mask, causal, scale, way, bf16Kernels() == Bf16Kernels::Half);
    }
    return at::scaled_dot_product_attention(
        q, k, v, mask.defined() ? std::optional<torch::Tensor>(mask) : std::nullopt,
        /*dropout_p=*/0.0, causal, scale, /*enable_gqa=*/gqa);
}

WeightLoader::WeightLoader(const WeightSource& source, torch::Device device,
                           torch::ScalarType dtype)
    : source_(source), device_(device), dtype_(dtype) {}

torch::Tensor WeightLoader::take(const std::string& name, c10::IntArrayRef shape) {
    auto t = stored(name, shape);
    auto out = t.to(device_, dtype_).contiguous();
    if (out.data_ptr() != t.data_ptr())
        source_.release(name); // converted or moved: the stored bytes are not read again
    return out;
}

torch::Tensor WeightLoader::takeOptional(const std::string& name, c10::IntArrayRef shape) {
    return source_.contains(name) ? take(name, shape) : torch::Tensor();
}

torch::Tensor WeightLoader::stored(const std::string& name, c10::IntArrayRef shape) {
    if (!source_.contains(name))
        throw Error("the checkpoint has no tensor '" + name + "' (expected shape " +
                    shapeString(shape) +
                    "); is it a checkpoint of this model family, and does config.json match it?");
    auto t = source_.get(name);
    if (t.sizes() != shape)
        throw Error("the checkpoint's tensor '" + name + "' has shape " + shapeString(t.sizes()) +
                    ", but config.json implies " + shapeString(shape));
    if (!t.is_floating_point())
        throw Error("the checkpoint's tensor '" + name + "' is not floating point (" +
                    std::string(c10::toString(t.scalar_type())) + ")");
    parameters_ += t.numel();
    return t;
}

void WeightLoader::quantizeInto(const std::string& name, std::int64_t rows, QuantizedMatrix& into,
                                std::int64_t first_row) {
    if (source_.quantizedInto(name, rows, into, first_row)) {
        parameters_ += rows * into.cols;
        source_.release(name);
        return;
    }
    quantizeRowsInto(stored(name, {rows, into.cols}), into, first_row);
    source_.release(name);
}

QuantizedMatrix WeightLoader::takeQuantized(const std::string& name, std::int64_t rows,
                                            std::int64_t cols, QuantFormat format) {
    auto m = QuantizedMatrix::empty(format, rows, cols);
    quantizeInto(name, rows, m, 0);
    return placeQuantized(std::move(m), device_);
}

Linear WeightLoader::fusedLinear(const std::vector<std::string>& prefixes, std::int64_t in,
                                 const std::vector<std::int64_t>& outs, bool bias,
                                 QuantFormat quantize) {
    if (quantize != QuantFormat::None) {
        // Each part is quantized straight into its rows of the fused matrix.
        std::int64_t rows = 0;
        for (auto n : outs)
            rows += n;
        auto m = QuantizedMatrix::empty(quantize, rows, in);
        Linear fused;
        std::vector<torch::Tensor> biases;
        std::int64_t row = 0;
        for (std::size_t i = 0; i < prefixes.size(); ++i) {
            quantizeInto(prefixes[i] + ".weight", outs.at(i), m, row);
            row += outs[i];
            if (bias)
                biases.push_back(take(prefixes[i] + ".bias", {outs[i]}));
        }
        fused.quantized = std::make_shared<const QuantizedMatrix>(placeQuantized(std::move(m), device_));
        if (bias)
            fused.bias = torch::cat(biases).contiguous();
        return fused;
    }
    std::vector<Linear> parts;
    for (std::size_t i = 0; i < prefixes.size(); ++i)
        parts.push_back(linear(prefixes[i], in, outs.at(i), bias));
    Linear fused = fuseLinears(parts);
    parts.clear();
    for (const auto& p : prefixes) {
        source_.release(p + ".weight");
        if (bias)
            source_.release(p + ".bias");
    }
    return fused;
}

Linear WeightLoader::linear(const std::string& prefix, std::int64_t in, std::int64_t out,
                            bool bias, QuantFormat quantize) {
    Linear l;
    if (quantize != QuantFormat::None)
        l.quantized = std::make_shared<const QuantizedMatrix>(
            takeQuantized(prefix + ".weight", out, in, quantize));
    else
        l.weight = take(prefix + ".weight", {out, in});
    if (bias)
        l.bias = take(prefix + ".bias", {out});
    return l;
}

} // namespace vqa::models
