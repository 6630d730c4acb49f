// The Llama decoder (SmolLM2 in SmolVLM): token embedding, layers of RMSNorm + rotary
// grouped-query attention + RMSNorm + SwiGLU MLP, final norm, lm_head (tied to the embedding
// or not). Its variants are switches of LlamaConfig: q/k/v biases (Qwen2), an RMSNorm per
// query and key head (Qwen3), multimodal rotary positions (Qwen2-VL, Qwen3-VL). Names follow the checkpoint: <prefix>.embed_tokens, <prefix>.layers.N.*,
// <prefix>.norm, and lm_head.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/Config.h"
#include "models/CpuGemv.h"
#include "models/Layers.h"
#include "models/VisionLanguageModel.h"

namespace vqa::models {

struct LlamaDecoderLayer {
    torch::Tensor input_layernorm;
    Linear qkv; // self_attn.{q,k,v}_proj fused: [(H + 2 KV) * head_dim, hidden]
    torch::Tensor q_norm, k_norm; // [head_dim] each with LlamaConfig::qk_norm, else undefined
    Linear o_proj;
    torch::Tensor post_attention_layernorm;
    Linear gate_up; // mlp.{gate,up}_proj fused: [2 * intermediate, hidden]
    Linear down_proj;
};

// Turns the one-token CPU step off (true) or back on, for comparisons in tests and benchmarks.
void setCpuDecodeStepDisabled(bool disabled);

class LlamaDecoder {
  public:
    // `prefix` is where the decoder's tensors live ("model.text_model" in Idefics3),
    // `lm_head` the name of the output projection (ignored when the config ties it).
    // `quantization` says which weights are quantized as they load (QuantFormat.h).
    LlamaDecoder(const LlamaConfig& config, WeightLoader& weights, const std::string& prefix,
                 const std::string& lm_head, const Quantization& quantization = {});

    // ids [T] int64 -> [T, hidden].
    torch::Tensor embed(const torch::Tensor& ids) const;

    KvCache newCache(std::int64_t capacity) const;

    // Packs each layer's float16 panels for the fast prefill now (Linear::packHalfPanels): the
    // bytes they keep.
    std::int64_t packHalfPanels() const;

    // See VisionLanguageModel::forward.
    torch::Tensor forward(const torch::Tensor& embeds, KvCache& cache, bool all_logits,
                          AttentionCapture* capture, const torch::Tensor& positions = {},
                          const LayerAdditions* additions = nullptr) const;

    // See VisionLanguageModel::stepBatch (LlamaBatchStep.cpp).
    torch::Tensor stepBatch(const torch::Tensor& embeds, const std::vector<KvCache*>& caches) const;

    const LlamaConfig& config() const { return config_; }

  private:
    // cos/sin [T, D] of the rotary positions of T tokens entering slots start..start+T (see
    // VisionLanguageModel::forward for `positions`).
    std::pair<torch::Tensor, torch::Tensor> rotaryFor(const torch::Tensor& positions,
                                                      const KvCache& cache, std::int64_t t) const;

    // One token on the CPU in plain loops (LlamaCpuStep.cpp): taken by forward() when
    // cpuStepApplies(); returns the last layer's output [1, hidden] and advances the cache.
    // `position` is the token's rotary position (its slot plus cache.rope_delta).
    // With a capture (no gradients, no row offsets) it fills rows and full_rows too.
    bool cpuStepApplies(const torch::Tensor& embeds, std::int64_t position,
                        const AttentionCapture* capture) const;
    torch::Tensor cpuStep(const torch::Tensor& embeds, KvCache& cache, AttentionCapture* capture,
                          const torch::Tensor& capture_positions) const;

    // One token as a recorded step (LlamaGraphStep.cpp, CUDA graphs): taken by forward()
    // when graphStepApplies(); returns the logits [1, vocab] and advances the cache. On the
    // CPU it runs only in tests, with a recorder that replays by running the step again.
    bool graphStepApplies(const torch::Tensor& embeds, std::int64_t position,
                          const AttentionCapture* capture) const;
    torch::Tensor graphStep(const torch::Tensor& embeds, KvCache& cache,
                            AttentionCapture* capture) const;
    // The step as recorded: the token in slot `position` ([1] int64 on the device), rotated
    // by `rope_position` ([1] int64), attends over the first `keys` cached slots, the later
    // ones masked.
    torch::Tensor staticStep(const torch::Tensor& input, const torch::Tensor& position,
                             const torch::Tensor& rope_position,
                             std::int64_t keys, const std::vector<torch::Tensor>& key_cache,
                             const std::vector<torch::Tensor>& value_cache,
                             const torch::Tensor& capture_positions,
                             std::vector<torch::Tensor>* rows,
                             std::vector<torch::Tensor>* full_rows) const;

