// The pre-norm transformer layer of the ViT image encoders (SigLIP in Idefics3, CLIP in
// LLaVA): LayerNorm, multi-head self-attention, residual; LayerNorm, fc1, activation, fc2,
// residual. Names follow the checkpoint: <layer>.layer_norm{1,2}, <layer>.self_attn.
// {q,k,v,out}_proj (q/k/v fused at load time), <layer>.mlp.fc{1,2}, all with biases.
#pragma once

#include <string>

#include <torch/torch.h>

#include "models/Config.h"
#include "models/Layers.h"

namespace vqa::models {

// Throws vqa::Error when a vision config cannot describe a ViT this code runs: heads that do
// not divide the width, patches that do not fit the image, an activation not implemented.
void checkVisionConfig(const VisionConfig& config);

struct VisionEncoderLayer {
    torch::Tensor layer_norm1_weight, layer_norm1_bias;
    Linear qkv; // self_attn.{q,k,v}_proj fused: [3 * hidden, hidden]
    Linear out_proj;
    torch::Tensor layer_norm2_weight, layer_norm2_bias;
    Linear fc1, fc2;

    // `prefix` ends with the layer's dot: "<tower>.encoder.layers.N.".
    static VisionEncoderLayer load(const VisionConfig& config, WeightLoader& weights,
                                   const std::string& prefix);

    // h [N, S, hidden] -> [N, S, hidden]. `key_mask` (bool, broadcastable to [N, heads, S, S],
    // true = may attend) or undefined for none.
    torch::Tensor operator()(const torch::Tensor& h, const VisionConfig& config,
                             const torch::Tensor& key_mask) const;
};

} // namespace vqa::models
