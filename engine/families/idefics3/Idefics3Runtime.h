// The Idefics3 / SmolVLM family as the engine sees it: the network, the image processor
// (tiles plus a global view) and the image-token text that replaces "<image>".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/families/FamilyRuntime.h"
#include "engine/families/idefics3/Idefics3ImageProcessor.h"
#include "models/Config.h"

namespace vqa {

class Idefics3Runtime : public FamilyRuntime {
public:
    explicit Idefics3Runtime(const FamilyLoadContext& context);
    std::string family() const override { return "idefics3"; }
    models::VisionLanguageModel& model() override { return *model_; }
    std::string imagePlaceholder() const override { return "<image>"; }
    // Fixed tokens per image: `options` do not apply.
    // ImageOptions::max_image_tokens lowers the longest edge the image is resized to (fewer
    // tiles), as the reference processor does with a smaller size={"longest_edge": N}.
    PreparedImage prepareImage(const RgbImage& image, const ImageOptions& options) const override;
    ImageOptions imageOptionsUsed(const ImageOptions& options) const override { return options; }
    int imageTokenCount(int width, int height, const ImageOptions& options) const override;
    int contextLength() const override { return config_.text.max_position_embeddings; }
    torch::Tensor imageTokensToTower(const torch::Tensor& values, const PreparedImage& image) const override;
    std::vector<HeatmapGrid> towerToGrids(const torch::Tensor& values, const PreparedImage& image) const override;

protected:
    // A family built on this network with its own processor (SmolVLM2): its image processor's
    // type names, as preprocessor_config.json's image_processor_type gives them.
    Idefics3Runtime(const FamilyLoadContext& context, const std::vector<std::string>& processor_types);
    const models::Idefics3Config& config() const { return config_; }
    const Idefics3ImageProcessor& imageProcessor() const { return *processor_; }

private:
    models::Idefics3Config config_;
    std::unique_ptr<Idefics3ImageProcessor> processor_;
    std::unique_ptr<models::VisionLanguageModel> model_;
};

}  // namespace vqa
