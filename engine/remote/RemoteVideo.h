// A video for a server: OpenAI-compatible servers (vLLM, llama-server, Ollama, LM Studio,
// `vqa serve`) take images, and few take videos, so a video goes as a few of its frames, each
// an image after its time (videoFrameLabel: "Frame from 00:12:", SmolVLM2's words), spread
// evenly over the video: one a second for a short clip, at most kServerVideoFrames. Each frame
// is made at most kServerFrameEdge pixels on its longer side and encoded with imageDataUrl in a
// share of the request's budget. No LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/Types.h"

namespace vqa::remote {

inline constexpr int kServerVideoFrames = 8;
inline constexpr int kServerFrameEdge = 768;

struct ServerVideo {
    VideoFrames frames;              // which frames go, and when they are (frames.video is 0)
    std::vector<std::string> urls;   // their data: URLs, in order
};

// The frame numbers sent for a video of `frame_count` frames at `fps`: n = min(frames,
// max(1, round(duration)), kServerVideoFrames) frames at the middles of n equal spans.
std::vector<std::int64_t> serverFrameIndices(std::int64_t frame_count, double fps);

// Opens, samples and encodes `video` (Throws vqa::Error naming the file when it cannot be
// read). The few most recent, by VideoInput::key, are kept: a conversation sends its video
// again with every turn, and it is decoded once.
ServerVideo serverVideo(const VideoInput& video);

}  // namespace vqa::remote
