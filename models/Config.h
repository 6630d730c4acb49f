// Typed configuration of the networks. Filled by the engine from a checkpoint's config.json;
// models/ never reads files. Field names follow the Hugging Face config keys.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vqa::models {

// A Llama-style decoder (SmolLM2 in SmolVLM, Vicuna / Llama 2 in LLaVA).
struct LlamaConfig {
    int vocab_size = 0;
    int hidden_size = 0;
    int intermediate_size = 0;
    int num_hidden_layers = 0;
    int num_attention_heads = 0;
    int num_key_value_heads = 0;
    int head_dim = 0;  // hidden_size / num_attention_heads when the config does not say
    double rms_norm_eps = 1e-6;
    double rope_theta = 10000.0;
    int max_position_embeddings = 2048;
    bool attention_bias = false;
    bool mlp_bias = false;
    bool tie_word_embeddings = false;
};

// A ViT image encoder: SigLIP (Idefics3) or CLIP (LLaVA).
struct VisionConfig {
    int hidden_size = 0;
    int intermediate_size = 0;
    int num_hidden_layers = 0;
    int num_attention_heads = 0;
    int num_channels = 3;
    int image_size = 0;
    int patch_size = 0;
    double layer_norm_eps = 1e-6;
    std::string hidden_act = "gelu_pytorch_tanh";
};

struct Idefics3Config {
    VisionConfig vision;
    LlamaConfig text;
    int scale_factor = 2;            // pixel-shuffle factor of the connector
    std::int64_t image_token_id = 0;
};

// LLaVA (1.5): a CLIP vision tower, a two-layer MLP projector and a Llama decoder.
struct LlavaConfig {
    VisionConfig vision;  // CLIP: hidden_act "quick_gelu", layer_norm_eps 1e-5
    LlamaConfig text;
    // vision_feature_layer: indices into the tower's hidden states (0 = the embeddings after
    // pre_layrnorm, i = after layer i, negative from the end); several are concatenated.
    std::vector<int> feature_layers = {-2};
    bool drop_cls = true;  // vision_feature_select_strategy "default" (true) or "full"
    std::string projector_hidden_act = "gelu";
    bool projector_bias = true;  // multimodal_projector_bias
    std::int64_t image_token_id = 32000;
};

}  // namespace vqa::models
