#include "engine/families/llava/LlavaRuntime.h"

#include "engine/families/llava/LlavaConfig.h"
#include "models/base/Error.h"
#include "models/Llava.h"

namespace vqa {

namespace {

int modelTokensPerImage(const models::LlavaConfig& c) {
    const int side = c.vision.image_size / c.vision.patch_size;
    return side * side + (c.drop_cls ? 0 : 1);
}

}  // namespace

void checkLlavaConsistency(const models::LlavaConfig& model, const ClipProcessorConfig& p,
                           const std::string& model_dir) {
    const int size = model.vision.image_size;
    const int frame_h = p.do_center_crop ? p.crop_height : p.resize_height;
    const int frame_w = p.do_center_crop ? p.crop_width : p.resize_width;
    if (frame_h != size || frame_w != size)
        throw Error(model_dir + ": the image processor makes " + std::to_string(frame_w) + "x" +
                    std::to_string(frame_h) + " frames (crop_size, or size without a crop), but the vision tower in "
                    "config.json takes " + std::to_string(size) + "x" + std::to_string(size) + " images");
    if (p.patch_size > 0) {
        const int per_side = size / p.patch_size;
        int tokens = per_side * per_side + p.num_additional_image_tokens;
        const std::string strategy = p.vision_feature_select_strategy.empty()
                                         ? (model.drop_cls ? "default" : "full")
                                         : p.vision_feature_select_strategy;
        if (strategy == "default")
            tokens -= 1;
        if (tokens != modelTokensPerImage(model))
            throw Error(model_dir + ": processor_config.json expands an image into " + std::to_string(tokens) +
                        " tokens (patch_size, num_additional_image_tokens, vision_feature_select_strategy), but "
                        "config.json's vision tower and vision_feature_select_strategy give " +
                        std::to_string(modelTokensPerImage(model)) + " features per image");
    }
}

LlavaRuntime::LlavaRuntime(const FamilyLoadContext& context)
    : config_(parseLlavaConfig(context.config, context.model_dir + "/config.json")),
      processor_(std::make_unique<ClipImageProcessor>(ClipProcessorConfig::load(context.model_dir))),
      model_((checkLlavaConsistency(config_, processor_->config(), context.model_dir),
              models::makeLlava(config_, *context.weights, context.device, context.dtype,
                                  context.quantization, context.vision_dtype))) {}

int LlavaRuntime::tokensPerImage() const { return modelTokensPerImage(config_); }

PreparedImage LlavaRuntime::prepareImage(const RgbImage& image, const ImageOptions&) const {
    ClipProcessedImage processed = processor_->process(image);
    PreparedImage prepared;
    prepared.pixel_values = processed.pixel_values;
    const int tokens = tokensPerImage();
    const std::string& token = processor_->config().image_token;
    prepared.prompt_text.reserve(token.size() * static_cast<std::size_t>(tokens));
    for (int i = 0; i < tokens; ++i)
        prepared.prompt_text += token;

    ImageLayout& layout = prepared.layout;
    layout.image_width = image.width;
    layout.image_height = image.height;
    // The class token ("full") summarizes the frame but has no place in it: an empty block.
    if (!config_.drop_cls)
        layout.blocks.push_back({1, 1, processed.frame_x, processed.frame_y, 0, 0, false});
    const int side = config_.vision.image_size / config_.vision.patch_size;
    layout.blocks.push_back({side, side, processed.frame_x, processed.frame_y, processed.frame_width,
                             processed.frame_height, false});
    return prepared;
}

// The tower's tokens are the class token, then the patches; the image tokens are the patches
// ("default") or all of them ("full").
torch::Tensor LlavaRuntime::imageTokensToTower(const torch::Tensor& values, const PreparedImage& image) const {
    (void)image;
    const std::int64_t side = config_.vision.image_size / config_.vision.patch_size;
    auto v = values.to(torch::kFloat32).reshape({-1});
    if (v.numel() != side * side + (config_.drop_cls ? 0 : 1))
        throw Error("the image's attention has " + std::to_string(v.numel()) + " values, not one per image token");
    if (config_.drop_cls)
        v = torch::cat({torch::zeros({1}, v.options()), v});
    return v.unsqueeze(0);
}

std::vector<HeatmapGrid> LlavaRuntime::towerToGrids(const torch::Tensor& values, const PreparedImage& image) const {
    const std::int64_t side = config_.vision.image_size / config_.vision.patch_size;
    const auto v = values.to(torch::kCPU, torch::kFloat32).reshape({-1}).contiguous();
    const TokenBlock& b = image.layout.blocks.back();  // the patch grid (the class token has no place)
    const float* patches = v.data_ptr<float>() + 1;
    return {{static_cast<int>(side), static_cast<int>(side), std::vector<float>(patches, patches + side * side), b.x, b.y,
             b.width, b.height, b.global_view}};
}

}  // namespace vqa
