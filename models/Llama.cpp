#include "models/Llama.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "models/base/Error.h"
#include "models/Interrupt.h"

namespace vqa::models {

LlamaDecoder::LlamaDecoder(const LlamaConfig& c, WeightLoader& w, const std::string& prefix,
                           const std::string& lm_head, const Quantization& quantization)
    : config_(c), device_(w.device()), dtype_(w.dtype()) {
    if (c.hidden_size <= 0 || c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 ||
        c.num_attention_heads % c.num_key_value_heads != 0 || c.head_dim <= 0 ||
        c.head_dim % 2 != 0)
        throw Error("text_config: num_attention_heads " + std::to_string(c.num_attention_heads) +
                    ", num_key_value_heads " + std::to_string(c.num_key_value_heads) +
                    " and head_dim " + std::to_string(c.head_dim) +
                    " do not describe grouped-query attention (heads a multiple of key/value "
                    "heads, an even head_dim)");
    if (!c.mrope_section.empty()) {
        int sum = 0;
        for (int n : c.mrope_section)
            sum += n > 0 ? n : (1 << 20);
        if (sum != c.head_dim / 2)
            throw Error("text_config: mrope_section must split the " + std::to_string(c.head_dim / 2) +
                        " rotary frequencies (head_dim / 2) into positive parts, but its parts sum to " +
                        (sum >= (1 << 20) ? std::string("a non-positive part") : std::to_string(sum)));
    }
    const std::int64_t hidden = c.hidden_size, inter = c.intermediate_size, d = c.head_dim;
    const std::int64_t q_out = c.num_attention_heads * d, kv_out = c.num_key_value_heads * d;

    const QuantFormat q = quantization.linears, qe = quantization.embeddings;
    if (qe != QuantFormat::None)
        embed_quantized_ = std::make_shared<const QuantizedMatrix>(
            w.takeQuantized(prefix + ".embed_tokens.weight", c.vocab_size, hidden, qe));
    else
        embed_tokens_ = w.take(prefix + ".embed_tokens.weight", {c.vocab_size, hidden});
    for (int i = 0; i < c.num_hidden_layers; ++i) {
        const std::string l = prefix + ".layers." + std::to_string(i) + ".";
        LlamaDecoderLayer layer;
        layer.input_layernorm = w.take(l + "input_layernorm.weight", {hidden});
        layer.qkv = w.fusedLinear(
            {l + "self_attn.q_proj", l + "self_attn.k_proj", l + "self_attn.v_proj"}, hidden,
            {q_out, kv_out, kv_out}, c.attention_bias || c.qkv_bias, q);
        layer.o_proj = w.linear(l + "self_attn.o_proj", q_out, hidden, c.attention_bias, q);
        if (c.qk_norm) {
            layer.q_norm = w.take(l + "self_attn.q_norm.weight", {d});
            layer.k_norm = w.take(l + "self_attn.k_norm.weight", {d});
        }
        layer.post_attention_layernorm = w.take(l + "post_attention_layernorm.weight", {hidden});
        layer.gate_up = w.fusedLinear({l + "mlp.gate_proj", l + "mlp.up_proj"}, hidden,
                                      {inter, inter}, c.mlp_bias, q);
        layer.down_proj = w.linear(l + "mlp.down_proj", inter, hidden, c.mlp_bias, q);
        layers_.push_back(std::move(layer));
    }
    norm_ = w.take(prefix + ".norm.weight", {hidden});
    // Tied: the reference ties lm_head to embed_tokens even when the file also holds lm_head.
    if (c.tie_word_embeddings) {
        lm_head_.weight = embed_tokens_;
        lm_head_.quantized = embed_quantized_;
    } else if (qe != QuantFormat::None) {
        lm_head_.quantized = std::make_shared<const QuantizedMatrix>(
            w.takeQuantized(lm_head, c.vocab_size, hidden, qe));
    } else {
        lm_head_.weight = w.take(lm_head, {c.vocab_size, hidden});
    }
    rotary_ = Rotary::make(c.head_dim, c.rope_theta, device_);
    const std::int64_t table = std::clamp(c.max_position_embeddings, 1, 1 << 15);
    std::tie(cos_table_, sin_table_) = rotary_.cosSin(
        torch::arange(table, torch::dtype(torch::kInt64).device(device_)), dtype_);
}

torch::Tensor LlamaDecoder::embed(const torch::Tensor& ids) const {
    if (embed_quantized_)
        return dequantizeRows(*embed_quantized_, ids, dtype_);
    return at::embedding(embed_tokens_, ids.to(device_, torch::kInt64));
}

KvCache LlamaDecoder::newCache(std::int64_t capacity) const {
    KvCache cache;
    const auto opts = torch::dtype(dtype_).device(device_);
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        cache.keys.push_back(
            torch::empty({config_.num_key_value_heads, capacity, config_.head_dim}, opts));
        cache.values.push_back(
            torch::empty({config_.num_key_value_heads, capacity, config_.head_dim}, opts));
    }
    return cache;
}

