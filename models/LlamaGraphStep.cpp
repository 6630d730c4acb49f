// One token through the Llama decoder as a recorded step (a CUDA graph on a GPU): the
// ~15 kernels per layer that LlamaDecoder::forward launches one by one for a token are
// recorded once and replayed with one launch, so a decode step on a GPU costs the kernels'
// time rather than the CPU's time to launch them.
//
// A recording fixes every address and shape, so the step is written for that:
//  - its inputs live in buffers kept with the KV cache (DecodeGraphs): the token's
//    embedding, its position as a device tensor, and the key positions of an attention
//    capture; they are overwritten before each replay;
//  - cos/sin are gathered from the decoder's tables at that position, and the new key and
//    value go into the cache with index_copy_ at it;
//  - the token attends over a fixed number of cached positions (a bucket: the position
//    rounded up to 256, at most the cache's capacity), the positions after it masked out,
//    so one recording serves 256 tokens and a conversation needs a handful;
//  - its outputs (logits, attention rows) are the recording's own tensors.
// The arithmetic is the general path's (projectQkv, singleQueryAttention, mlpResidual).
#include <algorithm>
#include <mutex>
#include <stdexcept>

#include "models/Interrupt.h"
#include "models/Llama.h"
#include "models/StepGraph.h"

namespace vqa::models {

namespace {

constexpr std::int64_t kBucket = 256; // positions per recording

std::mutex g_mutex;
StepGraphMaker g_maker;
std::string g_failure; // the first recording that failed; recording is off after it

} // namespace

void setStepGraphMaker(StepGraphMaker maker) {
    std::lock_guard lock(g_mutex);
    g_maker = std::move(maker);
    g_failure.clear();
}

StepGraphMaker stepGraphMaker() {
    std::lock_guard lock(g_mutex);
    return g_failure.empty() ? g_maker : StepGraphMaker();
}

std::string stepGraphFailure() {
    std::lock_guard lock(g_mutex);
    return g_failure;
}

// Recorded steps and their buffers, kept with the KV cache they write into.
struct DecodeGraphs {
    const void* keys_data = nullptr; // cache.keys[0]'s storage when made: a check
    torch::Tensor input;             // [1, hidden], the model's dtype
    torch::Tensor position;          // [1] int64: the slot
    torch::Tensor rope_position;     // [1] int64: the rotary position (slot + rope_delta)
    struct Recording {
        std::int64_t keys = 0;     // cached positions attended over
        std::int64_t captured = -1; // key positions of the capture; -1: no capture
        std::unique_ptr<StepGraph> graph;
        torch::Tensor capture_positions;                // [captured] int64
        torch::Tensor logits;                           // [1, vocab]
        std::vector<torch::Tensor> rows, full_rows;     // [H, captured], [H, keys]
    };
    std::vector<std::unique_ptr<Recording>> recordings;
};

bool LlamaDecoder::graphStepApplies(const torch::Tensor& embeds, std::int64_t position,
                                    const AttentionCapture* capture) const {
    if (embeds.size(0) != 1 || at::GradMode::is_enabled() || position < 0 || position >= cos_table_.size(0) ||
        (capture && !capture->row_offsets.empty()))
        return false;
    return static_cast<bool>(stepGraphMaker());
}

torch::Tensor LlamaDecoder::staticStep(const torch::Tensor& input, const torch::Tensor& position,
                                       const torch::Tensor& rope_position, std::int64_t keys, const std::vector<torch::Tensor>& key_cache,
                                       const std::vector<torch::Tensor>& value_cache,
                                       const torch::Tensor& capture_positions,
                                       std::vector<torch::Tensor>* rows,
                                       std::vector<torch::Tensor>* full_rows) const {
    const std::int64_t heads = config_.num_attention_heads, d = config_.head_dim;
    auto cos = cos_table_.index_select(0, rope_position); // [1, D]
    auto sin = sin_table_.index_select(0, rope_position);
    // Key j is seen when j <= position.
    auto keep = torch::arange(keys, position.options()).le(position);
    auto h = input;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        const auto& layer = layers_[i];
        torch::Tensor k, v;
        auto q = projectQkv(layer, h, cos, sin, k, v);
        auto k_rotated = torch::empty_like(k, at::MemoryFormat::Contiguous);
        applyRotaryInto(k_rotated, k, cos, sin);
        key_cache[i].index_copy_(1, position, k_rotated);
        value_cache[i].index_copy_(1, position, v.contiguous());
        auto [probs, a] = singleQueryAttention(q, key_cache[i].narrow(1, 0, keys),
                                               value_cache[i].narrow(1, 0, keys), keep,
                                               torch::Tensor());
        if (rows) {
            (*rows)[i] = probs.index_select(1, capture_positions);
            (*full_rows)[i] = probs;
        }
        h = mlpResidual(layer, h + layer.o_proj(a.reshape({1, heads * d})));
    }
    return lm_head_(rmsNorm(h, norm_, config_.rms_norm_eps));
}

