// The text tower both dual encoders share (CLIP's CLIPTextTransformer, SigLIP's
// SiglipTextTransformer without its head): token embedding plus a learned position embedding,
// the ViT's pre-norm encoder layers, a final LayerNorm. CLIP's attention is causal, SigLIP's
// sees the whole text. Names follow the checkpoint: <prefix>.embeddings.{token_embedding,
// position_embedding}.weight, <prefix>.encoder.layers.N.*, <prefix>.final_layer_norm.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/Config.h"
#include "models/Layers.h"
#include "models/VisionEncoderLayer.h"

namespace vqa::models {

class TextTransformer {
  public:
    // Throws vqa::Error for a config that cannot describe a tower (widths, heads, activation).
    TextTransformer(const TextEncoderConfig& config, WeightLoader& weights, const std::string& prefix, bool causal);
    // input_ids [N, S] int64, S <= max_position_embeddings -> the last hidden state after the
    // final LayerNorm, [N, S, hidden]. Throws vqa::Error for ids outside the vocabulary.
    torch::Tensor forward(const torch::Tensor& input_ids) const;
    const TextEncoderConfig& config() const { return config_; }

  private:
    TextEncoderConfig config_;
    VisionConfig layer_config_;  // the encoder layers' widths, heads, activation and eps
    bool causal_;
    torch::Tensor token_embedding, position_embedding;
    std::vector<VisionEncoderLayer> layers_;
    torch::Tensor final_layer_norm_weight, final_layer_norm_bias;
};

} // namespace vqa::models
