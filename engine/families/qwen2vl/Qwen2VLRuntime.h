// The Qwen2-VL / Qwen2.5-VL family as the engine sees it: the network (models/Qwen2VL), the
// image processor (smart resize within a pixel budget, one frame per still image) and the
// image's prompt text: one <|image_pad|> per merged patch, which the chat format already
// wraps in <|vision_start|> ... <|vision_end|>. The image tokens form one grid, row-major
// over the merged patches, that covers the whole image (the resize neither crops nor pads),
// and their rotary positions follow that grid (multimodal rotary positions).
#pragma once

#include <memory>

#include "engine/families/FamilyRuntime.h"
#include "engine/families/qwen2vl/Qwen2VLImageProcessor.h"
#include "models/Config.h"

namespace vqa {

class Qwen2VLRuntime : public FamilyRuntime {
public:
    // Throws vqa::Error when config.json, the processor files and the weights disagree.
    explicit Qwen2VLRuntime(const FamilyLoadContext& context);
    std::string family() const override { return config_.model_type; }
    models::VisionLanguageModel& model() override { return *model_; }
    std::string imagePlaceholder() const override { return "<|image_pad|>"; }
    // options.max_image_tokens lowers the processor's max_pixels to that many merged patches.
    PreparedImage prepareImage(const RgbImage& image, const ImageOptions& options) const override;
    int imageTokenCount(int width, int height, const ImageOptions& options) const override;
    // The image's size follows max_image_tokens.
    ImageOptions imageOptionsUsed(const ImageOptions& options) const override { return options; }
    int contextLength() const override { return config_.text.max_position_embeddings; }
    // Each image's grid is read back from its layout (its one block is the merged grid).
    torch::Tensor positions(const std::vector<std::int64_t>& ids,
                            const std::vector<const PreparedImage*>& images) const override;

    // The processor's pixel bounds under `options`.
    Qwen2VLPixelBounds pixelBounds(const ImageOptions& options) const;

private:
    models::Qwen2VLConfig config_;
    std::unique_ptr<Qwen2VLImageProcessor> processor_;
    std::unique_ptr<models::VisionLanguageModel> model_;
};

// Throws vqa::Error naming `model_dir` when the image processor cuts patches the vision tower
// does not take (patch_size, merge_size, temporal_patch_size against config.json's).
void checkQwen2VLConsistency(const models::Qwen2VLVisionConfig& vision, const Qwen2VLProcessorConfig& processor,
                             const std::string& model_dir);

// What the Qwen-VL runtimes share (Qwen3VLRuntime too).
namespace qwen_runtime {

// The processor's pixel bounds under `options` (max_image_tokens lowers max_pixels).
Qwen2VLPixelBounds pixelBounds(const Qwen2VLProcessorConfig& processor, const ImageOptions& options);
// How a family's answers name boxes on the image (ImageLayout::box_space_*, Grounding.h).
enum class BoxSpace {
    BoxTokens,      // Qwen2-VL: <|box_start|>(x1,y1),(x2,y2)<|box_end|> on a 0-1000 scale
    ResizedPixels,  // Qwen2.5-VL: bbox_2d JSON in the resized image's pixels
    Thousandths,    // Qwen3-VL: bbox_2d JSON on a 0-1000 scale of the image
};

// The image resized and cut by `processor`, its prompt text (one <|image_pad|> per merged
// patch) and its layout: one grid over the whole image, boxes in `boxes`.
PreparedImage prepareImage(const Qwen2VLImageProcessor& processor, const RgbImage& image,
                           const ImageOptions& options, BoxSpace boxes);
// The <|image_pad|> tokens a width x height image makes under `options`.
int imageTokenCount(const Qwen2VLImageProcessor& processor, int width, int height, const ImageOptions& options);
// image_grid_thw [images, 3] of prepared images, read back from their layouts.
torch::Tensor imageGrids(const std::vector<const PreparedImage*>& images, std::int64_t merge_size);

}  // namespace qwen_runtime

}  // namespace vqa
