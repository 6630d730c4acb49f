// The LLaVA-1.5 family as the engine sees it: the network (CLIP + projector + Llama), the
// CLIP image processor (pad to square or not, shortest-edge resize, center crop) and the
// image-token text that replaces "<image>": one <image> per feature row, as LlavaProcessor
// expands it. The attention over those tokens maps back onto the patch grid of the frame,
// and through the crop or padding onto the original image.
#pragma once

#include <memory>

#include "engine/families/FamilyRuntime.h"
#include "engine/families/llava/ClipImageProcessor.h"
#include "models/Config.h"

namespace vqa {

class LlavaRuntime : public FamilyRuntime {
public:
    // Throws vqa::Error when config.json, the processor files and the weights disagree.
    explicit LlavaRuntime(const FamilyLoadContext& context);
    std::string family() const override { return "llava"; }
    models::VisionLanguageModel& model() override { return *model_; }
    std::string imagePlaceholder() const override { return processor_->config().image_token; }
    // Fixed tokens per image: `options` do not apply.
    PreparedImage prepareImage(const RgbImage& image, const ImageOptions& options) const override;
    int contextLength() const override { return config_.text.max_position_embeddings; }
    int imagesTrainedWith() const override { return 1; }
    int imageTokenCount(int, int, const ImageOptions&) const override { return tokensPerImage(); }
    torch::Tensor imageTokensToTower(const torch::Tensor& values, const PreparedImage& image) const override;
    std::vector<HeatmapGrid> towerToGrids(const torch::Tensor& values, const PreparedImage& image) const override;

    // Image tokens per image: the patch grid, plus the class token under "full".
    int tokensPerImage() const;

private:
    models::LlavaConfig config_;
    std::unique_ptr<ClipImageProcessor> processor_;
    std::unique_ptr<models::VisionLanguageModel> model_;
};

// Throws vqa::Error naming `model_dir` when the processor files and config.json disagree: the
// crop must be the vision tower's image_size, and LlavaProcessor's token count (when its
// processor_config.json gives patch_size) must be what the model makes per image.
void checkLlavaConsistency(const models::LlavaConfig& model, const ClipProcessorConfig& processor,
                           const std::string& model_dir);

}  // namespace vqa
