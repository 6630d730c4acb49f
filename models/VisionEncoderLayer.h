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

// Attention rollout (Abnar & Zuidema 2020) through a ViT's layers: each layer's attention
// averaged over heads, half of it kept for the residual path (0.5 A + 0.5 I), rows made to sum
// to 1 again, and multiplied from the first layer up, so that result()[n][i][j] says how much
// output token i of image n draws on input token j (a patch, or CLIP's class token).
class AttentionRollout {
  public:
    // One layer's attention averaged over heads, [N, S, S] (float32), in the layers' order.
    void add(const torch::Tensor& head_mean);
    // [N, S, S] float32; undefined before any layer.
    const torch::Tensor& result() const { return rollout_; }
    int layers() const { return layers_; }

  private:
    torch::Tensor rollout_;
    int layers_ = 0;
};

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
    // true = may attend) or undefined for none. With `rollout`, the attention is computed
    // explicitly (softmax in float32, as the reference's eager attention) and added to it.
    torch::Tensor operator()(const torch::Tensor& h, const VisionConfig& config,
                             const torch::Tensor& key_mask, AttentionRollout* rollout = nullptr) const;
};

} // namespace vqa::models
