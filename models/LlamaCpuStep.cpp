// One token through the Llama decoder on the CPU, in plain loops: what
// LlamaDecoder::forward does for a single query, without the ~40 ATen calls per layer
// (dispatch, allocation, dtype conversions) that cost a decode step about as much as a
// fifth of its matrix-vector products once those stream at memory speed.
//
// The arithmetic follows the reference op by op and rounds to the model's dtype where the
// reference's tensors would be rounded (after every op; a no-op in float32), so it gives
// what the general path gives up to summation order. Activations live in float32 buffers
// made once per step; the products go through CpuGemv's loops.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include <ATen/Parallel.h>

#include "models/CpuGemv.h"
#include "models/Interrupt.h"
#include "models/Llama.h"

namespace vqa::models {

namespace {

std::atomic<bool> g_step_disabled{false};

// A value of the model's dtype, held in a float: rounds to bfloat16 when the model is.
struct Rounder {
    bool bf16;
    float operator()(float v) const { return bf16 ? static_cast<float>(c10::BFloat16(v)) : v; }
};

// Reads element i of a contiguous float32 or bfloat16 tensor's storage as float.
float readAt(const void* data, bool bf16, std::int64_t i) {
    return bf16 ? static_cast<float>(static_cast<const c10::BFloat16*>(data)[i])
                : static_cast<const float*>(data)[i];
}

// An activation vector in the model's dtype, as the input of a matrix-vector product.
class DtypeVector {
  public:
    DtypeVector(std::int64_t n, bool bf16) : bf16_(bf16), f_(bf16 ? 0 : n), b_(bf16 ? n : 0) {}
    void set(const float* v, std::int64_t n) {
        if (bf16_)
            std::copy(v, v + n, b_.begin()); // exact: v is already rounded to bfloat16
        else
            std::copy(v, v + n, f_.begin());
    }
    const void* data() const {
        return bf16_ ? static_cast<const void*>(b_.data()) : static_cast<const void*>(f_.data());
    }

