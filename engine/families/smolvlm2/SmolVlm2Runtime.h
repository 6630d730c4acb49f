// The SmolVLM2 family (model_type "smolvlm"): the Idefics3 network and image processing, and
// videos: frames sampled and resized by SmolVLMVideoProcessor's rules, each frame a global view
// of image_seq_len tokens after a "Frame from MM:SS:" line (SmolVlm2VideoProcessor.h).
#pragma once

#include <memory>

#include "engine/families/idefics3/Idefics3Runtime.h"
#include "engine/families/smolvlm2/SmolVlm2VideoProcessor.h"

namespace vqa {

class SmolVlm2Runtime : public Idefics3Runtime {
public:
    explicit SmolVlm2Runtime(const FamilyLoadContext& context);
    std::string family() const override { return "smolvlm"; }
    std::string videoPlaceholder() const override { return "<video>"; }
    std::vector<std::int64_t> videoFrameIndices(const VideoInfo& info) const override;
    PreparedImage prepareVideo(const std::vector<RgbImage>& frames, const VideoInfo& info,
                               const std::vector<std::int64_t>& indices) const override;

private:
    std::unique_ptr<SmolVlm2VideoProcessor> video_;
};

}  // namespace vqa
