// Video preprocessing of the SmolVLM2 family, as transformers' SmolVLMVideoProcessor and
// SmolVLMProcessor do it:
//   1. sample frames from the video's metadata (sample_frames): fps x duration frames, at
//      most max_frames, spread evenly (numpy's linspace, floored) over the video, skipping
//      the first and last second when the video is long enough;
//   2. resize each frame so its longest edge is video_size.longest_edge (the other edge even),
//      then to a square of max_image_size.longest_edge: Lanczos with antialiasing on 8-bit
//      pixels, LibTorch's own kernel (what torchvision calls), so the pixels are the reference's;
//   3. rescale and normalize in float32 as the torchvision backend fuses them;
//   4. the prompt: "You are provided the following series of <count in words> frames from a
//      H:MM:SS [H:MM:SS] video.\n", then per frame "\nFrame from MM:SS:" and the frame's image
//      tokens (a global view alone: videos are never split), then "\n\n".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "engine/Types.h"
#include "engine/vision/PixelNormalization.h"

namespace vqa {

struct VideoInfo;

// The video settings of a SmolVLM2 folder, found where transformers finds them: the
// "video_processor" object of processor_config.json (transformers 5), else
// video_preprocessor_config.json, else preprocessor_config.json's "video_sampling" (the released
// checkpoints). Absent keys take SmolVLMVideoProcessor's defaults.
struct SmolVlm2VideoConfig {
    double fps = 1;
    int max_frames = 64;
    int longest_edge = 4 * 364;  // video_size.longest_edge (or size.longest_edge)
    int tile_size = 364;         // max_image_size.longest_edge: frames end as tile x tile
    PixelNormalization normalization;
    double skip_secs = 1;

    static SmolVlm2VideoConfig load(const std::string& model_dir);
};

class SmolVlm2VideoProcessor {
public:
    SmolVlm2VideoProcessor(SmolVlm2VideoConfig config, int image_seq_len);
    const SmolVlm2VideoConfig& config() const { return config_; }

    // Frame numbers to decode, ascending and distinct.
    std::vector<std::int64_t> sampleFrames(const VideoInfo& info) const;
    // [F, 3, tile, tile] float32 pixel values of the sampled frames (all the same size).
    torch::Tensor process(const std::vector<RgbImage>& frames) const;
    // The text that replaces the video's placeholder.
    std::string promptText(const VideoFrames& frames) const;
    // The size (width, height) the first resize gives.
    std::pair<int, int> resizedSize(int width, int height) const;

private:
    SmolVlm2VideoConfig config_;
    int image_seq_len_;
};

// A non-negative number in English words as the Python package num2words writes it
// ("twenty-one", "one hundred and five"): SmolVLM2's prompt counts the frames in words.
std::string englishCardinal(std::int64_t n);

}  // namespace vqa
