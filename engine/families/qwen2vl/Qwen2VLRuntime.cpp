#include "engine/families/qwen2vl/Qwen2VLRuntime.h"

#include <algorithm>

#include "engine/families/qwen2vl/Qwen2VLConfig.h"
#include "models/Qwen2VL.h"
#include "models/base/Error.h"

namespace vqa {

namespace {

void expectSame(const std::string& model_dir, const char* processor_key, int processor_value, const char* model_key,
                int model_value) {
    if (processor_value != model_value)
        throw Error(model_dir + ": the image processor's " + processor_key + " is " + std::to_string(processor_value) +
                    " but config.json's vision_config." + model_key + " is " + std::to_string(model_value) +
                    "; the processor files belong to another model");
}

}  // namespace

void checkQwen2VLConsistency(const models::Qwen2VLVisionConfig& vision, const Qwen2VLProcessorConfig& processor,
                             const std::string& model_dir) {
    expectSame(model_dir, "patch_size", processor.patch_size, "patch_size", vision.patch_size);
    expectSame(model_dir, "merge_size", processor.merge_size, "spatial_merge_size", vision.spatial_merge_size);
    expectSame(model_dir, "temporal_patch_size", processor.temporal_patch_size, "temporal_patch_size",
               vision.temporal_patch_size);
}

namespace qwen_runtime {

Qwen2VLPixelBounds pixelBounds(const Qwen2VLProcessorConfig& c, const ImageOptions& options) {
    if (options.max_image_tokens <= 0)
        return {};
    const std::int64_t per_token = std::int64_t(c.factor()) * c.factor();
    const std::int64_t max_pixels = std::min(c.max_pixels, std::int64_t(options.max_image_tokens) * per_token);
    return {std::min(c.min_pixels, max_pixels), max_pixels};
}

int imageTokenCount(const Qwen2VLImageProcessor& processor, int width, int height, const ImageOptions& options) {
    const auto [w, h] = processor.resizedSize(width, height, pixelBounds(processor.config(), options));
    const int factor = processor.config().factor();
    return (w / factor) * (h / factor);
}

PreparedImage prepareImage(const Qwen2VLImageProcessor& processor, const RgbImage& image,
                           const ImageOptions& options, BoxSpace boxes) {
    static const std::string kImagePad = "<|image_pad|>";
    Qwen2VLProcessedImage processed = processor.process(image, pixelBounds(processor.config(), options));
    PreparedImage prepared;
    prepared.pixel_values = processed.pixel_values;
    prepared.prompt_text.reserve(kImagePad.size() * static_cast<std::size_t>(processed.numImageTokens()));
    for (int i = 0; i < processed.numImageTokens(); ++i)
        prepared.prompt_text += kImagePad;

    ImageLayout& layout = prepared.layout;
    layout.image_width = image.width;
    layout.image_height = image.height;
    const int m = processed.merge_size;
    layout.blocks.push_back({processed.grid_h / m, processed.grid_w / m, 0, 0, double(image.width),
                             double(image.height), false});
    if (boxes == BoxSpace::ResizedPixels) {
        layout.box_space_width = processed.resized_width;
        layout.box_space_height = processed.resized_height;
    } else if (boxes == BoxSpace::Thousandths) {
        layout.box_space_width = layout.box_space_height = 1000;
    }
    return prepared;
}

torch::Tensor imageGrids(const std::vector<const PreparedImage*>& images, std::int64_t m) {
    auto grids = torch::empty({static_cast<std::int64_t>(images.size()), 3}, torch::kInt64);
    for (std::size_t i = 0; i < images.size(); ++i) {
        const auto& blocks = images[i]->layout.blocks;
        if (blocks.size() != 1)
            throw Error("a Qwen-VL image has one grid of tokens, not " + std::to_string(blocks.size()));
        grids[std::int64_t(i)][0] = 1;
        grids[std::int64_t(i)][1] = blocks[0].grid_rows * m;
        grids[std::int64_t(i)][2] = blocks[0].grid_cols * m;
    }
    return grids;
}

}  // namespace qwen_runtime

Qwen2VLRuntime::Qwen2VLRuntime(const FamilyLoadContext& context)
    : config_(parseQwen2VLConfig(context.config, context.model_dir + "/config.json")),
      processor_(std::make_unique<Qwen2VLImageProcessor>(Qwen2VLProcessorConfig::load(context.model_dir))),
      model_((checkQwen2VLConsistency(config_.vision, processor_->config(), context.model_dir),
              models::makeQwen2VL(config_, *context.weights, context.device, context.dtype,
                                  context.quantization, context.vision_dtype))) {}

Qwen2VLPixelBounds Qwen2VLRuntime::pixelBounds(const ImageOptions& options) const {
    return qwen_runtime::pixelBounds(processor_->config(), options);
}

PreparedImage Qwen2VLRuntime::prepareImage(const RgbImage& image, const ImageOptions& options) const {
    return qwen_runtime::prepareImage(*processor_, image, options,
                                      config_.model_type == "qwen2_5_vl" ? qwen_runtime::BoxSpace::ResizedPixels
                                                                         : qwen_runtime::BoxSpace::BoxTokens);
}

int Qwen2VLRuntime::imageTokenCount(int width, int height, const ImageOptions& options) const {
    return qwen_runtime::imageTokenCount(*processor_, width, height, options);
}

torch::Tensor Qwen2VLRuntime::positions(const std::vector<std::int64_t>& ids,
                                        const std::vector<const PreparedImage*>& images) const {
    const auto id_tensor = torch::tensor(ids, torch::kInt64);
    return models::qwen2VLRopePositions(id_tensor, config_,
                                        qwen_runtime::imageGrids(images, config_.vision.spatial_merge_size));
}

}  // namespace vqa