std::int64_t LlamaDecoder::packHalfPanels() const {
    std::int64_t bytes = 0;
    for (const auto& layer : layers_)
        for (const Linear* l : {&layer.qkv, &layer.o_proj, &layer.gate_up, &layer.down_proj})
            bytes += l->packHalfPanels();
    return bytes;
}

std::pair<torch::Tensor, torch::Tensor> LlamaDecoder::rotaryFor(const torch::Tensor& positions,
                                                                const KvCache& cache,
                                                                std::int64_t t) const {
    const auto ints = torch::dtype(torch::kInt64).device(device_);
    if (!positions.defined()) {
        const std::int64_t first = cache.length + cache.rope_delta;
        if (first >= 0 && first + t <= cos_table_.size(0))
            return {cos_table_.narrow(0, first, t), sin_table_.narrow(0, first, t)};
        return rotary_.cosSin(torch::arange(first, first + t, ints), dtype_);
    }
    auto p = positions.to(ints);
    if (p.dim() == 2 && p.size(0) == 3 && p.size(1) == t) {
        if (!config_.mrope_section.empty())
            return rotary_.cosSinSections(p, config_.mrope_section, dtype_, config_.mrope_interleaved);
        if (!p.eq(p[0].unsqueeze(0)).all().item<bool>())
            throw Error("this decoder has one rotary position per token, but was given three "
                        "different ones (multimodal rotary positions need mrope_section)");
        p = p[0];
    }
    if (p.dim() != 1 || p.size(0) != t)
        throw Error("rotary positions must be [" + std::to_string(t) + "] or [3, " + std::to_string(t) +
                    "], one per token; got " + c10::str(p.sizes()));
    return rotary_.cosSin(p, dtype_);
}

