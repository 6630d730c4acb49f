#include "engine/vision/VideoFile.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <opencv2/videoio/registry.hpp>

#include "models/base/Error.h"

namespace vqa {

namespace {

namespace fs = std::filesystem;
using namespace std::string_view_literals;

std::string lower(std::string s) {
    for (auto& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string fourccText(std::uint32_t v) {
    std::string s;
    for (int i = 0; i < 4; ++i) {
        const char c = static_cast<char>((v >> (8 * i)) & 0xff);
        if (c == 0)
            break;
        s += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    }
    while (!s.empty() && s.back() == ' ')
        s.pop_back();
    return s;
}

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

std::string hours(double seconds) {
    char buf[48];
    if (seconds >= 3600)
        std::snprintf(buf, sizeof buf, "%.1f hours", seconds / 3600);
    else if (seconds >= 60)
        std::snprintf(buf, sizeof buf, "%.1f minutes", seconds / 60);
    else
        std::snprintf(buf, sizeof buf, "%.3g seconds", seconds);
    return buf;
}

std::vector<std::uint8_t> readRange(std::ifstream& in, std::uint64_t offset, std::size_t size) {
    std::vector<std::uint8_t> b(size);
    in.clear();
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(reinterpret_cast<char*>(b.data()), static_cast<std::streamsize>(size));
    b.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
    return b;
}

std::size_t find(const std::vector<std::uint8_t>& b, const char* what, std::size_t from) {
    const std::size_t n = std::strlen(what);
    for (std::size_t i = from; i + n <= b.size(); ++i)
        if (std::memcmp(b.data() + i, what, n) == 0)
            return i;
    return std::string::npos;
}

// What the first bytes say the file is: a container we know ("mp4", "avi", "matroska", "ogg",
// "flv", "mpeg"), an image format ("image:png", ...), or "".
std::string sniff(const std::vector<std::uint8_t>& b) {
    auto at = [&](std::size_t off, std::string_view s) {
        return b.size() >= off + s.size() && std::memcmp(b.data() + off, s.data(), s.size()) == 0;
    };
    if (at(4, "ftyp") || at(4, "moov") || at(4, "mdat") || at(4, "free") || at(4, "wide") || at(4, "skip"))
        return "mp4";
    if (at(0, "RIFF") && at(8, "AVI "))
        return "avi";
    if (at(0, "\x1a\x45\xdf\xa3"))
        return "matroska";
    if (at(0, "OggS"))
        return "ogg";
    if (at(0, "FLV"))
        return "flv";
    if (at(0, "\x00\x00\x01\xba"sv) || at(0, "\x00\x00\x01\xb3"sv))
        return "mpeg";
    if (at(0, "\x89PNG\r\n\x1a\n"))
        return "image:PNG";
    if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return "image:JPEG";
    if (at(0, "GIF87a") || at(0, "GIF89a"))
        return "image:GIF";
    if (at(0, "RIFF") && at(8, "WEBP"))
        return "image:WebP";
    if (at(0, "BM"))
        return "image:BMP";
    return "";
}

struct ContainerFacts {
    std::string codec;        // the video track's codec as the container names it, or ""
    bool mp4_no_moov = false; // an MP4 without its index (cut before the moov box)
};

// The codec the container declares, read from the headers ourselves: when FFmpeg cannot open a
// file, OpenCV says nothing about why.
ContainerFacts containerFacts(const std::string& path, const std::string& kind) {
    ContainerFacts f;
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return f;
    std::error_code ec;
    const std::uint64_t size = fs::file_size(path, ec);
    if (ec)
        return f;
    if (kind == "mp4") {
        // Top-level boxes: size (4, big-endian; 1 = 64-bit size follows; 0 = to the end) and type.
        std::uint64_t pos = 0;
        bool moov = false;
        for (int guard = 0; pos + 8 <= size && guard < 100000; ++guard) {
            const auto h = readRange(in, pos, 16);
            if (h.size() < 8)
                break;
            std::uint64_t box = (std::uint64_t(h[0]) << 24) | (h[1] << 16) | (h[2] << 8) | h[3];
            if (box == 1 && h.size() >= 16) {
                box = 0;
                for (int i = 8; i < 16; ++i)
                    box = (box << 8) | h[i];
            } else if (box == 0) {
                box = size - pos;
            }
            if (box < 8)
                break;
            if (std::memcmp(h.data() + 4, "moov", 4) == 0) {
                moov = pos + box <= size;
                const auto m = readRange(in, pos, static_cast<std::size_t>(std::min<std::uint64_t>(box, 64u << 20)));
                // mdia: hdlr (version/flags, pre_defined, handler type 'vide'), then minf/stbl/stsd
                // (version/flags, entry count, entry size, format).
                for (std::size_t at = find(m, "hdlr", 0); at != std::string::npos; at = find(m, "hdlr", at + 4)) {
                    if (at + 16 <= m.size() && std::memcmp(m.data() + at + 12, "vide", 4) == 0) {
                        const std::size_t s = find(m, "stsd", at);
                        if (s != std::string::npos && s + 20 <= m.size())
                            f.codec = fourccText(std::uint32_t(m[s + 16]) | (m[s + 17] << 8) | (m[s + 18] << 16) |
                                                 (std::uint32_t(m[s + 19]) << 24));
                        break;
                    }
                }
            }
            pos += box;
        }
        f.mp4_no_moov = !moov;
    } else if (kind == "avi") {
        // strh of the video stream ('vids', handler), then its strf (BITMAPINFOHEADER: biCompression).
        const auto b = readRange(in, 0, 1u << 16);
        std::size_t s = find(b, "strh", 0);
        while (s != std::string::npos && !(s + 12 <= b.size() && std::memcmp(b.data() + s + 8, "vids", 4) == 0))
            s = find(b, "strh", s + 4);
        if (s != std::string::npos) {
            const std::size_t bi = find(b, "strf", s);
            const std::size_t at = bi != std::string::npos && bi + 28 <= b.size() ? bi + 24 : s + 12;
            if (at + 4 <= b.size())
                f.codec = fourccText(std::uint32_t(b[at]) | (b[at + 1] << 8) | (b[at + 2] << 16) |
                                     (std::uint32_t(b[at + 3]) << 24));
        }
    } else if (kind == "matroska") {
        // The CodecID element (0x86), a one-byte size, then "V_...".
        const auto b = readRange(in, 0, 1u << 20);
        for (std::size_t i = 0; i + 4 < b.size(); ++i) {
            if (b[i] == 0x86 && (b[i + 1] & 0x80) && b[i + 2] == 'V' && b[i + 3] == '_') {
                const std::size_t n = b[i + 1] & 0x7f;
                if (i + 2 + n <= b.size())
                    f.codec = std::string(b.begin() + static_cast<std::ptrdiff_t>(i + 2),
                                          b.begin() + static_cast<std::ptrdiff_t>(i + 2 + n));
                break;
            }
        }
    }
    return f;
}

bool openCapture(cv::VideoCapture& cap, const std::string& path) {
    try {
        return cap.open(path, cv::CAP_FFMPEG) && cap.isOpened();
    } catch (const cv::Exception&) {
        return false;
    }
}

} // namespace

struct VideoFile::Impl {
    std::string path; // absolute: FFmpeg reads "name:rest" as a protocol, a path starting with '/' as a file
    std::string name;
    VideoLimits limits;
    VideoInfo info;
    cv::VideoCapture cap;
    std::int64_t next = 0;   // the index of the frame the next grab() decodes
    std::int64_t decoded = 0;
    std::int64_t pending = -1; // a frame grabbed (frame next - 1) but not retrieved, or -1
    bool seek_works = true;

    Error fail(const std::string& what) const { return Error(name + ": " + what); }

    void reopen() {
        cap.release();
        if (!openCapture(cap, path))
            throw fail("the video could not be opened again (was the file changed or removed?)");
        next = 0;
        pending = -1;
    }

    // The file ended (or stopped decoding) at frame `next`. The frame before it is not trusted
    // either: the last packet of a cut file can decode to a partly garbage picture, so the
    // frames that count as read are those before it.
    Error endsEarly(std::int64_t wanted) const {
        const std::int64_t read = std::max<std::int64_t>(next - 1, 0);
        return fail("only " + std::to_string(read) + " of the video's " + std::to_string(info.frame_count) +
                    " frames could be read (frame " + std::to_string(wanted) +
                    " cannot be decoded); the file is truncated or damaged (an interrupted download or copy?)");
    }

    // Seeks so that the next grab() gives frame `target`; false (and the file reopened at
    // its start) when the seek fails or lands elsewhere.
    bool seekTo(std::int64_t target) {
        bool ok = false;
        try {
            ok = cap.set(cv::CAP_PROP_POS_FRAMES, static_cast<double>(target));
        } catch (const cv::Exception&) {
        }
        const double pos = cap.isOpened() ? cap.get(cv::CAP_PROP_POS_FRAMES) : -1;
        pending = -1;
        if (ok && pos == static_cast<double>(target)) {
            next = target;
            return true;
        }
        seek_works = false; // no second try on this file
        reopen();
        return false;
    }
};

VideoFile::VideoFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VideoFile::VideoFile(VideoFile&&) noexcept = default;
VideoFile& VideoFile::operator=(VideoFile&&) noexcept = default;
VideoFile::~VideoFile() = default;

const VideoInfo& VideoFile::info() const { return impl_->info; }
std::int64_t VideoFile::framesDecoded() const { return impl_->decoded; }

VideoFile VideoFile::open(const std::string& path, const std::string& name, const VideoLimits& limits) {
    auto fail = [&](const std::string& what) { return Error(name + ": " + what); };
    std::error_code ec;
    const fs::path p(path);
    if (!fs::exists(p, ec))
        throw fail("the file does not exist");
    if (fs::is_directory(p, ec))
        throw fail("is a folder, not a video file");
    if (!fs::is_regular_file(p, ec))
        throw fail("is not a regular file (a device or a pipe?), not a video file");
    const auto size = fs::file_size(p, ec);
    if (ec)
        throw fail("cannot be read (" + ec.message() + ")");
    if (size == 0)
        throw fail("the file is empty");
    std::vector<std::uint8_t> head;
    {
        std::ifstream in(p, std::ios::binary);
        if (!in)
            throw fail("cannot be read (permission denied?)");
        head = readRange(in, 0, 64);
    }
    const std::string kind = sniff(head);
    if (kind.rfind("image:", 0) == 0)
        throw fail("is a " + kind.substr(6) + " image, not a video; add it as an image");

    auto impl = std::make_unique<Impl>();
    impl->path = fs::absolute(p, ec).string();
    if (ec)
        impl->path = path;
    impl->name = name;
    impl->limits = limits;
    if (!cv::videoio_registry::hasBackend(cv::CAP_FFMPEG))
        throw fail("this build's OpenCV has no FFmpeg video backend, so videos cannot be read "
                   "(install Debian's libopencv-videoio406 with its FFmpeg libraries)");
    if (!openCapture(impl->cap, impl->path)) {
        if (kind.empty())
            throw fail("is not a video in a format this build reads (MP4, MOV, WebM, MKV, AVI)");
        const auto facts = containerFacts(impl->path, kind);
        if (kind == "mp4" && facts.mp4_no_moov)
            throw fail("the MP4 file has no index (moov box): it is truncated (an interrupted download "
                       "or recording?) and cannot be played");
        if (!facts.codec.empty())
            throw fail("the video's codec " + facts.codec + " cannot be decoded by this build (or the file is "
                       "damaged); convert it, e.g. ffmpeg -i in -c:v libx264 out.mp4");
        throw fail("the " + kind + " video cannot be opened: the file is damaged or truncated, or its codec "
                   "cannot be decoded by this build");
    }

    auto& cap = impl->cap;
    auto& info = impl->info;
    const double w = cap.get(cv::CAP_PROP_FRAME_WIDTH), h = cap.get(cv::CAP_PROP_FRAME_HEIGHT);
    const double fps = cap.get(cv::CAP_PROP_FPS), count = cap.get(cv::CAP_PROP_FRAME_COUNT);
    info.codec = fourccText(static_cast<std::uint32_t>(static_cast<std::int64_t>(cap.get(cv::CAP_PROP_FOURCC))));
    if (!(w >= 1 && h >= 1 && w <= 1e6 && h <= 1e6))
        throw fail("the video says its frames are " + number(w) + "x" + number(h) + " pixels; the file is damaged");
    info.width = static_cast<int>(w);
    info.height = static_cast<int>(h);
    const std::int64_t pixels = std::int64_t(info.width) * info.height;
    if (pixels > limits.max_frame_pixels)
        throw fail("the video's frames are " + std::to_string(info.width) + "x" + std::to_string(info.height) +
                   " pixels, more than the limit of " + std::to_string(limits.max_frame_pixels) +
                   " pixels a frame; scale it down first");
    if (!(std::isfinite(fps) && fps > 0))
        throw fail("the video does not state a valid frame rate (it says " + number(fps) +
                   " frames per second); the file is damaged or not a regular video");
    info.fps = fps;
    const double max_by_duration = std::floor(limits.max_duration_s * fps + 1e-9);
    auto tooLong = [&](double frames, bool at_least = false) {
        return fail(std::string("the video is ") + (at_least ? "at least " : "") + hours(frames / fps) + " long (" +
                    (at_least ? "over " : "") + number(frames) + " frames at " +
                    number(fps) + " per second), more than the limit of " + hours(limits.max_duration_s) +
                    "; cut it shorter first");
    };
    auto tooMany = [&](double frames, bool at_least = false) {
        return fail(std::string("the video has ") + (at_least ? "over " : "") + number(frames) +
                    " frames, more than the limit of " +
                    std::to_string(limits.max_frames));
    };
    if (std::isfinite(count) && count >= 1) {
        info.frame_count = static_cast<std::int64_t>(count);
        if (info.frame_count > limits.max_frames)
            throw tooMany(count);
        if (static_cast<double>(info.frame_count) / fps > limits.max_duration_s)
            throw tooLong(count);
    } else {
        // No frame count in the container: count by reading, within the limits.
        const double cap_frames = std::min<double>(static_cast<double>(limits.max_frames), max_by_duration);
        std::int64_t n = 0;
        while (cap.grab()) {
            ++n;
            if (static_cast<double>(n) > cap_frames)
                throw static_cast<double>(n) > max_by_duration ? tooLong(static_cast<double>(n - 1), true)
                                                               : tooMany(static_cast<double>(n - 1), true);
        }
        if (n == 0)
            throw fail("the video has no frames");
        info.frame_count = n;
        impl->reopen();
    }
    info.duration_s = static_cast<double>(info.frame_count) / fps;
    return VideoFile(std::move(impl));
}

std::vector<RgbImage> VideoFile::frames(const std::vector<std::int64_t>& indices,
                                        const std::function<bool()>& cancelled) {
    auto& d = *impl_;
    const auto count = d.info.frame_count;
    for (std::size_t i = 0; i < indices.size(); ++i) {
        if (indices[i] < 0 || indices[i] >= count)
            throw d.fail("frame " + std::to_string(indices[i]) + " was asked for, but the video has " +
                         std::to_string(count) + " frames");
        if (i > 0 && indices[i] < indices[i - 1])
            throw d.fail("the frames asked for are not in ascending order");
    }
    std::vector<RgbImage> out;
    out.reserve(indices.size());
    auto stop = [&] { return cancelled && cancelled(); };
    auto grab = [&] {
        d.pending = -1; // whatever was grabbed before is no longer the one retrieve() gives
        bool ok = false;
        try {
            ok = d.cap.grab();
        } catch (const cv::Exception&) {
        }
        if (ok) {
            ++d.next;
            ++d.decoded;
        }
        return ok;
    };
    if (!indices.empty() && indices.front() < d.next && indices.front() != d.pending)
        d.reopen();
    cv::Mat bgr, rgb;
    for (std::size_t i = 0; i < indices.size(); ++i) {
        const std::int64_t target = indices[i];
        if (stop())
            return {};
        if (i > 0 && target == indices[i - 1]) { // a repeat of the frame just read
            out.push_back(out.back());
            continue;
        }
        if (d.pending != target) {
            if (d.seek_works && target - d.next > kSeekGap)
                d.seekTo(target);
            while (d.next < target) {
                if (stop())
                    return {};
                if (!grab())
                    throw d.endsEarly(target);
            }
            if (!grab())
                throw d.endsEarly(target);
        }
        d.pending = -1;
        bool ok = false;
        try {
            ok = d.cap.retrieve(bgr) && !bgr.empty();
        } catch (const cv::Exception&) {
        }
        if (!ok)
            throw d.endsEarly(target);
        // The next frame must be there too: a frame cut short at the end of a truncated file
        // decodes without an error, to a picture that is partly garbage. It stays grabbed,
        // for the next index to retrieve when that is the one.
        if (target + 1 < count) {
            if (!grab())
                throw d.endsEarly(target);
            d.pending = target + 1;
        }
        if (bgr.type() != CV_8UC3)
            throw d.fail("frame " + std::to_string(target) + " decoded as an unexpected pixel type (" +
                         std::to_string(bgr.channels()) + " channels)");
        if (std::int64_t(bgr.cols) * bgr.rows > d.limits.max_frame_pixels)
            throw d.fail("frame " + std::to_string(target) + " is " + std::to_string(bgr.cols) + "x" +
                         std::to_string(bgr.rows) + " pixels, more than the limit");
        cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
        if (!rgb.isContinuous())
            rgb = rgb.clone();
        RgbImage im;
        im.width = rgb.cols;
        im.height = rgb.rows;
        im.pixels.assign(rgb.data, rgb.data + rgb.total() * 3);
        out.push_back(std::move(im));
    }
    return out;
}

bool looksLikeVideoFile(const std::string& path) {
    const std::string ext = lower(fs::path(path).extension().string());
    return ext == ".mp4" || ext == ".m4v" || ext == ".mov" || ext == ".webm" || ext == ".mkv" || ext == ".avi";
}

std::string videoFrameLabel(double seconds) {
    const double t = std::max(0.0, seconds);
    char label[48];
    std::snprintf(label, sizeof label, "Frame from %02lld:%02lld:", static_cast<long long>(std::floor(t / 60)),
                  static_cast<long long>(std::fmod(t, 60.0)));
    return label;
}

} // namespace vqa
