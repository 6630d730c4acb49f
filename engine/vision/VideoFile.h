// Video files to 8-bit RGB frames (vqa::RgbImage), with OpenCV's video I/O over FFmpeg (Debian's
// libopencv-videoio). Free of LibTorch, OpenCV and Qt in its interface, so the CLI and the
// window include it as they include ImageIO.h.
//
// What reading does, and why:
// - The frames are exactly the pixels transformers' OpenCV video loader gets: a
//   cv::VideoCapture on the FFmpeg backend, frames in decoding order, BGR turned to RGB. A
//   family's sampler picks frame indices from VideoInfo (frame_count and fps as OpenCV reports
//   them, duration = frame_count / fps as transformers computes it); frames() decodes only up
//   to those. Frames in between are grabbed (decoded, not converted); a gap of more than
//   kSeekGap frames is crossed by seeking, and a seek that fails or lands elsewhere falls back
//   to reading forward. So a 10-hour video sampled at 64 frames is not decoded end to end.
//   OpenCV finds a seeked frame's number from its timestamp and the stream's frame rate: exact
//   for constant-frame-rate files (the tests check it for FFV1, MJPEG, MPEG-4 and H.264), not
//   necessarily for variable-frame-rate ones, which only matters past kSeekGap frames.
// - The frame after each one returned must be there too (it is grabbed ahead, and reused by
//   the next call when that asks for it): in a cut file, the last packet decodes without an
//   error to a partly garbage picture, so it is reported as unreadable instead.
// - Everything checkable from the header is checked before the first frame is decoded: the
//   frame size, the frame count and the duration against VideoLimits. A container that reports
//   no frame count (0 or -1: some streams do) has its frames counted by reading, within the
//   limits.
// - Every failure is a vqa::Error naming the file (`name`) and what to do: missing, empty, a
//   folder, not a video (an image or a text file renamed .mp4), a codec this build cannot
//   decode, an MP4 whose index (moov box) is missing, a file that ends early (naming how many
//   frames could be read), too large or too long.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/Types.h"

namespace vqa {

struct VideoLimits {
    // Longer videos (by frame_count / fps) are refused before anything is decoded.
    double max_duration_s = 24 * 3600;
    // width*height of one frame, from the header.
    std::int64_t max_frame_pixels = 8192LL * 8192;
    // Frames the file may have (also the most frames read to count them when the container
    // does not say).
    std::int64_t max_frames = 10'000'000;
};

struct VideoInfo {
    int width = 0, height = 0;
    double fps = 0;                // CAP_PROP_FPS
    std::int64_t frame_count = 0;  // CAP_PROP_FRAME_COUNT, or counted by reading when it says none
    double duration_s = 0;         // frame_count / fps, as transformers' OpenCV video loader computes it
    std::string codec;             // the FourCC as text ("FFV1", "avc1", "mp4v"), "" when the container has none (WebM)
};

// An open video file. Movable, not copyable; not for use from two threads at once.
class VideoFile {
public:
    // Gaps between wanted frames longer than this are crossed by seeking.
    static constexpr std::int64_t kSeekGap = 300;

    // Opens `path` and reads its metadata; `name` names the file in messages (the window says
    // "clip.mp4: ...", not the whole path). Throws vqa::Error.
    static VideoFile open(const std::string& path, const std::string& name, const VideoLimits& limits = {});

    VideoFile(VideoFile&&) noexcept;
    VideoFile& operator=(VideoFile&&) noexcept;
    ~VideoFile();

    const VideoInfo& info() const;

    // The frames at `indices` (ascending, each in [0, frame_count); repeats allowed), as 8-bit
    // RGB, in that order. Calls may ask for earlier frames than a previous call did (the file
    // is then read again from the start). Throws vqa::Error for bad indices and for frames
    // that cannot be decoded ("only N of the video's M frames could be read ..."), never
    // returning garbage for them.
    // `cancelled` (may be empty) is asked between frames; when it says yes, frames() returns
    // an EMPTY vector at once (the engine's own cancel type is not reachable from a torch-free
    // header): a non-empty `indices` giving an empty result means cancelled.
    std::vector<RgbImage> frames(const std::vector<std::int64_t>& indices,
                                 const std::function<bool()>& cancelled = {});

    // Frames decoded so far by this object (grabbed or retrieved, not those FFmpeg decodes
    // inside a seek): for tests and logs.
    std::int64_t framesDecoded() const;

private:
    struct Impl;
    explicit VideoFile(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// By extension (mp4 m4v mov webm mkv avi, any case): for the CLI and the window's drop.
bool looksLikeVideoFile(const std::string& path);

// "Frame from MM:SS:" for a frame `seconds` into a video (minutes past 59 go on: 62:05), the
// words SmolVLM2's processor writes before each frame; servers get them too (RemoteVideo.h).
std::string videoFrameLabel(double seconds);

}  // namespace vqa