torch::Tensor LlamaDecoder::forward(const torch::Tensor& embeds, KvCache& cache, bool all_logits,
                                    AttentionCapture* capture, const torch::Tensor& positions,
                                    const LayerAdditions* additions) const {
    const std::int64_t heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads;
    const std::int64_t d = config_.head_dim, groups = heads / kv_heads;
    if (embeds.dim() != 2 || embeds.size(1) != config_.hidden_size || embeds.size(0) == 0)
        throw Error("decoder input must be [tokens, " + std::to_string(config_.hidden_size) +
                    "] embeddings with at least one token");
    const std::int64_t t = embeds.size(0), start = cache.length, s = start + t;
    if (cache.keys.size() != layers_.size() || cache.values.size() != layers_.size())
        throw Error("the KV cache was made for another model (" +
                    std::to_string(cache.keys.size()) + " layers, this decoder has " +
                    std::to_string(layers_.size()) + ")");
    if (s > cache.capacity())
        throw Error("the conversation needs " + std::to_string(s) +
                    " positions, but the KV cache holds " + std::to_string(cache.capacity()) +
                    "; start a new conversation or raise the context size");
    if (capture) {
        if (!capture->positions.defined() || capture->positions.dim() != 1)
            throw Error("attention capture needs a 1-D tensor of key positions");
        if (capture->positions.numel() > 0 && (capture->positions.min().item<std::int64_t>() < 0 ||
                                               capture->positions.max().item<std::int64_t>() >= s))
            throw Error("attention capture asks for key positions outside 0.." +
                        std::to_string(s - 1));
        capture->rows.assign(layers_.size(), torch::Tensor());
        capture->full_rows.assign(layers_.size(), torch::Tensor());
    }
    auto capture_positions =
        capture ? capture->positions.to(device_, torch::kInt64) : torch::Tensor();
    if (additions && additions->empty())
        additions = nullptr;
    torch::Tensor addition_rows;
    if (additions) {
        addition_rows = additions->rows.to(device_, torch::kInt64);
        if (addition_rows.dim() != 1 || addition_rows.min().item<std::int64_t>() < 0 ||
            addition_rows.max().item<std::int64_t>() >= t)
            throw Error("layer additions must name rows among the " + std::to_string(t) + " tokens given");
        if (additions->per_layer.size() > layers_.size())
            throw Error("layer additions for " + std::to_string(additions->per_layer.size()) +
                        " layers, but the decoder has " + std::to_string(layers_.size()));
        for (const auto& a : additions->per_layer)
            if (a.dim() != 2 || a.size(0) != addition_rows.size(0) || a.size(1) != config_.hidden_size)
                throw Error("layer additions must be [" + std::to_string(addition_rows.size(0)) + ", " +
                            std::to_string(config_.hidden_size) + "] per layer, not " + c10::str(a.sizes()));
    }
    // The one-token steps rotate by slot + rope_delta; explicit positions or layer additions
    // take the general path.
    const std::int64_t rope_position = start + cache.rope_delta;
    const bool plain = !positions.defined() && !additions;
    if (plain && cpuStepApplies(embeds, rope_position, capture)) // LlamaCpuStep.cpp
        return lm_head_(
            rmsNorm(cpuStep(embeds, cache, capture, capture_positions), norm_, config_.rms_norm_eps));
    if (plain && graphStepApplies(embeds, rope_position, capture)) // LlamaGraphStep.cpp
        return graphStep(embeds, cache, capture);

    auto [cos, sin] = rotaryFor(positions, cache, t); // [T, D]
    const std::int64_t next_delta =
        positions.defined() ? positions.max().item<std::int64_t>() + 1 - s : cache.rope_delta;

    // Causal masking: a single query sees every cached key; a prefill from an empty cache is
    // plain causal; a prefill after cached tokens needs the mask shifted by `start`.
    torch::Tensor mask;
    bool causal = false;
    if (t > 1 && start == 0) {
        causal = true;
    } else if (t > 1) {
        auto positions = torch::arange(start, s, torch::dtype(torch::kInt64).device(device_));
        auto keys = torch::arange(s, positions.options());
        mask = (keys.unsqueeze(0) <= positions.unsqueeze(1)).view({1, 1, t, s});
    }
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));

    auto h = embeds.to(device_, dtype_);
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        checkInterrupt();
        const auto& layer = layers_[i];
        // Rotated keys and the values go straight into their slots of the cache.
        torch::Tensor k, v;
        auto q = projectQkv(layer, h, cos, sin, k, v);
        auto key_slot = cache.keys[i].narrow(1, start, t);
        applyRotaryInto(key_slot, k, cos, sin);
        cache.values[i].narrow(1, start, t).copy_(v);
        auto keys = cache.keys[i].narrow(1, 0, s); // [KV, S, D]
        auto values = cache.values[i].narrow(1, 0, s);

        torch::Tensor a; // [H, T, D]
        if (t == 1 && groups > 1) {
            // One query sees every key: its heads, grouped by key/value head, become the
            // queries of a plain attention over the cache, so no key/value head is copied.
            a = attention(q.reshape({1, kv_heads, groups, d}), keys.unsqueeze(0),
                          values.unsqueeze(0), torch::Tensor(), false, scale)
                    .reshape({heads, 1, d});
        } else {
            a = attention(q.unsqueeze(0), keys.unsqueeze(0), values.unsqueeze(0), mask, causal,
                          scale)
                    .squeeze(0);
        }
        if (capture) {
            // The last query's row, computed on its own (it sees every key). Its output
            // replaces the fast path's last row, so under autograd the captured row is part
            // of the graph.
            const bool offset = i < capture->row_offsets.size() && capture->row_offsets[i].defined();
            auto [probs, last] = singleQueryAttention(
                q.narrow(1, t - 1, 1), keys, values, torch::Tensor(),
                offset ? capture->row_offsets[i] : torch::Tensor());
            capture->rows[i] = probs.index_select(1, capture_positions);
            capture->full_rows[i] = probs;
            a = t > 1 ? torch::cat({a.narrow(1, 0, t - 1), last}, 1) : last;
        }
        a = a.transpose(0, 1).reshape({t, heads * d});
        h = mlpResidual(layer, h + layer.o_proj(a));
        if (additions && i < additions->per_layer.size()) // out of place: fine under autograd
            h = h.index_add(0, addition_rows, additions->per_layer[i].to(device_, dtype_));
    }
    cache.length = s;
    cache.rope_delta = next_delta;
    if (!all_logits)
        h = h.narrow(0, t - 1, 1);
    h = rmsNorm(h, norm_, config_.rms_norm_eps);
    return lm_head_(h);
}

