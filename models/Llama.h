// The Llama decoder (SmolLM2 in SmolVLM): token embedding, layers of RMSNorm + rotary
// grouped-query attention + RMSNorm + SwiGLU MLP, final norm, lm_head (tied to the embedding
// or not). Names follow the checkpoint: <prefix>.embed_tokens, <prefix>.layers.N.*,
// <prefix>.norm, and lm_head.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/Config.h"
#include "models/Layers.h"
#include "models/VisionLanguageModel.h"

namespace vqa::models {

struct LlamaDecoderLayer {
    torch::Tensor input_layernorm;
    Linear qkv; // self_attn.{q,k,v}_proj fused: [(H + 2 KV) * head_dim, hidden]
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
    LlamaDecoder(const LlamaConfig& config, WeightLoader& weights, const std::string& prefix,
                 const std::string& lm_head);

    // ids [T] int64 -> [T, hidden].
    torch::Tensor embed(const torch::Tensor& ids) const;

    KvCache newCache(std::int64_t capacity) const;

    // See VisionLanguageModel::forward.
    torch::Tensor forward(const torch::Tensor& embeds, KvCache& cache, bool all_logits,
                          AttentionCapture* capture) const;

    const LlamaConfig& config() const { return config_; }

  private:
    // One token on the CPU in plain loops (LlamaCpuStep.cpp): taken by forward() when
    // cpuStepApplies(); returns the last layer's output [1, hidden] and advances the cache.
    // With a capture (no gradients, no row offsets) it fills rows and full_rows too.
    bool cpuStepApplies(const torch::Tensor& embeds, std::int64_t position,
                        const AttentionCapture* capture) const;
    torch::Tensor cpuStep(const torch::Tensor& embeds, KvCache& cache, AttentionCapture* capture,
                          const torch::Tensor& capture_positions) const;

    LlamaConfig config_;
    torch::Device device_;
    torch::ScalarType dtype_;
    torch::Tensor embed_tokens_; // [vocab, hidden]
    std::vector<LlamaDecoderLayer> layers_;
    torch::Tensor norm_;
    torch::Tensor lm_head_; // [vocab, hidden]; the embedding itself when tied
    Rotary rotary_;
    // cos/sin of every position up to max_position_embeddings in the model's dtype, made
    // once: a step takes a slice instead of computing them again.
    torch::Tensor cos_table_, sin_table_;
};

} // namespace vqa::models