torch::Tensor LlamaDecoder::graphStep(const torch::Tensor& embeds, KvCache& cache,
                                      AttentionCapture* capture) const {
    const std::int64_t pos = cache.length, seen = pos + 1;
    auto& graphs = cache.graphs;
    if (!graphs || graphs->keys_data != cache.keys.front().data_ptr()) {
        graphs = std::make_shared<DecodeGraphs>();
        graphs->keys_data = cache.keys.front().data_ptr();
        graphs->input = torch::empty({1, config_.hidden_size}, torch::dtype(dtype_).device(device_));
        graphs->position = torch::zeros({1}, torch::dtype(torch::kInt64).device(device_));
        graphs->rope_position = torch::zeros({1}, torch::dtype(torch::kInt64).device(device_));
        // A recorded step attends over the unfilled slots too, masked: their values must be
        // finite, since a zero probability times NaN is NaN. Slots past the filled ones may
        // never have been written; later they only ever hold keys and values.
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            cache.keys[i].narrow(1, pos, cache.capacity() - pos).zero_();
            cache.values[i].narrow(1, pos, cache.capacity() - pos).zero_();
        }
    }
    const std::int64_t keys = std::min(cache.capacity(), (seen + kBucket - 1) / kBucket * kBucket);
    const std::int64_t captured = capture ? capture->positions.numel() : -1;

    DecodeGraphs::Recording* rec = nullptr;
    for (auto& r : graphs->recordings)
        if (r->keys == keys && r->captured == captured)
            rec = r.get();

    graphs->input.copy_(embeds.reshape({1, config_.hidden_size}));
    graphs->position.fill_(pos);
    graphs->rope_position.fill_(pos + cache.rope_delta);
    if (rec && captured >= 0)
        rec->capture_positions.copy_(capture->positions);
    checkInterrupt(); // a recording runs every layer at once: the last chance to stop

    if (!rec) {
        auto made = std::make_unique<DecodeGraphs::Recording>();
        made->keys = keys;
        made->captured = captured;
        if (captured >= 0) {
            made->capture_positions = capture->positions.to(device_, torch::kInt64).clone();
            made->rows.resize(layers_.size());
            made->full_rows.resize(layers_.size());
        }
        auto* r = made.get();
        try {
            auto maker = stepGraphMaker();
            r->graph = maker ? maker(device_) : nullptr;
            if (!r->graph)
                throw std::runtime_error("no recorder for " + device_.str());
            // Everything the step touches is captured by value: a recording holds on to the
            // same tensors for as long as it lives.
            r->graph->record([this, r, input = graphs->input, position = graphs->position,
                              rope_position = graphs->rope_position, key_cache = cache.keys,
                              value_cache = cache.values] {
                r->logits = staticStep(input, position, rope_position, r->keys, key_cache, value_cache,
                                       r->capture_positions,
                                       r->captured >= 0 ? &r->rows : nullptr,
                                       r->captured >= 0 ? &r->full_rows : nullptr);
            });
        } catch (const std::exception& e) {
            {
                std::lock_guard lock(g_mutex);
                if (g_failure.empty())
                    g_failure = e.what();
            }
            // Recording is off from now on, so this takes the general path. The warm-up
            // may have run the step already; running it again rewrites the same cache slot
            // with the same values.
            graphs.reset();
            return forward(embeds, cache, /*all_logits=*/false, capture);
        }
        graphs->recordings.push_back(std::move(made));
        rec = r;
    }

    rec->graph->replay();
    cache.length = seen;
    if (capture) {
        capture->rows = rec->rows;
        capture->full_rows.resize(layers_.size());
        for (std::size_t i = 0; i < layers_.size(); ++i)
            capture->full_rows[i] = rec->full_rows[i].narrow(1, 0, seen);
    }
    return rec->logits.clone(); // the next replay overwrites the recording's own
}

} // namespace vqa::models
