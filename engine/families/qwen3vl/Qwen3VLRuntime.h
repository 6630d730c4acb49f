// The Qwen3-VL family as the engine sees it: the network (models/Qwen3VL), Qwen2-VL's image
// processor with Qwen3-VL's settings (16-pixel patches, mean and std 0.5, its pixel bounds)
// and the image's prompt text (one <|image_pad|> per merged patch between the <|vision_start|>
// and <|vision_end|> the chat format writes). The image tokens form one grid over the whole
// image with multimodal rotary positions on it, as in Qwen2-VL; the image's DeepStack features
// reach the decoder through ImageFeatures. Boxes are bbox_2d JSON on a 0-1000 scale of the image.
#pragma once

#include <memory>

#include "engine/families/FamilyRuntime.h"
#include "engine/families/qwen2vl/Qwen2VLImageProcessor.h"
#include "models/Config.h"

namespace vqa {

class Qwen3VLRuntime : public FamilyRuntime {
public:
    // Throws vqa::Error when config.json, the processor files and the weights disagree.
    explicit Qwen3VLRuntime(const FamilyLoadContext& context);
    std::string family() const override { return config_.model_type; }
    models::VisionLanguageModel& model() override { return *model_; }
    std::string imagePlaceholder() const override { return "<|image_pad|>"; }
    // options.max_image_tokens lowers the processor's max_pixels to that many merged patches.
    PreparedImage prepareImage(const RgbImage& image, const ImageOptions& options) const override;
    int imageTokenCount(int width, int height, const ImageOptions& options) const override;
    ImageOptions imageOptionsUsed(const ImageOptions& options) const override { return options; }
    int contextLength() const override { return config_.text.max_position_embeddings; }
    torch::Tensor positions(const std::vector<std::int64_t>& ids,
                            const std::vector<const PreparedImage*>& images) const override;

private:
    models::Qwen3VLConfig config_;
    std::unique_ptr<Qwen2VLImageProcessor> processor_;
    std::unique_ptr<models::VisionLanguageModel> model_;
};

}  // namespace vqa
