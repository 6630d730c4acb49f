#include "engine/families/idefics3/Idefics3Runtime.h"

#include "models/base/Error.h"

#include <cmath>

#include "engine/families/idefics3/Idefics3Config.h"
#include "models/Idefics3Model.h"

namespace vqa {

Idefics3Runtime::Idefics3Runtime(const FamilyLoadContext& context)
    : Idefics3Runtime(context, {"Idefics3ImageProcessor"}) {}

Idefics3Runtime::Idefics3Runtime(const FamilyLoadContext& context, const std::vector<std::string>& processor_types)
    : config_(parseIdefics3Config(context.config, context.model_dir + "/config.json")),
      processor_(std::make_unique<Idefics3ImageProcessor>(
          Idefics3ProcessorConfig::load(context.model_dir, processor_types))),
      model_((checkIdefics3Consistency(config_, processor_->config(), context.model_dir),
              models::makeIdefics3(config_, *context.weights, context.device, context.dtype,
                                  context.quantization, context.vision_dtype))) {}

PreparedImage Idefics3Runtime::prepareImage(const RgbImage& image, const ImageOptions& options) const {
    // The image detail: fewer tiles (a smaller longest edge) for a smaller token budget.
    ProcessedImage processed = processor_->process(
        image, processor_->longestEdgeWithin(image.width, image.height, options.max_image_tokens));
    PreparedImage prepared;
    prepared.pixel_values = processed.pixel_values;
    prepared.pixel_attention_mask = processed.pixel_attention_mask;
    prepared.prompt_text = processor_->expandImageTokens(processed.rows, processed.cols);

    // Every tile and the global view becomes image_seq_len tokens, a square grid after
    // the connector's pixel shuffle.
    const int side = static_cast<int>(std::lround(std::sqrt(processor_->config().image_seq_len)));
    ImageLayout& layout = prepared.layout;
    layout.image_width = image.width;
    layout.image_height = image.height;
    for (const auto& tile : processed.tiles)
        layout.blocks.push_back({side, side, tile.x, tile.y, tile.width, tile.height, false});
    const ImageRect& g = processed.global_view;
    layout.blocks.push_back({side, side, g.x, g.y, g.width, g.height, true});
    return prepared;
}

int Idefics3Runtime::imageTokenCount(int width, int height, const ImageOptions& options) const {
    return processor_->imageTokens(width, height,
                                   processor_->longestEdgeWithin(width, height, options.max_image_tokens));
}

// The connector's pixel shuffle puts image token (i, j) of a tile on its tower's patches
// (i r .. i r + r - 1, j r .. j r + r - 1): its attention is shared among them.
torch::Tensor Idefics3Runtime::imageTokensToTower(const torch::Tensor& values, const PreparedImage& image) const {
    const std::int64_t side = config_.vision.image_size / config_.vision.patch_size, r = config_.scale_factor;
    const std::int64_t tiles = static_cast<std::int64_t>(image.layout.blocks.size()), grid = side / r;
    if (values.numel() != tiles * grid * grid)
        throw Error("the image's attention has " + std::to_string(values.numel()) + " values for " +
                    std::to_string(tiles) + " tiles of " + std::to_string(grid * grid) + " tokens");
    return (values.to(torch::kFloat32).reshape({tiles, grid, 1, grid, 1}) / static_cast<double>(r * r))
        .expand({tiles, grid, r, grid, r})
        .reshape({tiles, side * side});
}

std::vector<HeatmapGrid> Idefics3Runtime::towerToGrids(const torch::Tensor& values, const PreparedImage& image) const {
    const std::int64_t side = config_.vision.image_size / config_.vision.patch_size;
    const auto v = values.to(torch::kCPU, torch::kFloat32).contiguous();
    std::vector<HeatmapGrid> grids;
    for (std::size_t t = 0; t < image.layout.blocks.size() && static_cast<std::int64_t>(t) < v.size(0); ++t) {
        const TokenBlock& b = image.layout.blocks[t];
        const float* row = v[static_cast<std::int64_t>(t)].data_ptr<float>();
        grids.push_back({static_cast<int>(side), static_cast<int>(side), std::vector<float>(row, row + side * side), b.x,
                         b.y, b.width, b.height, b.global_view});
    }
    return grids;
}

}  // namespace vqa
