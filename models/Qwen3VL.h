// Qwen3-VL (dense: 2B, 4B, 8B): Qwen2-VL's way of cutting an image into 3-D patches and
// placing its tokens on a grid of multimodal rotary positions, with a new vision tower and
// the Qwen3 decoder.
//
// The vision tower (Qwen3VLVisionModel): the patch embedding (a Conv3d with a bias, over 16 x
// 16 pixels of temporal_patch_size frames), plus a learned position embedding: a square grid
// of num_position_embeddings positions resampled to the image's patch grid (bilinear, corners
// aligned: the four nearest learned positions, weighted). Then Qwen2-VL's blocks (LayerNorm,
// attention over each frame with the same 2-D rotary, LayerNorm, fc1 / gelu_tanh / fc2), no
// windows. The merger normalizes each patch (LayerNorm), concatenates the 2 x 2 merge block
// and projects it through fc1 / GELU / fc2 to the decoder's width.
//
// DeepStack: after each block listed in deepstack_visual_indexes, a merger of its own (this
// one normalizes the concatenated block) turns the block's output into one more set of image
// features, one per level. The decoder adds level i to its hidden states at the image tokens
// after its layer i. So an image's features are the tokens that replace its placeholders plus
// one addition per early decoder layer (ImageFeatures); a prompt's forward pass carries them
// as LayerAdditions. Skipping them loses what the model reads from fine detail.
//
// The decoder is the shared LlamaDecoder with LlamaConfig::qk_norm (an RMSNorm over each
// query and key head), no q/k/v biases, and interleaved multimodal rotary positions (the
// temporal, height and width axes take every third frequency, rather than three sections).
//
// Tensor names: model.visual.*, model.language_model.*, lm_head.weight (as released; the
// transformers 4 layout visual.* / model.* loads too).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/Config.h"
#include "models/Layers.h"
#include "models/Llama.h"
#include "models/Qwen2VL.h"
#include "models/VisionLanguageModel.h"
#include "models/WeightSource.h"

namespace vqa::models {

class Qwen3VLVisionModel {
  public:
    Qwen3VLVisionModel(const Qwen3VLVisionConfig& config, WeightLoader& weights, const std::string& prefix);

    // flat [patches, C * T * P * P] and grid_thw [images, 3] (the processor's pixel_values and
    // image_grid_thw) -> [merged tokens, out_hidden_size], the images one after the other.
    // `deepstack`, when given, receives one [merged tokens, out_hidden_size] per DeepStack level.
    torch::Tensor forward(const torch::Tensor& flat, const torch::Tensor& grid_thw,
                          std::vector<torch::Tensor>* deepstack = nullptr) const;

    // The learned positions resampled to the patches of `grid_thw`, in the processor's patch
    // order: [patches, hidden] in float32 (the reference adds them in the model's dtype).
    torch::Tensor positionEmbeddings(const torch::Tensor& grid_thw) const;

  private:
    struct Merger {
        torch::Tensor norm_weight, norm_bias;
        Linear fc1, fc2;
        bool after_concat = false; // DeepStack's mergers normalize the concatenated block
    };
    Merger loadMerger(WeightLoader& w, const std::string& prefix, bool after_concat) const;
    torch::Tensor merge(const Merger& merger, const torch::Tensor& hidden) const;

    Qwen3VLVisionConfig config_;
    torch::Tensor patch_embed_, patch_bias_; // [hidden, C * T * P * P], [hidden]
    torch::Tensor pos_embed_;                // [side * side, hidden]
    std::int64_t side_ = 0;
    Rotary rotary_; // over head_dim / 2, as Qwen2-VL's
    std::vector<QwenVisionBlock> blocks_;
    Merger merger_;
    std::vector<Merger> deepstack_; // one per deepstack_visual_indexes entry, in order
};

class Qwen3VLModel : public LlamaBackedModel {
  public:
    // Takes every tensor from `weights` (checking shapes against `config`), converted to
    // `dtype` on `device`. Throws vqa::Error naming the tensor on a mismatch.
    Qwen3VLModel(const Qwen3VLConfig& config, const WeightSource& weights, torch::Device device,
                 torch::ScalarType dtype, const Quantization& quantization = {},
                 torch::ScalarType vision_dtype = torch::ScalarType::Undefined);

    std::string family() const override { return config_.model_type; }
    std::int64_t imageTokenId() const override { return config_.image_token_id; }

    // pixel_values [frames, C, H, W]: one image's resized, normalized frames (1 for a still
    // image); the mask is ignored. -> [1, merged tokens, text hidden] (without DeepStack's).
    torch::Tensor encodeImages(const torch::Tensor& pixel_values,
                               const torch::Tensor& pixel_attention_mask) override;
    // The same with the DeepStack levels, [1, merged tokens, text hidden] each.
    ImageFeatures encodeImageFeatures(const torch::Tensor& pixel_values,
                                      const torch::Tensor& pixel_attention_mask) override;

    // The reference processor's flat pixel values and image_grid_thw of any number of images ->
    // [total merged tokens, text hidden]; `deepstack` receives the levels (get_image_features).
    torch::Tensor encodePatches(const torch::Tensor& flat, const torch::Tensor& grid_thw,
                                std::vector<torch::Tensor>* deepstack = nullptr);

    const Qwen3VLConfig& config() const { return config_; }
    const Qwen3VLVisionModel& vision() const { return *vision_; }

  private:
    Qwen3VLConfig config_;
    std::unique_ptr<Qwen3VLVisionModel> vision_;
};

std::unique_ptr<VisionLanguageModel> makeQwen3VL(const Qwen3VLConfig& config, const WeightSource& weights,
                                                 torch::Device device, torch::ScalarType dtype,
                                                 const Quantization& quantization = {},
                                                 torch::ScalarType vision_dtype = torch::ScalarType::Undefined);

} // namespace vqa::models
