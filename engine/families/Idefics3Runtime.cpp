#include "engine/families/Idefics3Runtime.h"

#include <cmath>

#include "engine/io/Checkpoint.h"
#include "engine/io/ModelConfig.h"
#include "models/Idefics3Model.h"

namespace vqa {

Idefics3Runtime::Idefics3Runtime(const FamilyLoadContext& context)
    : config_(parseIdefics3Config(context.config, context.model_dir + "/config.json")),
      processor_(std::make_unique<Idefics3ImageProcessor>(Idefics3ImageProcessor::fromModelDir(context.model_dir))),
      model_(models::makeIdefics3(config_, *context.checkpoint, context.device, context.dtype)) {}

PreparedImage Idefics3Runtime::prepareImage(const RgbImage& image) const {
    ProcessedImage processed = processor_->process(image);
    PreparedImage prepared;
    prepared.pixel_values = processed.pixel_values;
    prepared.pixel_attention_mask = processed.pixel_attention_mask;
    prepared.prompt_text = processor_->expandImageTokens(processed.rows, processed.cols);

    // Every tile and the global view becomes image_seq_len tokens, a square grid after
    // the connector's pixel shuffle.
    const int side = static_cast<int>(std::lround(std::sqrt(processor_->imageSeqLen())));
    ImageLayout& layout = prepared.layout;
    layout.image_width = image.width;
    layout.image_height = image.height;
    for (const auto& tile : processed.tiles)
        layout.blocks.push_back({side, side, tile.x, tile.y, tile.width, tile.height, false});
    layout.blocks.push_back({side, side, 0, 0, double(image.width), double(image.height), true});
    return prepared;
}

}  // namespace vqa
