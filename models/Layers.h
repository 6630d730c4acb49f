// Building blocks shared by the model families, as plain functions over tensors, plus the
// loader that takes named weights from a WeightSource. Every function works in any dtype
// and on any device, in inference mode or under autograd.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/CpuGemv.h"
#include "models/QuantizedLinear.h"
#include "models/WeightSource.h"

namespace vqa::models {

// y = x W^T + b, with `bias` optional (undefined tensor: none). The weight is either a float
// tensor or, for a quantized model's decoder, a QuantizedMatrix (then `weight` is undefined).
struct Linear {
    torch::Tensor weight; // [out, in]
    torch::Tensor bias;   // [out] or undefined
    std::shared_ptr<const QuantizedMatrix> quantized;
    // The float16 panels of a float32 weight for the "fast" prefill (CpuGemv.h), made there.
    std::shared_ptr<HalfPanelsCache> half_panels = std::make_shared<HalfPanelsCache>();
    torch::Tensor operator()(const torch::Tensor& x) const;
    // Packs those panels now rather than at the first fast prefill (HalfPanelsCache::packAhead).
    std::int64_t packHalfPanels() const {
        return quantized || !half_panels ? 0 : half_panels->packAhead(weight);
    }
    std::int64_t outFeatures() const { return quantized ? quantized->rows : weight.size(0); }
};

// x W^T + b for any weight; one row on the CPU takes the matrix-vector loops of CpuGemv.h.
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias = {}, HalfPanelsCache* half_panels = nullptr);

// Several linears over the same input as one matrix product (q/k/v, gate/up): their weights
// are concatenated at load time; the result is split back in the order given.
Linear fuseLinears(const std::vector<Linear>& parts);

// Root-mean-square norm (Llama): x / sqrt(mean(x^2) + eps) * weight, computed in float32
// and cast back before the weight, as the reference does.
torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// Layer norm over the last dimension with weight and bias.
torch::Tensor layerNorm(const torch::Tensor& x, const torch::Tensor& weight,
                        const torch::Tensor& bias, double eps);

// Activations, by their Hugging Face names.
torch::Tensor geluTanh(const torch::Tensor& x);  // "gelu_pytorch_tanh"
torch::Tensor quickGelu(const torch::Tensor& x); // "quick_gelu": x * sigmoid(1.702 x)
torch::Tensor silu(const torch::Tensor& x);      // "silu"
// The activation named `name`; throws vqa::Error for names this build does not implement.
torch::Tensor activation(const std::string& name, const torch::Tensor& x);
bool isKnownActivation(const std::string& name);
// A gated MLP's activation(gate) * up from its fused gate/up product [..., 2 * inter] (the
// gate's values first): [..., inter].
torch::Tensor gatedActivation(const std::string& name, const torch::Tensor& gate_up, std::int64_t inter);

// Rotary position embedding with rotate_half pairing (dimension i with i + head_dim/2), as in
// transformers' Llama. cos/sin are computed in float32 and then cast to `dtype`.
struct Rotary {
    torch::Tensor inv_freq; // [head_dim/2] float32, on the model's device

    static Rotary make(int head_dim, double theta, torch::Device device);
    // positions [T] int64 -> cos, sin [T, head_dim] in `dtype`.
    std::pair<torch::Tensor, torch::Tensor> cosSin(const torch::Tensor& positions,
                                                   torch::ScalarType dtype) const;
    // Multimodal rotary (Qwen2-VL's M-RoPE): positions [3, T] int64 (temporal, height,
    // width); the frequencies are split into `sections` (summing to head_dim/2), section j
    // rotated by axis j % 3, as transformers recomposes them. -> cos, sin [T, head_dim].
    // `interleaved` (Qwen3-VL): frequency i turns by the temporal axis but where
    // i % 3 == a < 3 * sections[a] for a = 1 (height) or 2 (width).
    std::pair<torch::Tensor, torch::Tensor> cosSinSections(const torch::Tensor& positions,
                                                           const std::vector<int>& sections,
                                                           torch::ScalarType dtype,
                                                           bool interleaved = false) const;
};
// x [..., T, head_dim] with cos/sin [T, head_dim]: x * cos + rotate_half(x) * sin.
torch::Tensor applyRotary(const torch::Tensor& x, const torch::Tensor& cos,
                          const torch::Tensor& sin);
// The same, written into `out` (same shape as x; any strides, e.g. a slot of the KV cache)
// without temporaries: four elementwise kernels instead of seven and no concatenation.
void applyRotaryInto(torch::Tensor& out, const torch::Tensor& x, const torch::Tensor& cos,
                     const torch::Tensor& sin);

// Scaled dot-product attention. q [B, H, T, D], k/v [B, KV, S, D] with H a multiple of KV
// (grouped-query attention: each key/value head serves H/KV query heads). `mask` is a bool
// tensor broadcastable to [B, H, T, S] (true = may attend) or undefined; `causal` aligns the
// causal mask to the top left (query i sees keys 0..i) and is only meant for S == T.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& mask, bool causal, double scale);

// Takes tensors by their checkpoint names from a WeightSource, checks their shapes, and
// converts them to the model's dtype and device. Errors name the tensor, both shapes and
// the checkpoint's role ("vision model", ...), so a person can tell a wrong checkpoint from
// a wrong config.
class WeightLoader {
  public:
    WeightLoader(const WeightSource& source, torch::Device device, torch::ScalarType dtype);

    // Throws vqa::Error when absent or of another shape.
    torch::Tensor take(const std::string& name, c10::IntArrayRef shape);
    // Undefined tensor when absent (for optional biases); checks the shape when present.
    torch::Tensor takeOptional(const std::string& name, c10::IntArrayRef shape);
    bool contains(const std::string& name) const { return source_.contains(name); }

    // prefix.weight [out, in] and, when `bias`, prefix.bias [out]. With a `quantize` format the
    // weight is quantized as it is read (from the stored bytes, whatever their float type) and
    // the bias keeps the model's dtype.
    Linear linear(const std::string& prefix, std::int64_t in, std::int64_t out, bool bias,
                  QuantFormat quantize = QuantFormat::None);
    // Linears over the same input fused into one (fuseLinears), e.g. q/k/v: prefixes[i] has
    // outs[i] outputs. The parts' stored bytes are released once copied into the fused weight.
    Linear fusedLinear(const std::vector<std::string>& prefixes, std::int64_t in,
                       const std::vector<std::int64_t>& outs, bool bias,
                       QuantFormat quantize = QuantFormat::None);
    // The tensor `name` of shape [rows, cols] quantized to `format`, on the model's device.
    QuantizedMatrix takeQuantized(const std::string& name, std::int64_t rows, std::int64_t cols,
                                  QuantFormat format);

    // Elements of all tensors taken so far.
    std::int64_t parameterCount() const { return parameters_; }
    torch::Device device() const { return device_; }
    torch::ScalarType dtype() const { return dtype_; }

  private:
    // The stored tensor, its shape and type checked and its elements counted.
    torch::Tensor stored(const std::string& name, c10::IntArrayRef shape);
    // Rows first_row.. of `into` from the stored tensor `name` ([rows, into.cols]), released after.
    void quantizeInto(const std::string& name, std::int64_t rows, QuantizedMatrix& into,
                      std::int64_t first_row);

    const WeightSource& source_;
    torch::Device device_;
    torch::ScalarType dtype_;
    std::int64_t parameters_ = 0;
};

} // namespace vqa::models