    // Pieces of a layer shared by the general path and the recorded step.
    // The rotated queries [H, T, D] of the normed input x [T, hidden]; `k` (not rotated) and
    // `v` receive the keys and values, [KV, T, D] views of the projection.
    torch::Tensor projectQkv(const LlamaDecoderLayer& layer, const torch::Tensor& x,
                             const torch::Tensor& cos, const torch::Tensor& sin, torch::Tensor& k,
                             torch::Tensor& v) const;
    // One query q [H, 1, D] over keys/values [KV, S, D] as the reference's eager attention
    // computes it: scores in the model's dtype, softmax in float32. `keep` (bool [S]) masks
    // keys when defined; `offset` ([H, S]) is added to the probabilities when defined.
    // Returns the probabilities [H, S] float32 and the output [H, 1, D].
    std::pair<torch::Tensor, torch::Tensor> singleQueryAttention(const torch::Tensor& q,
                                                                 const torch::Tensor& keys,
                                                                 const torch::Tensor& values,
                                                                 const torch::Tensor& keep,
                                                                 const torch::Tensor& offset) const;
    // h + o_proj(attention) is the caller's; this is the second half: h + MLP(norm(h)).
    torch::Tensor mlpResidual(const LlamaDecoderLayer& layer, const torch::Tensor& h) const;

    LlamaConfig config_;
    torch::Device device_;
    torch::ScalarType dtype_;
    torch::Tensor embed_tokens_; // [vocab, hidden]; undefined when quantized
    std::shared_ptr<const QuantizedMatrix> embed_quantized_; // the quantized embedding, or null
    std::vector<LlamaDecoderLayer> layers_;
    torch::Tensor norm_;
    Linear lm_head_; // [vocab, hidden]; the embedding itself when tied
    Rotary rotary_;
    // cos/sin of every position up to max_position_embeddings in the model's dtype, made
    // once: a step takes a slice instead of computing them again.
    torch::Tensor cos_table_, sin_table_;
};

// A vision-language model whose text side is the LlamaDecoder (Idefics3, LLaVA): the decoder's
// part of the interface, so a family's file holds its vision side and connector only. The
// family's constructor makes text_ and sets parameters_ once every weight is taken.
class LlamaBackedModel : public VisionLanguageModel {
  public:
    torch::Tensor embedTokens(const torch::Tensor& ids) override { return text_->embed(ids); }
    KvCache newCache(std::int64_t capacity) const override { return text_->newCache(capacity); }
    torch::Tensor forward(const torch::Tensor& embeds, KvCache& cache, bool all_logits,
                          AttentionCapture* capture = nullptr, const torch::Tensor& positions = {},
                          const LayerAdditions* additions = nullptr) override {
        // The "fast" precision (and the float32 parts of a quantized decoder, whose tower is
        // bf16 too): many rows (a prefill) through the float16 GEMM where it is this CPU's
        // fastest (CpuGemv.h); one row (a decode step) stays float32.
        HalfFloat32Rows fast(fastPrefill());
        return text_->forward(embeds, cache, all_logits, capture, positions, additions);
    }
    torch::Tensor stepBatch(const torch::Tensor& embeds, const std::vector<KvCache*>& caches) override {
        return text_->stepBatch(embeds, caches);
    }
    std::int64_t packPrefillWeights() override {
        return fastPrefill() ? text_->packHalfPanels() : 0;
    }
    std::int64_t parameterCount() const override { return parameters_; }
    torch::Device device() const override { return device_; }
    torch::ScalarType dtype() const override { return dtype_; }
    // What the vision tower and connector run in: dtype() unless the family was given another
    // (the "fast" precision: a float32 decoder behind a bfloat16 vision tower; its forward()
    // turns on HalfFloat32Rows).
    torch::ScalarType visionDtype() const { return vision_dtype_; }
    const LlamaDecoder& textModel() const { return *text_; }

  protected:
    // A float32 decoder behind a bfloat16 tower: its prefill may take the float16 GEMM.
    bool fastPrefill() const { return dtype_ == torch::kFloat32 && vision_dtype_ == torch::kBFloat16; }
    // `vision_dtype` Undefined: the same as `dtype`.
    LlamaBackedModel(torch::Device device, torch::ScalarType dtype,
                     torch::ScalarType vision_dtype = torch::ScalarType::Undefined)
        : device_(device), dtype_(dtype),
          vision_dtype_(vision_dtype == torch::ScalarType::Undefined ? dtype : vision_dtype) {}

    torch::Device device_;
    torch::ScalarType dtype_;
    torch::ScalarType vision_dtype_;
    std::int64_t parameters_ = 0;
    std::unique_ptr<LlamaDecoder> text_;
};

} // namespace vqa::models
