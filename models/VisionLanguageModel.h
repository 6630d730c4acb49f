// The small interface every model family exposes to the engine: encode images, embed
// tokens, run a step over embeddings with a KV cache, report attention when asked. Putting
// the image features into the prompt's embeddings is the engine's: it owns the prompt.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace vqa::models {

struct DecodeGraphs; // LlamaGraphStep.cpp

// Keys and values of every decoder layer, preallocated once for the whole context and
// filled in place, so decoding never reallocates. Shapes: [kv_heads, capacity, head_dim].
struct KvCache {
    std::vector<torch::Tensor> keys;
    std::vector<torch::Tensor> values;
    std::int64_t length = 0; // positions filled
    // The rotary position of a token given without explicit positions is its slot plus
    // rope_delta. Nonzero after multimodal rotary positions (Qwen2-VL), where an image's
    // tokens span fewer positions than slots; forward() sets it from explicit positions.
    std::int64_t rope_delta = 0;
    // The recorded decode steps (CUDA graphs) that write into these tensors, made on first
    // use; a new cache starts without.
    std::shared_ptr<DecodeGraphs> graphs;
    std::int64_t capacity() const { return keys.empty() ? 0 : keys.front().size(1); }
    void truncate(std::int64_t n) { length = std::min(length, n); }
};

// Attention capture: when set on a forward call, each layer writes the attention weights
// of the *last* query position to the listed key positions (the image tokens):
// rows[layer] is [heads, positions.size()] in float32 after the call.
// full_rows[layer] is that query's whole row over every key, [heads, keys] float32; the
// layer's output is computed from it, so under autograd it is the tensor to differentiate
// against (gradient-weighted relevancy), then select `positions` from the gradient.
// row_offsets (optional, one per layer, [heads, keys]) are added to that row before the
// layer uses it: a perturbation for checking gradients against finite differences.
struct AttentionCapture {
    torch::Tensor positions;                // int64 key positions to keep
    std::vector<torch::Tensor> rows;        // one per layer, filled by the model
    std::vector<torch::Tensor> full_rows;   // one per layer, filled by the model
    std::vector<torch::Tensor> row_offsets; // set by the caller, usually empty
};

// Features added to the decoder's hidden states after its first layers, at some of the
// tokens of a forward call (Qwen3-VL's DeepStack: image features from intermediate vision
// layers, added at the image tokens): after layer i, for i < per_layer.size(), the hidden
// state of token rows[k] (an index among the call's T tokens) gains per_layer[i][k].
struct LayerAdditions {
    torch::Tensor rows;                   // [K] int64, ascending
    std::vector<torch::Tensor> per_layer; // [K, hidden] each
    bool empty() const { return per_layer.empty() || !rows.defined() || rows.numel() == 0; }
};

// What encoding images gives: the features that replace the image tokens' embeddings and,
// for a family with DeepStack, the features added after the decoder's first layers at the
// same tokens (one per layer, each shaped like `tokens`; empty otherwise).
struct ImageFeatures {
    torch::Tensor tokens;              // [N, tokens_per_image, text_hidden]
    std::vector<torch::Tensor> layers; // [N, tokens_per_image, text_hidden] each
};

class VisionLanguageModel {
  public:
    virtual ~VisionLanguageModel() = default;

    virtual std::string family() const = 0;
    virtual std::int64_t imageTokenId() const = 0;

    // pixel_values [N, C, H, W] (model dtype/device); pixel_attention_mask [N, H, W] bool
    // (may be undefined: all valid). Returns the features to put at the image tokens,
    // [N, tokens_per_image, text_hidden]. Idefics3 drops all-zero padding images first, as
    // its reference does, so N counts the real images only.
    virtual torch::Tensor encodeImages(const torch::Tensor& pixel_values,
                                       const torch::Tensor& pixel_attention_mask) = 0;
    // The same with the per-layer features of a family that has them (see ImageFeatures);
    // what the engine calls. By default the features of encodeImages and no layers.
    virtual ImageFeatures encodeImageFeatures(const torch::Tensor& pixel_values,
                                              const torch::Tensor& pixel_attention_mask) {
        return {encodeImages(pixel_values, pixel_attention_mask), {}};
    }

    // Attention rollout through the vision tower (AttentionRollout in VisionEncoderLayer.h) for
    // the images encodeImages would encode, in its order: [N, S, S] float32 over the tower's
    // tokens (patches, and a class token where the tower has one). Undefined for a family whose
    // tower does not expose its attention this way.
    virtual torch::Tensor visionRollout(const torch::Tensor& pixel_values, const torch::Tensor& pixel_attention_mask) {
        (void)pixel_values, (void)pixel_attention_mask;
        return {};
    }

    // ids [T] int64 -> embeddings [T, hidden].
    virtual torch::Tensor embedTokens(const torch::Tensor& ids) = 0;

    virtual KvCache newCache(std::int64_t capacity) const = 0;

    // Runs the decoder over embeddings [T, hidden] in cache slots cache.length..+T, appends
    // to the cache, and returns logits [T, vocab] (all positions) or [1, vocab] (last only).
    // `positions` are the tokens' rotary positions: [T] int64, or [3, T] (temporal, height,
    // width) for a decoder with multimodal rotary positions; undefined means slot +
    // cache.rope_delta. With positions, cache.rope_delta becomes max(positions) + 1 minus the
    // slots filled, so the tokens after them continue from the largest position.
    // With a capture, rows[layer] is the softmax attention of the last of the T queries
    // (float32, [heads, positions]); see AttentionCapture for gradients. When the step was
    // a recorded one (CUDA graphs), the rows are the recording's buffers: read them before
    // the next forward call on the same cache.
    // `additions` (may be null) are added to the hidden states after the first layers (see
    // LayerAdditions; rows index the T tokens of this call).
    // Throws vqa::Error when the cache is too small or the positions have another shape.
    virtual torch::Tensor forward(const torch::Tensor& embeds, KvCache& cache, bool all_logits,
                                  AttentionCapture* capture = nullptr,
                                  const torch::Tensor& positions = {},
                                  const LayerAdditions* additions = nullptr) = 0;

    // One new token for each of several sequences at once, each in its own cache (made by
    // this model, of any lengths): row b of embeds [B, hidden] goes into slot
    // caches[b]->length, rotated by that slot plus caches[b]->rope_delta. Returns the logits
    // [B, vocab] and advances every cache by one. Decoding several answers together reads the
    // weights once per step for all of them (captioning a folder). No attention capture.
    // By default one forward() per sequence. Throws vqa::Error as forward() does.
    virtual torch::Tensor stepBatch(const torch::Tensor& embeds, const std::vector<KvCache*>& caches);

    // Makes now what the first prefill would otherwise make on its way (the "fast" precision's
    // float16 panels of the decoder's weights, models/CpuGemv.h), so that loading pays it
    // rather than the first question: the bytes kept (0: nothing to make, the default).
    virtual std::int64_t packPrefillWeights() { return 0; }

    virtual std::int64_t parameterCount() const = 0;
    virtual torch::Device device() const = 0;
    virtual torch::ScalarType dtype() const = 0;
};

} // namespace vqa::models
