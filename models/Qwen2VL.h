// Qwen2-VL and Qwen2.5-VL: a ViT over 3-D patches with 2-D rotary attention, a merger of
// spatial_merge_size^2 neighbouring patches into one token of the text model's width, and the
// Qwen2 decoder (the shared LlamaDecoder: q/k/v biases, grouped-query attention, multimodal
// rotary positions).
//
// An image is resized by the processor to multiples of patch_size * spatial_merge_size,
// repeated to temporal_patch_size frames and cut into patches of C x T x P x P values
// (flattenPatches: the reference processor's order, merge blocks row-major and the patches of
// a block together). Its features are (H / P / m) x (W / P / m) tokens, row-major over the
// merged grid; the prompt holds that many image_token_id tokens between <|vision_start|> and
// <|vision_end|>, and their rotary positions follow the grid (qwen2VLRopePositions).
//
// Qwen2-VL's blocks: LayerNorm, attention over the whole image, LayerNorm, fc1 / quick_gelu /
// fc2; its merger normalizes with LayerNorm. Qwen2.5-VL's: RMSNorm, attention within windows
// of window_size pixels square (full attention in the blocks of fullatt_block_indexes),
// RMSNorm, gated MLP (silu(gate) * up, down); its merger normalizes with RMSNorm. In 2.5 the
// patches are reordered window by window before the blocks and put back after the merger.
//
// The decoder is the shared LlamaDecoder with LlamaConfig::qkv_bias and mrope_section: the
// prompt's positions are [3, T] (temporal, height, width), each rotary section turning by its
// own axis. A decoded token is text, equal on all three axes, so its rotation is plain RoPE
// at cache length + rope_delta: the plain-loop CPU step and the recorded graph step serve
// Qwen2-VL unchanged but for that offset. Where the maths differs from the shared encoders
// (2-D rotary over patch rows and columns, window attention, the merger), it is here.
//
// Tensor names: transformers 4 saves visual.*, model.* (the decoder) and lm_head.weight;
// transformers 5 saves model.visual.*, model.language_model.* and lm_head.weight. Both load.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/Config.h"
#include "models/Layers.h"
#include "models/Llama.h"
#include "models/VisionLanguageModel.h"
#include "models/WeightSource.h"

namespace vqa::models {

// The frames of one image cut into the vision tower's patches.
struct Qwen2VLPatches {
    torch::Tensor flat;     // [grid_t * grid_h * grid_w, C * T * P * P]
    torch::Tensor grid_thw; // [1, 3] int64: temporal patches, patch rows, patch columns
};

// frames [F, C, H, W] (one image: F = 1; H, W multiples of patch_size * spatial_merge_size)
// -> the flat patches in Qwen2VLImageProcessor's order: the last frame is repeated up to a
// multiple of temporal_patch_size, and each patch holds channel, frame, row, column values in
// that order. Throws vqa::Error on other shapes.
Qwen2VLPatches flattenPatches(const torch::Tensor& frames, const Qwen2VLVisionConfig& config);

// The multimodal rotary positions [3, T] int64 (temporal, height, width) of a prompt `ids`
// ([T] int64) whose image_token_id runs are the images of `grids` ([images, 3] int64
// image_grid_thw, in order), as transformers' get_rope_index computes them: text tokens count
// up on all three axes from `start`; an image's token at merged row r, column c of its grid is
// at (s, s + r, s + c) with s the next position, and the text after it continues at s plus the
// larger side of its merged grid. Videos are not handled: a video_token_id in `ids` throws
// vqa::Error, as does a run of image tokens that does not fit its grids.
torch::Tensor qwen2VLRopePositions(const torch::Tensor& ids, const Qwen2VLConfig& config,
                                   const torch::Tensor& grids, std::int64_t start = 0);
// The same from the token ids and merge size alone (Qwen3-VL places images the same way).
torch::Tensor qwenRopePositions(const torch::Tensor& ids, std::int64_t image_token_id,
                                std::int64_t video_token_id, std::int64_t merge_size,
                                const torch::Tensor& grids, std::int64_t start = 0);

// Pieces of the Qwen vision towers that Qwen3-VL shares with Qwen2-VL.

// (t, h, w) of each row of grid_thw [images, 3] (patches, before merging). Throws vqa::Error
// unless it is [images, 3] of whole merge blocks of m x m patches.
std::vector<std::array<std::int64_t, 3>> qwenVisionGrids(const torch::Tensor& grid_thw, std::int64_t m);

// The 2-D rotary cos/sin [patches, head_dim] (float32) of the patches of `grids` in the
// processor's order (merge blocks row-major, the patches of a block together, frames one after
// the other): `rotary` is over head_dim / 2; the first half of each head's frequencies turn
// with the patch's row, the second with its column, and the halves repeat.
std::pair<torch::Tensor, torch::Tensor> qwenVisionRotary(const Rotary& rotary,
                                                         const std::vector<std::array<std::int64_t, 3>>& grids,
                                                         std::int64_t m, torch::Device device);

// A vision block's weights: norms, attention, and either the gated MLP (Qwen2.5-VL) or
// fc1 / act / fc2 (Qwen2-VL, Qwen3-VL).
struct QwenVisionBlock {
    torch::Tensor norm1_weight, norm1_bias, norm2_weight, norm2_bias; // biases: LayerNorm only
    Linear qkv, proj;
    Linear gate_up, down; // mlp.{gate,up}_proj fused, mlp.down_proj (gated_mlp)
    Linear fc1, fc2;      // otherwise
};

// One block over x [patches, hidden]: norm, attention within each segment (patch offsets
// [0, ..., patches]: an image, a frame or a window; none across) with the 2-D rotary in
// float32, residual, norm, MLP, residual. LayerNorm when the block has norm biases, else RMSNorm.
torch::Tensor qwenVisionBlock(const QwenVisionBlock& b, const Qwen2VLVisionConfig& config,
                              const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                              const std::vector<std::int64_t>& segments);

// The vision tower and merger ("visual" in the checkpoint).
class Qwen2VLVisionModel {
  public:
    Qwen2VLVisionModel(const Qwen2VLVisionConfig& config, WeightLoader& weights,
                       const std::string& prefix);

