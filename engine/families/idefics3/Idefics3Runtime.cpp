#include "engine/families/idefics3/Idefics3Runtime.h"

#include <cmath>

#include "engine/families/idefics3/Idefics3Config.h"
#include "models/Idefics3Model.h"

namespace vqa {

Idefics3Runtime::Idefics3Runtime(const FamilyLoadContext& context)
    : config_(parseIdefics3Config(context.config, context.model_dir + "/config.json")),
      processor_(std::make_unique<Idefics3ImageProcessor>(Idefics3ProcessorConfig::load(context.model_dir))),
      model_((checkIdefics3Consistency(config_, processor_->config(), context.model_dir),
              models::makeIdefics3(config_, *context.weights, context.device, context.dtype,
                                  context.quantization, context.vision_dtype))) {}

PreparedImage Idefics3Runtime::prepareImage(const RgbImage& image, const ImageOptions&) const {
    ProcessedImage processed = processor_->process(image);
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

}  // namespace vqa
