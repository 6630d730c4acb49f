#include "engine/families/qwen3vl/Qwen3VLRuntime.h"

#include "engine/families/qwen2vl/Qwen2VLRuntime.h"
#include "engine/families/qwen3vl/Qwen3VLConfig.h"
#include "models/Qwen2VL.h"
#include "models/Qwen3VL.h"

namespace vqa {

Qwen3VLRuntime::Qwen3VLRuntime(const FamilyLoadContext& context)
    : config_(parseQwen3VLConfig(context.config, context.model_dir + "/config.json")),
      processor_(std::make_unique<Qwen2VLImageProcessor>(Qwen2VLProcessorConfig::load(context.model_dir))),
      model_((checkQwen2VLConsistency(config_.vision, processor_->config(), context.model_dir),
              models::makeQwen3VL(config_, *context.weights, context.device, context.dtype,
                                  context.quantization, context.vision_dtype))) {}

int Qwen3VLRuntime::imageTokenCount(int width, int height, const ImageOptions& options) const {
    return qwen_runtime::imageTokenCount(*processor_, width, height, options);
}

PreparedImage Qwen3VLRuntime::prepareImage(const RgbImage& image, const ImageOptions& options) const {
    // Qwen3-VL names boxes as Qwen2.5-VL's bbox_2d JSON, but on a 0-1000 scale of the image.
    return qwen_runtime::prepareImage(*processor_, image, options, qwen_runtime::BoxSpace::Thousandths);
}

torch::Tensor Qwen3VLRuntime::positions(const std::vector<std::int64_t>& ids,
                                        const std::vector<const PreparedImage*>& images) const {
    const std::int64_t m = config_.vision.spatial_merge_size;
    return models::qwenRopePositions(torch::tensor(ids, torch::kInt64), config_.image_token_id,
                                     config_.video_token_id, m, qwen_runtime::imageGrids(images, m));
}

}  // namespace vqa