torch::Tensor LlamaDecoder::projectQkv(const LlamaDecoderLayer& layer, const torch::Tensor& h,
                                       const torch::Tensor& cos, const torch::Tensor& sin,
                                       torch::Tensor& k, torch::Tensor& v) const {
    const std::int64_t heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads;
    const std::int64_t d = config_.head_dim, t = h.size(0);
    auto x = rmsNorm(h, layer.input_layernorm, config_.rms_norm_eps);
    auto qkv = layer.qkv(x).view({t, heads + 2 * kv_heads, d}); // [T, H + 2 KV, D]
    auto q_in = qkv.narrow(1, 0, heads);
    k = qkv.narrow(1, heads, kv_heads);
    v = qkv.narrow(1, heads + kv_heads, kv_heads).transpose(0, 1);
    if (layer.q_norm.defined()) { // Qwen3: each head normalized before the rotation
        q_in = rmsNorm(q_in, layer.q_norm, config_.rms_norm_eps);
        k = rmsNorm(k, layer.k_norm, config_.rms_norm_eps);
    }
    k = k.transpose(0, 1);
    auto q = torch::empty({heads, t, d}, qkv.options());
    applyRotaryInto(q, q_in.transpose(0, 1), cos, sin);
    return q;
}

std::pair<torch::Tensor, torch::Tensor>
LlamaDecoder::singleQueryAttention(const torch::Tensor& q, const torch::Tensor& keys,
                                   const torch::Tensor& values, const torch::Tensor& keep,
                                   const torch::Tensor& offset) const {
    const std::int64_t heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads;
    const std::int64_t d = config_.head_dim, groups = heads / kv_heads, s = keys.size(1);
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    auto scores = at::matmul(q.reshape({kv_heads, groups, d}), keys.transpose(1, 2)) * scale;
    scores = scores.reshape({heads, s}); // [H, S]
    if (keep.defined()) // selects rather than adds: unfilled slots may hold anything
        scores = scores.masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());
    auto probs = at::softmax(scores, -1, torch::kFloat32);
    if (offset.defined())
        probs = probs + offset.to(probs.device(), torch::kFloat32);
    auto out = at::matmul(probs.to(dtype_).view({kv_heads, groups, s}), values).view({heads, 1, d});
    return {probs, out};
}

torch::Tensor LlamaDecoder::mlpResidual(const LlamaDecoderLayer& layer, const torch::Tensor& h) const {
    const auto inter = config_.intermediate_size;
    auto gate_up = layer.gate_up(rmsNorm(h, layer.post_attention_layernorm, config_.rms_norm_eps));
    return h + layer.down_proj(gatedActivation("silu", gate_up, inter));
}

} // namespace vqa::models
