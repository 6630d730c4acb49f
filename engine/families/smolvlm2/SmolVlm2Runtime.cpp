#include "engine/families/smolvlm2/SmolVlm2Runtime.h"

#include <cmath>

#include "engine/vision/VideoFile.h"
#include "models/base/Error.h"

namespace vqa {

SmolVlm2Runtime::SmolVlm2Runtime(const FamilyLoadContext& context)
    : Idefics3Runtime(context, {"SmolVLMImageProcessor", "Idefics3ImageProcessor"}),
      video_(std::make_unique<SmolVlm2VideoProcessor>(SmolVlm2VideoConfig::load(context.model_dir),
                                                      imageProcessor().config().image_seq_len)) {
    if (video_->config().tile_size != config().vision.image_size)
        throw Error(context.model_dir + ": the video frames' size (max_image_size " +
                    std::to_string(video_->config().tile_size) + ") is not the vision encoder's image_size (" +
                    std::to_string(config().vision.image_size) + ")");
}

std::vector<std::int64_t> SmolVlm2Runtime::videoFrameIndices(const VideoInfo& info) const {
    return video_->sampleFrames(info);
}

PreparedImage SmolVlm2Runtime::prepareVideo(const std::vector<RgbImage>& frames, const VideoInfo& info,
                                            const std::vector<std::int64_t>& indices) const {
    if (frames.size() != indices.size())
        throw Error("the video gave " + std::to_string(frames.size()) + " frames for " +
                    std::to_string(indices.size()) + " sampled");
    PreparedImage prepared;
    prepared.pixel_values = video_->process(frames);
    const auto n = prepared.pixel_values.size(0);
    const int tile = video_->config().tile_size;
    prepared.pixel_attention_mask = torch::ones({n, tile, tile}, torch::kBool);

    VideoFrames& sampled = prepared.frames;
    sampled.duration_s = info.duration_s;
    sampled.indices = indices;
    for (std::int64_t i : indices)
        sampled.times_s.push_back(static_cast<double>(i) / info.fps);
    prepared.prompt_text = video_->promptText(sampled);

    // Each frame is one global view of the whole picture: a square grid of image_seq_len tokens.
    const int side = static_cast<int>(std::lround(std::sqrt(imageProcessor().config().image_seq_len)));
    ImageLayout& layout = prepared.layout;
    layout.image_width = info.width;
    layout.image_height = info.height;
    for (std::size_t i = 0; i < indices.size(); ++i) {
        TokenBlock block{side, side, 0, 0, static_cast<double>(info.width), static_cast<double>(info.height), true};
        block.frame = static_cast<int>(i);
        block.time_s = sampled.times_s[i];
        layout.blocks.push_back(block);
    }
    return prepared;
}

}  // namespace vqa
