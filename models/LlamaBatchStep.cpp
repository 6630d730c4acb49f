// One new token for each of several sequences, each in its own KV cache: the decoder's
// linears (q/k/v, o, gate/up, down, lm_head) run once over all the rows, so a memory-bound
// decode reads every weight once per step for the whole batch instead of once per sequence;
// only the attention, where each sequence has its own keys, runs per sequence.
//
// The sequences are not padded into one tensor: their caches keep their own lengths, so a
// sequence that ends leaves the batch without disturbing the others.
#include "models/Llama.h"

#include <cmath>

#include "models/Interrupt.h"
#include "models/base/Error.h"

namespace vqa::models {

torch::Tensor LlamaDecoder::stepBatch(const torch::Tensor& embeds, const std::vector<KvCache*>& caches) const {
    const std::int64_t batch = static_cast<std::int64_t>(caches.size());
    if (embeds.dim() != 2 || embeds.size(1) != config_.hidden_size || embeds.size(0) != batch || batch == 0)
        throw Error("a batched decoder step needs [sequences, " + std::to_string(config_.hidden_size) +
                    "] embeddings, one row per cache");
    for (const KvCache* cache : caches) {
        if (!cache || cache->keys.size() != layers_.size() || cache->values.size() != layers_.size())
            throw Error("a KV cache of the batch was made for another model");
        if (cache->length + 1 > cache->capacity())
            throw Error("a sequence of the batch needs " + std::to_string(cache->length + 1) +
                        " positions, but its KV cache holds " + std::to_string(cache->capacity()));
    }
    // One sequence: the single-token step, with its own fast paths.
    if (batch == 1)
        return forward(embeds, *caches.front(), /*all_logits=*/false, nullptr);

    const std::int64_t heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads;
    const std::int64_t d = config_.head_dim, groups = heads / kv_heads;
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));

    // Each row's rotary position: its slot plus its cache's rope_delta.
    std::vector<std::int64_t> position(static_cast<std::size_t>(batch));
    bool in_table = true;
    for (std::int64_t b = 0; b < batch; ++b) {
        const auto& cache = *caches[static_cast<std::size_t>(b)];
        position[static_cast<std::size_t>(b)] = cache.length + cache.rope_delta;
        in_table = in_table && position[static_cast<std::size_t>(b)] >= 0 &&
                   position[static_cast<std::size_t>(b)] < cos_table_.size(0);
    }
    const auto positions = torch::tensor(position, torch::kInt64).to(device_);
    torch::Tensor cos, sin; // [B, D]
    if (in_table) {
        cos = cos_table_.index_select(0, positions);
        sin = sin_table_.index_select(0, positions);
    } else {
        std::tie(cos, sin) = rotary_.cosSin(positions, dtype_);
    }
    cos = cos.unsqueeze(1); // [B, 1, D]: the same angle for every head of a row
    sin = sin.unsqueeze(1);

    auto h = embeds.to(device_, dtype_);
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        checkInterrupt();
        const auto& layer = layers_[i];
        auto x = rmsNorm(h, layer.input_layernorm, config_.rms_norm_eps);
        auto qkv = layer.qkv(x).view({batch, heads + 2 * kv_heads, d});
        auto q_in = qkv.narrow(1, 0, heads);
        auto k_in = qkv.narrow(1, heads, kv_heads);
        auto v = qkv.narrow(1, heads + kv_heads, kv_heads);
        if (layer.q_norm.defined()) { // Qwen3: each head normalized before the rotation
            q_in = rmsNorm(q_in, layer.q_norm, config_.rms_norm_eps);
            k_in = rmsNorm(k_in, layer.k_norm, config_.rms_norm_eps);
        }
        auto q = torch::empty({batch, heads, d}, qkv.options());
        auto k = torch::empty({batch, kv_heads, d}, qkv.options());
        applyRotaryInto(q, q_in, cos, sin);
        applyRotaryInto(k, k_in, cos, sin);

        auto a = torch::empty({batch, heads, d}, qkv.options());
        for (std::int64_t b = 0; b < batch; ++b) {
            auto& cache = *caches[static_cast<std::size_t>(b)];
            const std::int64_t slot = cache.length;
            cache.keys[i].select(1, slot).copy_(k[b]);
            cache.values[i].select(1, slot).copy_(v[b]);
            auto keys = cache.keys[i].narrow(1, 0, slot + 1).unsqueeze(0); // [1, KV, S, D]
            auto values = cache.values[i].narrow(1, 0, slot + 1).unsqueeze(0);
            // The row's heads, grouped by key/value head, are the queries of a plain
            // attention over its cache (as forward() does for one token).
            a[b].copy_(attention(q[b].reshape({1, kv_heads, groups, d}), keys, values, torch::Tensor(),
                                 /*causal=*/false, scale)
                           .reshape({heads, d}));
        }
        h = mlpResidual(layer, h + layer.o_proj(a.view({batch, heads * d})));
    }
    for (KvCache* cache : caches) // committed last: an interrupted step leaves every cache as it was
        ++cache->length;
    return lm_head_(rmsNorm(h, norm_, config_.rms_norm_eps));
}

} // namespace vqa::models