  private:
    bool bf16_;
    std::vector<float> f_;
    std::vector<c10::BFloat16> b_;
};

// out = round(x / sqrt(mean(x^2) + eps)) * weight, rounded: the reference's RMSNorm over the
// n values at x (out may be x).
void rmsNormInto(const float* x, std::int64_t n, const torch::Tensor& weight, double eps,
                 const Rounder& round, float* out) {
    double sum = 0;
    for (std::int64_t i = 0; i < n; ++i)
        sum += static_cast<double>(x[i]) * x[i];
    const float inv = 1.0f / std::sqrt(static_cast<float>(sum / n) + static_cast<float>(eps));
    const void* w = weight.data_ptr();
    for (std::int64_t i = 0; i < n; ++i)
        out[i] = round(readAt(w, round.bf16, i) * round(x[i] * inv));
}

void rmsNormInto(const std::vector<float>& x, const torch::Tensor& weight, double eps,
                 const Rounder& round, std::vector<float>& out) {
    rmsNormInto(x.data(), static_cast<std::int64_t>(x.size()), weight, eps, round, out.data());
}

// y = round(W x + b) for a layer's Linear; `xf` is x as floats (what quantized weights take).
void linearInto(const Linear& l, const DtypeVector& x, const float* xf, const Rounder& round,
                std::vector<float>& y) {
    if (l.quantized)
        quantizedGemvInto(*l.quantized, xf, y.data());
    else
        cpuGemvInto(l.weight, x.data(), y.data());
    const auto n = l.outFeatures();
    if (l.bias.defined()) {
        const void* b = l.bias.data_ptr();
        for (std::int64_t i = 0; i < n; ++i)
            y[i] += readAt(b, round.bf16, i);
    }
    for (std::int64_t i = 0; i < n; ++i)
        y[i] = round(y[i]);
}

// x * cos + rotate_half(x) * sin for one head of `d` values, rounding like the reference.
void rotate(float* x, const float* cos, const float* sin, std::int64_t d, const Rounder& round) {
    const std::int64_t half = d / 2;
    for (std::int64_t i = 0; i < half; ++i) {
        const float x1 = x[i], x2 = x[i + half];
        x[i] = round(round(x1 * cos[i]) + round(-x2 * sin[i]));
        x[i + half] = round(round(x2 * cos[i + half]) + round(x1 * sin[i + half]));
    }
}

} // namespace

void setCpuDecodeStepDisabled(bool disabled) {
    g_step_disabled = disabled;
}

bool LlamaDecoder::cpuStepApplies(const torch::Tensor& embeds, std::int64_t position,
                                  const AttentionCapture* capture) const {
    const bool embedsRequireGrad = embeds.requires_grad();
    const std::int64_t tokens = embeds.size(0);
    // Capture is served (the rows are the step's own softmax), but not its gradient check's
    // row offsets.
    const bool capture_ok = capture == nullptr || capture->row_offsets.empty();
    return tokens == 1 && capture_ok && !g_step_disabled && device_.is_cpu() &&
           !embedsRequireGrad && (dtype_ == torch::kFloat32 || dtype_ == torch::kBFloat16) &&
           cpuGemvSupports(dtype_) && position >= 0 && position < cos_table_.size(0);
}

torch::Tensor LlamaDecoder::cpuStep(const torch::Tensor& embeds, KvCache& cache,
                                    AttentionCapture* capture,
                                    const torch::Tensor& capture_positions) const {
    const LlamaConfig& c = config_;
    const std::int64_t hidden = c.hidden_size, inter = c.intermediate_size, d = c.head_dim;
    const std::int64_t heads = c.num_attention_heads, kv_heads = c.num_key_value_heads;
    const std::int64_t groups = heads / kv_heads, keys_seen = cache.length + 1;
    const std::int64_t rope_pos = cache.length + cache.rope_delta; // rotary position
    const bool bf16 = dtype_ == torch::kBFloat16;
    const Rounder round{bf16};
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));

    // This position's cos/sin, as the model's dtype holds them.
    std::vector<float> cos(d), sin(d);
    for (std::int64_t i = 0; i < d; ++i) {
        cos[i] = readAt(cos_table_.data_ptr(), bf16, rope_pos * d + i);
        sin[i] = readAt(sin_table_.data_ptr(), bf16, rope_pos * d + i);
    }

    auto input = embeds.to(dtype_).to(torch::kFloat32).contiguous();
    std::vector<float> h(input.data_ptr<float>(), input.data_ptr<float>() + hidden);
    std::vector<float> x(hidden), qkv((heads + 2 * kv_heads) * d), attn(heads * d), out(hidden);
    std::vector<float> gate_up(2 * inter), mlp(inter);
    DtypeVector x_in(hidden, bf16), attn_in(heads * d, bf16), mlp_in(inter, bf16);
    std::vector<float> scores(heads * keys_seen); // one row per head
    // With a capture: every layer's softmax rows over every key, and over the captured
    // positions, written by the loops below into one tensor each for the whole step (a layer's
    // are views of them): no allocation or gather op per layer.
    const auto layer_count = static_cast<std::int64_t>(layers_.size());
    torch::Tensor all_probs, all_rows, positions;
    std::int64_t kept = 0;
    if (capture) {
        positions = capture_positions.contiguous();  // int64 on the CPU, checked by forward()
        kept = positions.numel();
        all_probs = torch::empty({layer_count, heads, keys_seen}, torch::kFloat32);
        all_rows = torch::empty({layer_count, heads, kept}, torch::kFloat32);
    }

    for (std::size_t li = 0; li < layers_.size(); ++li) {
        checkInterrupt();
        const auto& layer = layers_[li];

        // Attention: RMSNorm, q/k/v, rotary on q and k, k and v into the cache.
        rmsNormInto(h, layer.input_layernorm, c.rms_norm_eps, round, x);
        x_in.set(x.data(), hidden);
        linearInto(layer.qkv, x_in, x.data(), round, qkv);
        if (layer.q_norm.defined()) // Qwen3: each query and key head normalized first
            for (std::int64_t head = 0; head < heads + kv_heads; ++head)
                rmsNormInto(qkv.data() + head * d, d, head < heads ? layer.q_norm : layer.k_norm,
                            c.rms_norm_eps, round, qkv.data() + head * d);
        for (std::int64_t head = 0; head < heads + kv_heads; ++head)
            rotate(qkv.data() + head * d, cos.data(), sin.data(), d, round);
        auto& keys = cache.keys[li];
        auto& values = cache.values[li];
        const std::int64_t kv_stride = keys.size(1) * d; // [KV, capacity, D]
        for (std::int64_t kv = 0; kv < kv_heads; ++kv) {
            const float* k = qkv.data() + (heads + kv) * d;
            const float* v = qkv.data() + (heads + kv_heads + kv) * d;
            const std::int64_t slot = kv * kv_stride + cache.length * d;
            if (bf16) {
                std::copy(k, k + d, keys.data_ptr<c10::BFloat16>() + slot);
                std::copy(v, v + d, values.data_ptr<c10::BFloat16>() + slot);
            } else {
                std::copy(k, k + d, keys.data_ptr<float>() + slot);
                std::copy(v, v + d, values.data_ptr<float>() + slot);
            }
        }

        // Each query head against its key/value head over every cached position: scores
        // by the matrix-vector loops (the cached keys are [positions, D] rows), softmax in
        // float32, then the probability-weighted sum of the values. Heads are independent
        // and split over the intra-op threads (each head's arithmetic is the same whichever
        // thread runs it); at long contexts this is a fifth of the step's memory traffic.
        const char* key_base = static_cast<const char*>(keys.data_ptr());
        const char* value_base = static_cast<const char*>(values.data_ptr());
        const std::int64_t elem = keys.element_size();
        // With a capture, this layer's softmax rows over every key, [heads, keys], and over the
        // captured positions, [heads, kept].
        float* probs = capture ? all_probs.data_ptr<float>() + std::int64_t(li) * heads * keys_seen : nullptr;
        float* rows = capture ? all_rows.data_ptr<float>() + std::int64_t(li) * heads * kept : nullptr;
        const std::int64_t* kept_at = capture ? positions.data_ptr<std::int64_t>() : nullptr;
        at::parallel_for(0, heads, 1, [&](std::int64_t first, std::int64_t last) {
            DtypeVector query(d, bf16);
            for (std::int64_t head = first; head < last; ++head) {
                const std::int64_t kv = head / groups;
                float* row = scores.data() + head * keys_seen;
                query.set(qkv.data() + head * d, d);
                cpuGemvRows(dtype_, key_base + kv * kv_stride * elem, query.data(), row,
                            keys_seen, d);
                float max = -INFINITY;
                for (std::int64_t s = 0; s < keys_seen; ++s)
                    max = std::max(max, row[s] *= scale);
                float sum = 0;
                for (std::int64_t s = 0; s < keys_seen; ++s)
                    sum += (row[s] = std::exp(row[s] - max));
                for (std::int64_t s = 0; s < keys_seen; ++s)
                    row[s] /= sum;
                if (probs) {
                    std::copy(row, row + keys_seen, probs + head * keys_seen);
                    for (std::int64_t j = 0; j < kept; ++j)
                        rows[head * kept + j] = row[kept_at[j]];
                }
                float* o = attn.data() + head * d;
                std::fill(o, o + d, 0.0f);
                const void* v_head = value_base + kv * kv_stride * elem;
                for (std::int64_t s = 0; s < keys_seen; ++s) {
                    const float p = row[s];
                    if (bf16) {
                        const auto* v = static_cast<const c10::BFloat16*>(v_head) + s * d;
                        for (std::int64_t i = 0; i < d; ++i)
                            o[i] += p * static_cast<float>(v[i]);
                    } else {
                        const float* v = static_cast<const float*>(v_head) + s * d;
                        for (std::int64_t i = 0; i < d; ++i)
                            o[i] += p * v[i];
                    }
                }
                for (std::int64_t i = 0; i < d; ++i)
                    o[i] = round(o[i]);
            }
        });
        if (capture) {
            capture->rows[li] = all_rows[std::int64_t(li)];
            capture->full_rows[li] = all_probs[std::int64_t(li)];
        }
        attn_in.set(attn.data(), heads * d);
        linearInto(layer.o_proj, attn_in, attn.data(), round, out);
        for (std::int64_t i = 0; i < hidden; ++i)
            h[i] = round(h[i] + out[i]);

        // MLP: RMSNorm, gate and up, SiLU(gate) * up, down.
        rmsNormInto(h, layer.post_attention_layernorm, c.rms_norm_eps, round, x);
        x_in.set(x.data(), hidden);
        linearInto(layer.gate_up, x_in, x.data(), round, gate_up);
        for (std::int64_t i = 0; i < inter; ++i) {
            const float g = gate_up[i];
            mlp[i] = round(round(g / (1.0f + std::exp(-g))) * gate_up[inter + i]);
        }
        mlp_in.set(mlp.data(), inter);
        linearInto(layer.down_proj, mlp_in, mlp.data(), round, out);
        for (std::int64_t i = 0; i < hidden; ++i)
            h[i] = round(h[i] + out[i]);
    }
    cache.length = keys_seen;
    return torch::from_blob(h.data(), {1, hidden}, torch::kFloat32)
        .to(dtype_, /*non_blocking=*/false, /*copy=*/true); // h's buffer ends here
}

} // namespace vqa::models
