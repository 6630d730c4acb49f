#include "engine/remote/RemoteVideo.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <list>
#include <mutex>

#include <opencv2/imgproc.hpp>

#include "engine/remote/OpenAiClient.h"
#include "engine/vision/VideoFile.h"
#include "models/base/Error.h"

namespace vqa::remote {

std::vector<std::int64_t> serverFrameIndices(std::int64_t frame_count, double fps) {
    if (frame_count <= 0)
        return {};
    const double duration = fps > 0 ? static_cast<double>(frame_count) / fps : 0;
    const std::int64_t n = std::min<std::int64_t>(
        {frame_count, std::max<std::int64_t>(1, std::llround(duration)), kServerVideoFrames});
    std::vector<std::int64_t> out;
    for (std::int64_t i = 0; i < n; ++i) {
        const auto index = static_cast<std::int64_t>((static_cast<double>(i) + 0.5) * static_cast<double>(frame_count) /
                                                     static_cast<double>(n));
        out.push_back(std::clamp<std::int64_t>(index, 0, frame_count - 1));
    }
    return out;
}

namespace {

// The frame with its longer side at most kServerFrameEdge pixels (area-averaged).
RgbImage smaller(const RgbImage& frame) {
    const int edge = std::max(frame.width, frame.height);
    if (edge <= kServerFrameEdge)
        return frame;
    const double f = static_cast<double>(kServerFrameEdge) / edge;
    const cv::Mat src(frame.height, frame.width, CV_8UC3, const_cast<std::uint8_t*>(frame.pixels.data()));
    cv::Mat dst;
    cv::resize(src, dst, cv::Size(std::max(1, static_cast<int>(std::lround(frame.width * f))),
                                  std::max(1, static_cast<int>(std::lround(frame.height * f)))),
               0, 0, cv::INTER_AREA);
    RgbImage out;
    out.width = dst.cols;
    out.height = dst.rows;
    out.pixels.assign(dst.data, dst.data + dst.total() * 3);
    return out;
}

ServerVideo encode(const VideoInput& input) {
    VideoFile video = VideoFile::open(input.path, std::filesystem::path(input.path).filename().string());
    const VideoInfo& info = video.info();
    ServerVideo out;
    out.frames.duration_s = info.duration_s;
    out.frames.indices = serverFrameIndices(info.frame_count, info.fps);
    const auto frames = video.frames(out.frames.indices);
    for (std::size_t i = 0; i < frames.size(); ++i) {
        out.frames.times_s.push_back(info.fps > 0 ? static_cast<double>(out.frames.indices[i]) / info.fps : 0.0);
        out.urls.push_back(imageDataUrl(smaller(frames[i]), kMaxImageUrlBytes / (2 * kServerVideoFrames)));
    }
    return out;
}

}  // namespace

ServerVideo serverVideo(const VideoInput& video) {
    if (video.key.empty())
        return encode(video);
    static std::mutex mutex;
    static std::list<std::pair<std::string, ServerVideo>> recent;  // newest first
    {
        std::lock_guard lock(mutex);
        for (auto it = recent.begin(); it != recent.end(); ++it)
            if (it->first == video.key) {
                recent.splice(recent.begin(), recent, it);
                return it->second;
            }
    }
    ServerVideo sent = encode(video);
    std::lock_guard lock(mutex);
    recent.emplace_front(video.key, sent);
    if (recent.size() > 2)
        recent.pop_back();
    return sent;
}

}  // namespace vqa::remote
