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
    bool attention_bias = false;  // biases on q/k/v and o_proj (Llama's attention_bias)
    bool qkv_bias = false;        // biases on q/k/v only (Qwen2)
    bool mlp_bias = false;
    bool tie_word_embeddings = false;
    // Multimodal rotary position embedding (Qwen2-VL's M-RoPE): the head_dim/2 rotary
    // frequencies split into sections rotated by the temporal, height and width position of
    // a token, in that order (rope_scaling.mrope_section, e.g. 16, 24, 24). Empty: plain
    // rotary over one position. Text tokens have three equal positions, which is plain rotary.
    std::vector<int> mrope_section;
    // Qwen3-VL's interleaved M-RoPE: instead of contiguous sections, frequency i turns by the
    // height axis when i % 3 == 1 and i < 3 * mrope_section[1], by the width axis when
    // i % 3 == 2 and i < 3 * mrope_section[2], and by the temporal axis otherwise.
    bool mrope_interleaved = false;
    // Qwen3: an RMSNorm over each query and key head (self_attn.q_norm / k_norm, weights of
    // head_dim) after the projections and before the rotary embedding.
    bool qk_norm = false;
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

// The Qwen2-VL / Qwen2.5-VL vision tower: a 3-D patch embedding over temporal_patch_size
// frames, 2-D rotary attention blocks and a merger of spatial_merge_size^2 neighbouring
// patches into one token of the text model's width.
struct Qwen2VLVisionConfig {
    int depth = 0;              // blocks
    int hidden_size = 0;        // the blocks' width (Qwen2-VL's embed_dim)
    int intermediate_size = 0;  // the MLP's (Qwen2-VL: embed_dim * mlp_ratio)
    int num_heads = 0;
    int in_channels = 3;
    int patch_size = 14;
    int temporal_patch_size = 2;
    int spatial_merge_size = 2;
    int out_hidden_size = 0;  // the merger's output: the text model's hidden_size
    std::string hidden_act = "silu";
    // Qwen2.5-VL: RMSNorm and a gated (SwiGLU-like) MLP; Qwen2-VL: LayerNorm and fc1/fc2.
    bool gated_mlp = true;
    double norm_eps = 1e-6;
    // Qwen2.5-VL's window attention: windows of window_size pixels square, except the blocks
    // listed in fullatt_block_indexes, which attend over the whole image. 0: every block
    // attends over the whole image (Qwen2-VL).
    int window_size = 0;
    std::vector<int> fullatt_block_indexes;
    int tokens_per_second = 2;  // Qwen2.5-VL: temporal rotary positions per second of video
};

// Qwen2-VL and Qwen2.5-VL: the vision tower above and a Qwen2 decoder (a Llama decoder with
// q/k/v biases and multimodal rotary positions).
struct Qwen2VLConfig {
    std::string model_type;  // "qwen2_vl" or "qwen2_5_vl"
    Qwen2VLVisionConfig vision;
    LlamaConfig text;  // qkv_bias true (o_proj has none), mrope_section set
    std::int64_t image_token_id = 0;         // <|image_pad|>
    std::int64_t video_token_id = 0;         // <|video_pad|>
    std::int64_t vision_start_token_id = 0;  // <|vision_start|>
};

// Qwen3-VL's vision tower: Qwen2-VL's blocks (LayerNorm, attention over the whole image with
// 2-D rotary, LayerNorm, fc1 / act / fc2; gated_mlp false, no windows) over 16-pixel patches,
// a learned position embedding on a square grid interpolated to each image's grid, a merger
// normalizing before it concatenates the merge block, and DeepStack: after each block listed
// in deepstack_visual_indexes, a merger of its own (normalizing after the concatenation)
// turns that block's output into features the decoder adds to its hidden states at the image
// tokens after its first layers, one level per layer.
struct Qwen3VLVisionConfig : Qwen2VLVisionConfig {
    int num_position_embeddings = 2304;  // a square grid of sqrt(n) x sqrt(n) learned positions
    std::vector<int> deepstack_visual_indexes;
    double rope_theta = 10000.0;
};

// Qwen3-VL (dense): the vision tower above and a Qwen3 decoder (LlamaDecoder with qk_norm,
// no q/k/v biases, interleaved multimodal rotary positions).
struct Qwen3VLConfig {
    std::string model_type = "qwen3_vl";
    Qwen3VLVisionConfig vision;
    LlamaConfig text;
    std::int64_t image_token_id = 0;
    std::int64_t video_token_id = 0;
    std::int64_t vision_start_token_id = 0;
};

// The text tower of a dual encoder (CLIP, SigLIP): token and learned position embeddings,
// pre-norm encoder layers (the ViT layer: LayerNorm, attention, LayerNorm, fc1/act/fc2), a
// final LayerNorm. CLIP attends causally and pools at the end-of-text token; SigLIP attends
// to the whole (padded) text and pools at the last position through a linear head.
struct TextEncoderConfig {
    int vocab_size = 0;
    int hidden_size = 0;
    int intermediate_size = 0;
    int num_hidden_layers = 0;
    int num_attention_heads = 0;
    int max_position_embeddings = 0;
    double layer_norm_eps = 1e-5;
    std::string hidden_act = "quick_gelu";
    std::int64_t eos_token_id = 2;  // CLIP: 2 is the configs' old value, meaning "the largest id"
    int projection_size = 0;        // SigLIP's head: output width
};

// A dual encoder: an image tower and a text tower whose pooled outputs land in one space.
struct DualEncoderConfig {
    enum class Family { Clip, Siglip } family = Family::Clip;
    VisionConfig vision;
    TextEncoderConfig text;
    int projection_dim = 0;       // CLIP: both projections' output
    bool vision_use_head = true;  // SigLIP: the attention-pooling head
};

}  // namespace vqa::models
