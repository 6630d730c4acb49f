// What the engine needs from a model family, beyond the network itself: how to turn an
// image into the model's inputs, and the prompt text that stands for it. One class per
// family, in its folder (idefics3/Idefics3Runtime, ...), built through the family table
// (Families.h); Engine never special-cases a family.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "engine/Types.h"
#include "engine/explain/ImageLayout.h"
#include "models/VisionLanguageModel.h"
#include "models/WeightSource.h"
#include "models/quant/QuantFormat.h"

namespace vqa {

// An image made ready for one model: tensors for the vision encoder, the text that replaces
// the image placeholder in the rendered prompt, and the layout of its image tokens.
// A video's sampled frames are prepared the same way: one block of the layout per frame, and
// `frames` says which frames of the file they are.
struct PreparedImage {
    torch::Tensor pixel_values;          // [N, C, H, W], float32 on the CPU
    torch::Tensor pixel_attention_mask;  // [N, H, W] bool, or undefined
    std::string prompt_text;             // replaces one image (or video) placeholder
    ImageLayout layout;
    VideoFrames frames;                  // a video's: the frames sampled (empty for an image)
};

struct VideoInfo;

class FamilyRuntime {
public:
    virtual ~FamilyRuntime() = default;
    virtual std::string family() const = 0;
    virtual models::VisionLanguageModel& model() = 0;
    // The placeholder the chat format writes for an image (e.g. "<image>").
    virtual std::string imagePlaceholder() const = 0;
    virtual PreparedImage prepareImage(const RgbImage& image, const ImageOptions& options) const = 0;
    // The part of `options` prepareImage depends on, which the engine's image cache keys on:
    // none by default (a family with a fixed number of tokens per image ignores them).
    virtual ImageOptions imageOptionsUsed(const ImageOptions& options) const {
        (void)options;
        return {};
    }
    virtual int contextLength() const = 0;
    // How many images a conversation held in the model's training, when that is few: more
    // still run (as in the reference) but with a warning. 0: no such limit (LLaVA-1.5: 1).
    virtual int imagesTrainedWith() const { return 0; }

    // Videos (ContentPart::Video). The placeholder the chat format writes for one: "" when
    // the family takes no video (the engine then refuses a conversation with one).
    virtual std::string videoPlaceholder() const { return ""; }
    // The frames the family's processor samples from a video with this metadata (ascending
    // frame numbers), and the sampled frames made ready for the model.
    virtual std::vector<std::int64_t> videoFrameIndices(const VideoInfo& info) const;
    virtual PreparedImage prepareVideo(const std::vector<RgbImage>& frames, const VideoInfo& info,
                                       const std::vector<std::int64_t>& indices) const;
    // The image tokens a width x height image makes under `options`, without preparing it
    // (the window shows it beside the image detail); -1 when the family cannot tell.
    virtual int imageTokenCount(int width, int height, const ImageOptions& options) const {
        (void)width, (void)height, (void)options;
        return -1;
    }

    // Carrying attention through the vision tower (its attention rollout, which
    // VisionLanguageModel::visionRollout gives per tile): `values`, one per image token of
    // `image`, spread over each tile's tower tokens, [tiles, S]; and values over the tower's
    // input tokens, [tiles, S], back as grids over the image, one per tile at the tower's
    // patch resolution. Undefined / empty (the default): the family draws no rollout.
    virtual torch::Tensor imageTokensToTower(const torch::Tensor& values, const PreparedImage& image) const {
        (void)values, (void)image;
        return {};
    }
    virtual std::vector<HeatmapGrid> towerToGrids(const torch::Tensor& values, const PreparedImage& image) const {
        (void)values, (void)image;
        return {};
    }
    // The rotary positions of a whole prompt `ids` whose images, in order, are `images`:
    // [3, T] int64 for a family that places image tokens on their grid (Qwen2-VL's
    // multimodal positions); undefined (the default) when a token's position is its index.
    virtual torch::Tensor positions(const std::vector<std::int64_t>& ids,
                                    const std::vector<const PreparedImage*>& images) const {
        (void)ids;
        (void)images;
        return {};
    }
};

struct FamilyLoadContext {
    std::string model_dir;
    nlohmann::json config;
    const models::WeightSource* weights = nullptr;  // the checkpoint's tensors
    torch::Device device = torch::kCPU;
    torch::ScalarType dtype = torch::kFloat32;
    models::Quantization quantization;  // which decoder weights are quantized as they load
    // What the vision tower and connector run in (Undefined: `dtype`): bfloat16 under the
    // "fast" precision and with quantized weights on the CPU.
    torch::ScalarType vision_dtype = torch::ScalarType::Undefined;
};

}  // namespace vqa