    // flat [patches, C * T * P * P] and grid_thw [images, 3] -> [merged tokens, out_hidden_size],
    // the images' tokens one after the other, each image's row-major over its merged grid.
    torch::Tensor forward(const torch::Tensor& flat, const torch::Tensor& grid_thw) const;

  private:
    Qwen2VLVisionConfig config_;
    torch::Tensor patch_embed_; // [hidden, C * T * P * P]: the Conv3d whose stride is its kernel
    Rotary rotary_; // over head_dim / 2: half the frequencies for rows, half for columns
    std::vector<QwenVisionBlock> blocks_;
    torch::Tensor ln_q_weight_, ln_q_bias_;
    Linear merger_1_, merger_2_; // merger.mlp.0, merger.mlp.2
};

class Qwen2VLModel : public LlamaBackedModel {
  public:
    // Takes every tensor from `weights` (checking shapes against `config`), converted to
    // `dtype` on `device`. Throws vqa::Error naming the tensor on a mismatch.
    Qwen2VLModel(const Qwen2VLConfig& config, const WeightSource& weights, torch::Device device,
                 torch::ScalarType dtype, const Quantization& quantization = {},
                 torch::ScalarType vision_dtype = torch::ScalarType::Undefined);

    std::string family() const override { return config_.model_type; }
    std::int64_t imageTokenId() const override { return config_.image_token_id; }

    // pixel_values [frames, C, H, W]: the processor's resized, rescaled and normalized frames
    // of one image (1 for a still image); the mask is ignored. Returns [1, merged tokens,
    // text hidden].
    torch::Tensor encodeImages(const torch::Tensor& pixel_values,
                               const torch::Tensor& pixel_attention_mask) override;

    // The reference processor's flat pixel_values and image_grid_thw of any number of images
    // -> [total merged tokens, text hidden] (get_image_features, concatenated).
    torch::Tensor encodePatches(const torch::Tensor& flat, const torch::Tensor& grid_thw);

    const Qwen2VLConfig& config() const { return config_; }

  private:
    Qwen2VLConfig config_;
    std::unique_ptr<Qwen2VLVisionModel> vision_;
};

std::unique_ptr<VisionLanguageModel> makeQwen2VL(const Qwen2VLConfig& config,
                                                 const WeightSource& weights, torch::Device device,
                                                 torch::ScalarType dtype, const Quantization& quantization = {},
                                                 torch::ScalarType vision_dtype = torch::ScalarType::Undefined);

} // namespace vqa::models
