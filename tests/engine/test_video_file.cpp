// engine/vision/VideoFile: metadata, exact frames (the pixels a plain cv::VideoCapture read loop
// with BGR->RGB gets, as transformers' OpenCV video loader reads them), the seeking path, and
// every bad input as a vqa::Error. The videos are written here with cv::VideoWriter.
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "engine/vision/VideoFile.h"
#include "models/base/Error.h"

namespace fs = std::filesystem;
using Bytes = std::vector<char>;

namespace {

class VideoFileTest : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* t = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() /
               ("vqa_video_" + std::string(t->name()) + "_" + std::to_string(std::random_device{}()));
        fs::create_directories(dir_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    std::string path(const std::string& file) const { return (dir_ / file).string(); }
    fs::path dir_;
};

// Frame i: noise seeded by i (a lossless codec must give it back exactly), or a solid colour
// that names i (for lossy codecs).
cv::Mat noiseFrame(int i, cv::Size size) {
    cv::Mat m(size, CV_8UC3);
    cv::RNG rng(1000 + i);
    rng.fill(m, cv::RNG::UNIFORM, 0, 256);
    return m;
}
cv::Scalar solidColour(int i) { return cv::Scalar((i * 37) % 200 + 20, (i * 91) % 200 + 20, (i * 53) % 200 + 20); }

// Writes `n` frames; false when this build has no encoder for `fourcc` in this container.
bool writeVideo(const std::string& p, const char* fourcc, double fps, int n, cv::Size size, bool noise) {
    cv::VideoWriter w;
    try {
        w.open(p, cv::CAP_FFMPEG, cv::VideoWriter::fourcc(fourcc[0], fourcc[1], fourcc[2], fourcc[3]), fps, size);
    } catch (const cv::Exception&) {
        return false;
    }
    if (!w.isOpened())
        return false;
    for (int i = 0; i < n; ++i)
        w.write(noise ? noiseFrame(i, size) : cv::Mat(size, CV_8UC3, solidColour(i)));
    w.release();
    return true;
}

// What transformers' read_video_opencv gets: cv2.VideoCapture(path) read in order, BGR->RGB.
std::vector<cv::Mat> referenceFrames(const std::string& p) {
    cv::VideoCapture cap(p);
    std::vector<cv::Mat> out;
    cv::Mat bgr;
    while (cap.read(bgr)) {
        cv::Mat rgb;
        cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
        out.push_back(rgb);
    }
    return out;
}

bool same(const vqa::RgbImage& a, const cv::Mat& rgb) {
    return a.width == rgb.cols && a.height == rgb.rows && rgb.isContinuous() &&
           a.pixels.size() == rgb.total() * 3 && std::memcmp(a.pixels.data(), rgb.data, a.pixels.size()) == 0;
}
cv::Mat toRgb(const cv::Mat& bgr) {
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    return rgb;
}

Bytes slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}
void spit(const std::string& p, const Bytes& b) {
    std::ofstream(p, std::ios::binary).write(b.data(), static_cast<std::streamsize>(b.size()));
}
std::uint32_t be32(const Bytes& b, std::size_t at) {
    return (std::uint32_t(static_cast<std::uint8_t>(b[at])) << 24) | (std::uint32_t(static_cast<std::uint8_t>(b[at + 1])) << 16) |
           (std::uint32_t(static_cast<std::uint8_t>(b[at + 2])) << 8) | std::uint32_t(static_cast<std::uint8_t>(b[at + 3]));
}
void putBe32(Bytes& b, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
        b[at + i] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
}

// OpenCV writes the moov box after mdat; this moves it in front (as `ffmpeg -movflags
// faststart` does), shifting the chunk offsets (stco) by its size.
Bytes mp4Faststart(const Bytes& in) {
    std::size_t pos = 0, mdat = 0, moov = 0, moov_size = 0;
    while (pos + 8 <= in.size()) {
        const std::size_t size = be32(in, pos);
        if (size < 8)
            break;
        if (std::memcmp(in.data() + pos + 4, "mdat", 4) == 0)
            mdat = pos;
        if (std::memcmp(in.data() + pos + 4, "moov", 4) == 0) {
            moov = pos;
            moov_size = size;
        }
        pos += size;
    }
    if (moov == 0 || mdat == 0 || moov < mdat)
        return {};
    Bytes box(in.begin() + static_cast<std::ptrdiff_t>(moov), in.begin() + static_cast<std::ptrdiff_t>(moov + moov_size));
    for (std::size_t at = 0; at + 16 <= box.size(); ++at) {
        if (std::memcmp(box.data() + at, "stco", 4) != 0)
            continue;
        const std::uint32_t n = be32(box, at + 8);
        for (std::uint32_t k = 0; k < n && at + 16 + 4 * k <= box.size(); ++k)
            putBe32(box, at + 12 + 4 * k, be32(box, at + 12 + 4 * k) + static_cast<std::uint32_t>(moov_size));
    }
    Bytes out(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(mdat));
    out.insert(out.end(), box.begin(), box.end());
    out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(mdat), in.begin() + static_cast<std::ptrdiff_t>(moov));
    out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(moov + moov_size), in.end());
    return out;
}

std::string errorOf(const std::function<void()>& f) {
    try {
        f();
    } catch (const vqa::Error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_F(VideoFileTest, Metadata) {
    const auto p = path("clip.mkv");
    if (!writeVideo(p, "FFV1", 25, 30, {64, 48}, true))
        GTEST_SKIP() << "this build has no FFV1 encoder";
    auto v = vqa::VideoFile::open(p, "clip.mkv");
    EXPECT_EQ(v.info().width, 64);
    EXPECT_EQ(v.info().height, 48);
    EXPECT_DOUBLE_EQ(v.info().fps, 25);
    EXPECT_EQ(v.info().frame_count, 30);
    EXPECT_DOUBLE_EQ(v.info().duration_s, 30.0 / 25);
    EXPECT_EQ(v.info().codec, "FFV1");
    EXPECT_EQ(v.framesDecoded(), 0);
}

// Lossless codecs: the frames are the written pixels, in order; and they are what the plain
// read loop gets.
TEST_F(VideoFileTest, LosslessFramesAreExact) {
    struct Case { const char* file; const char* fourcc; };
    int tried = 0;
    for (const Case c : {Case{"ffv1.mkv", "FFV1"}, Case{"ffv1.avi", "FFV1"}, Case{"png.avi", "png "}, Case{"huffyuv.mkv", "HFYU"}}) {
        SCOPED_TRACE(c.file);
        const auto p = path(c.file);
        if (!writeVideo(p, c.fourcc, 10, 30, {40, 24}, true)) {
            std::printf("[ skipped  ] %s: no %s encoder in this build\n", c.file, c.fourcc);
            continue;
        }
        ++tried;
        auto v = vqa::VideoFile::open(p, c.file);
        const std::vector<std::int64_t> want{0, 3, 4, 17, 29};
        const auto frames = v.frames(want);
        ASSERT_EQ(frames.size(), want.size());
        const auto ref = referenceFrames(p);
        ASSERT_EQ(ref.size(), 30u);
        for (std::size_t k = 0; k < want.size(); ++k) {
            EXPECT_TRUE(same(frames[k], toRgb(noiseFrame(static_cast<int>(want[k]), {40, 24})))) << "frame " << want[k];
            EXPECT_TRUE(same(frames[k], ref[static_cast<std::size_t>(want[k])])) << "frame " << want[k];
        }
        EXPECT_EQ(v.framesDecoded(), 30);
    }
    if (tried == 0)
        GTEST_SKIP() << "no lossless encoder (FFV1, PNG, HuffYUV) in this build";
}

// Lossy codecs: roughly the written colour, exactly what the plain read loop gets.
TEST_F(VideoFileTest, LossyFramesMatchTheReadLoop) {
    struct Case { const char* file; const char* fourcc; };
    int tried = 0;
    for (const Case c : {Case{"mpeg4.mp4", "mp4v"}, Case{"mjpeg.avi", "MJPG"}, Case{"vp9.webm", "VP90"},
                         Case{"vp8.webm", "VP80"}, Case{"h264.mp4", "avc1"}}) {
        SCOPED_TRACE(c.file);
        const auto p = path(c.file);
        if (!writeVideo(p, c.fourcc, 30, 24, {64, 48}, false)) {
            std::printf("[ skipped  ] %s: no %s encoder in this build\n", c.file, c.fourcc);
            continue;
        }
        ++tried;
        auto v = vqa::VideoFile::open(p, c.file);
        EXPECT_EQ(v.info().frame_count, 24);
        const auto ref = referenceFrames(p);
        ASSERT_EQ(ref.size(), 24u);
        const std::vector<std::int64_t> want{1, 2, 11, 23};
        const auto frames = v.frames(want);
        ASSERT_EQ(frames.size(), want.size());
        for (std::size_t k = 0; k < want.size(); ++k) {
            const auto i = static_cast<std::size_t>(want[k]);
            EXPECT_TRUE(same(frames[k], ref[i])) << "frame " << i;
            const cv::Scalar mean = cv::mean(ref[i]);
            const cv::Scalar bgr = solidColour(static_cast<int>(i));
            for (int ch = 0; ch < 3; ++ch)
                EXPECT_NEAR(mean[ch], bgr[2 - ch], 12) << "frame " << i << " channel " << ch;
        }
    }
    if (tried == 0)
        GTEST_SKIP() << "no lossy encoder in this build";
}

// A longer video sampled sparsely: the seeks land on the frames the read loop gets, and most
// frames are never decoded; a later call going back reads again from the start.
TEST_F(VideoFileTest, SeekingEqualsSequentialReading) {
    struct Case { const char* file; const char* fourcc; };
    int tried = 0;
    for (const Case c : {Case{"long.mkv", "FFV1"}, Case{"long.avi", "MJPG"}, Case{"long.mp4", "mp4v"}, Case{"long_h264.mp4", "avc1"}}) {
        SCOPED_TRACE(c.file);
        const auto p = path(c.file);
        if (!writeVideo(p, c.fourcc, 30, 2000, {16, 16}, true)) {
            std::printf("[ skipped  ] %s: no %s encoder in this build\n", c.file, c.fourcc);
            continue;
        }
        ++tried;
        const auto ref = referenceFrames(p);
        ASSERT_EQ(ref.size(), 2000u);
        auto v = vqa::VideoFile::open(p, c.file);
        ASSERT_EQ(v.info().frame_count, 2000);
        const std::vector<std::int64_t> want{0, 5, 400, 401, 401, 1000, 1333, 1998, 1999};
        const auto frames = v.frames(want);
        ASSERT_EQ(frames.size(), want.size());
        for (std::size_t k = 0; k < want.size(); ++k)
            EXPECT_TRUE(same(frames[k], ref[static_cast<std::size_t>(want[k])])) << "frame " << want[k];
        EXPECT_LT(v.framesDecoded(), 100) << "the gaps were read, not seeked";
        const auto again = v.frames({2, 700});
        ASSERT_EQ(again.size(), 2u);
        EXPECT_TRUE(same(again[0], ref[2]));
        EXPECT_TRUE(same(again[1], ref[700]));
    }
    if (tried == 0)
        GTEST_SKIP() << "no encoder for the long videos in this build";
}

// Calls that go on where the last one stopped reuse the frame it grabbed ahead; calls that go
// back read again from the start.
TEST_F(VideoFileTest, ConsecutiveCalls) {
    const auto p = path("calls.mkv");
    if (!writeVideo(p, "FFV1", 10, 12, {16, 16}, true))
        GTEST_SKIP() << "this build has no FFV1 encoder";
    auto v = vqa::VideoFile::open(p, "calls.mkv");
    for (const std::vector<std::int64_t>& want :
         std::vector<std::vector<std::int64_t>>{{3}, {4}, {4, 4, 5}, {2}, {11}, {0, 11}, {10, 11}}) {
        const auto f = v.frames(want);
        ASSERT_EQ(f.size(), want.size());
        for (std::size_t k = 0; k < want.size(); ++k)
            EXPECT_TRUE(same(f[k], toRgb(noiseFrame(static_cast<int>(want[k]), {16, 16})))) << "frame " << want[k];
    }
}

TEST_F(VideoFileTest, CancelReturnsNothing) {
    const auto p = path("c.mkv");
    if (!writeVideo(p, "FFV1", 10, 50, {16, 16}, true))
        GTEST_SKIP() << "this build has no FFV1 encoder";
    auto v = vqa::VideoFile::open(p, "c.mkv");
    int asked = 0;
    EXPECT_TRUE(v.frames({1, 10, 40}, [&] { return ++asked > 3; }).empty());
    EXPECT_LE(v.framesDecoded(), 6);
    // Still usable afterwards.
    const auto f = v.frames({45});
    ASSERT_EQ(f.size(), 1u);
    EXPECT_TRUE(same(f[0], toRgb(noiseFrame(45, {16, 16}))));
}

TEST_F(VideoFileTest, BadIndices) {
    const auto p = path("i.mkv");
    if (!writeVideo(p, "FFV1", 10, 5, {16, 16}, true))
        GTEST_SKIP() << "this build has no FFV1 encoder";
    auto v = vqa::VideoFile::open(p, "i.mkv");
    EXPECT_NE(errorOf([&] { v.frames({5}); }).find("has 5 frames"), std::string::npos);
    EXPECT_NE(errorOf([&] { v.frames({-1}); }).find("i.mkv: frame -1"), std::string::npos);
    EXPECT_NE(errorOf([&] { v.frames({3, 1}); }).find("ascending"), std::string::npos);
    EXPECT_TRUE(v.frames({}).empty());
}

TEST_F(VideoFileTest, NotVideos) {
    EXPECT_EQ(errorOf([&] { vqa::VideoFile::open(path("none.mp4"), "none.mp4"); }), "none.mp4: the file does not exist");
    EXPECT_EQ(errorOf([&] { vqa::VideoFile::open(dir_.string(), "folder"); }), "folder: is a folder, not a video file");
    spit(path("empty.mp4"), {});
    EXPECT_EQ(errorOf([&] { vqa::VideoFile::open(path("empty.mp4"), "empty.mp4"); }), "empty.mp4: the file is empty");
    const std::string text = "this is not a video\n";
    spit(path("text.mp4"), Bytes(text.begin(), text.end()));
    EXPECT_NE(errorOf([&] { vqa::VideoFile::open(path("text.mp4"), "text.mp4"); }).find("text.mp4: is not a video"),
              std::string::npos);
    const std::string png = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x02\0\0\0";
    spit(path("png.mp4"), Bytes(png.begin(), png.end()));
    EXPECT_NE(errorOf([&] { vqa::VideoFile::open(path("png.mp4"), "png.mp4"); }).find("is a PNG image, not a video"),
              std::string::npos);
}

// Cut in half: an MP4 as OpenCV writes it (moov at the end) has lost its index; one with moov in
// front opens, and the frames past the cut are an error saying how many could be read; the
// same for AVI and Matroska.
TEST_F(VideoFileTest, Truncated) {
    const auto p = path("full.mp4");
    if (!writeVideo(p, "mp4v", 25, 200, {64, 48}, true))
        GTEST_SKIP() << "this build has no MPEG-4 encoder";
    const Bytes whole = slurp(p);
    Bytes half(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(whole.size() / 2));
    spit(path("half.mp4"), half);
    const auto e = errorOf([&] { vqa::VideoFile::open(path("half.mp4"), "half.mp4"); });
    EXPECT_NE(e.find("half.mp4: the MP4 file has no index (moov box)"), std::string::npos) << e;

    const Bytes fast = mp4Faststart(whole);
    ASSERT_FALSE(fast.empty());
    spit(path("fast.mp4"), fast);
    ASSERT_EQ(referenceFrames(path("fast.mp4")).size(), 200u) << "the faststart rewrite broke the file";
    Bytes fast_half(fast.begin(), fast.begin() + static_cast<std::ptrdiff_t>(fast.size() / 2));
    spit(path("fast_half.mp4"), fast_half);
    const auto ref = referenceFrames(path("fast_half.mp4"));
    auto v = vqa::VideoFile::open(path("fast_half.mp4"), "fast_half.mp4");
    EXPECT_EQ(v.info().frame_count, 200);
    ASSERT_GT(ref.size(), 10u);
    const auto early = v.frames({0, 10});
    EXPECT_TRUE(same(early[1], ref[10]));
    const auto late = errorOf([&] { v.frames({20, 199}); });
    // The last frame before the cut is not trusted (it may be cut short itself).
    EXPECT_NE(late.find("fast_half.mp4: only " + std::to_string(ref.size() - 1) + " of the video's 200 frames could be read"),
              std::string::npos)
        << late;

    for (const char* file : {"cut.avi", "cut.mkv"}) {
        SCOPED_TRACE(file);
        if (!writeVideo(path(file), "FFV1", 25, 200, {64, 48}, true))
            continue;
        Bytes b = slurp(path(file));
        b.resize(b.size() / 2);
        spit(path(file), b);
        // The read loop's last frame is the packet cut in half: partly garbage for AVI.
        const auto readable = referenceFrames(path(file)).size() - 1;
        try {
            auto c = vqa::VideoFile::open(path(file), file);
            const auto first = c.frames({0, 3});
            EXPECT_TRUE(same(first[1], toRgb(noiseFrame(3, {64, 48}))));
            const auto msg = errorOf([&] { c.frames({199}); });
            EXPECT_NE(errorOf([&] { c.frames({static_cast<std::int64_t>(readable)}); }).find("only "), std::string::npos);
            EXPECT_NE(msg.find("only " + std::to_string(readable) + " of the video's"), std::string::npos) << msg;
            // What could be read is the written frames, not garbage.
            for (std::size_t i = 0; i < readable; ++i)
                EXPECT_TRUE(same(c.frames({static_cast<std::int64_t>(i)})[0], toRgb(noiseFrame(static_cast<int>(i), {64, 48}))))
                    << "frame " << i;
        } catch (const vqa::Error& error) {
            ADD_FAILURE() << error.what();
        }
    }
}

// A container that does not say how many frames it has (an AVI without its index and with
// its frame counts zeroed: OpenCV reports 0): the frames are counted by reading, within the limits.
TEST_F(VideoFileTest, FrameCountMissing) {
    const auto p = path("nocount.avi");
    if (!writeVideo(p, "FFV1", 10, 7, {16, 16}, true))
        GTEST_SKIP() << "this build has no FFV1 encoder";
    Bytes b = slurp(p);
    for (std::size_t k = 0; k + 4 <= b.size(); ++k) {
        if (std::memcmp(b.data() + k, "avih", 4) == 0)
            std::memset(b.data() + k + 8 + 16, 0, 4);  // dwTotalFrames
        if (std::memcmp(b.data() + k, "strh", 4) == 0)
            std::memset(b.data() + k + 8 + 32, 0, 4);  // dwLength
        if (std::memcmp(b.data() + k, "idx1", 4) == 0)
            std::memcpy(b.data() + k, "JUNK", 4);
    }
    spit(p, b);
    {
        cv::VideoCapture cap(p, cv::CAP_FFMPEG);
        if (cap.get(cv::CAP_PROP_FRAME_COUNT) > 0)
            GTEST_SKIP() << "this FFmpeg still finds a frame count in the patched AVI";
    }
    auto v = vqa::VideoFile::open(p, "nocount.avi");
    EXPECT_EQ(v.info().frame_count, 7);
    EXPECT_DOUBLE_EQ(v.info().duration_s, 0.7);
    const auto f = v.frames({0, 6});
    ASSERT_EQ(f.size(), 2u);
    EXPECT_TRUE(same(f[0], toRgb(noiseFrame(0, {16, 16}))));
    EXPECT_TRUE(same(f[1], toRgb(noiseFrame(6, {16, 16}))));
    vqa::VideoLimits l;
    l.max_frames = 5;
    EXPECT_EQ(errorOf([&] { vqa::VideoFile::open(p, "nocount.avi", l); }),
              "nocount.avi: the video has over 5 frames, more than the limit of 5");
    l = {};
    l.max_duration_s = 0.5;
    const auto e = errorOf([&] { vqa::VideoFile::open(p, "nocount.avi", l); });
    EXPECT_NE(e.find("nocount.avi: the video is at least 0.5 seconds long"), std::string::npos) << e;
}

// A VideoWriter closed without frames: MP4 and Matroska cannot be opened; AVI opens and says
// 0 frames, which is counted by reading.
TEST_F(VideoFileTest, NoFrames) {
    for (const auto& [file, fourcc] : {std::pair{"zero.mp4", "mp4v"}, {"zero.mkv", "FFV1"}, {"zero.avi", "MJPG"}}) {
        SCOPED_TRACE(file);
        if (!writeVideo(path(file), fourcc, 10, 0, {16, 16}, false))
            continue;
        const auto e = errorOf([&] { vqa::VideoFile::open(path(file), file); });
        EXPECT_EQ(e.rfind(std::string(file) + ": ", 0), 0u) << e;
        if (std::string(file) == "zero.avi") {
            EXPECT_EQ(e, "zero.avi: the video has no frames");
        }
    }
}

TEST_F(VideoFileTest, LimitsAreCheckedBeforeDecoding) {
    const auto p = path("big.mkv");
    if (!writeVideo(p, "FFV1", 10, 20, {64, 48}, true))
        GTEST_SKIP() << "this build has no FFV1 encoder";
    vqa::VideoLimits l;
    l.max_frame_pixels = 64 * 48 - 1;
    EXPECT_NE(errorOf([&] { vqa::VideoFile::open(p, "big.mkv", l); }).find("big.mkv: the video's frames are 64x48 pixels"),
              std::string::npos);
    l = {};
    l.max_frames = 19;
    EXPECT_NE(errorOf([&] { vqa::VideoFile::open(p, "big.mkv", l); }).find("20 frames, more than the limit of 19"),
              std::string::npos);
    l = {};
    l.max_duration_s = 1.5;
    EXPECT_NE(errorOf([&] { vqa::VideoFile::open(p, "big.mkv", l); }).find("the video is 2 seconds long"), std::string::npos);
}

// "Ten hours": 360 frames at 0.01 frames per second. Opens and samples quickly; refused under
// a shorter duration limit.
TEST_F(VideoFileTest, TenHourVideo) {
    const auto p = path("ten_hours.avi");
    if (!writeVideo(p, "FFV1", 0.01, 360, {16, 16}, true))
        GTEST_SKIP() << "this build has no FFV1 encoder";
    const auto start = std::chrono::steady_clock::now();
    auto v = vqa::VideoFile::open(p, "ten_hours.avi");
    EXPECT_NEAR(v.info().duration_s, 36000, 1e-6);
    std::vector<std::int64_t> want;
    for (int k = 0; k < 64; ++k)
        want.push_back(k * 359 / 63);
    const auto frames = v.frames(want);
    ASSERT_EQ(frames.size(), 64u);
    EXPECT_TRUE(same(frames[63], toRgb(noiseFrame(359, {16, 16}))));
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
    vqa::VideoLimits l;
    l.max_duration_s = 9 * 3600;
    const auto e = errorOf([&] { vqa::VideoFile::open(p, "ten_hours.avi", l); });
    EXPECT_NE(e.find("ten_hours.avi: the video is 10.0 hours long"), std::string::npos) << e;
    EXPECT_NE(e.find("limit of 9.0 hours"), std::string::npos) << e;
}

// A codec FFmpeg does not know: an MJPEG AVI whose FourCC says "ZZZZ".
TEST_F(VideoFileTest, UnknownCodec) {
    const auto p = path("zzzz.avi");
    if (!writeVideo(p, "MJPG", 10, 5, {16, 16}, false))
        GTEST_SKIP() << "this build has no MJPEG encoder";
    Bytes b = slurp(p);
    for (std::size_t i = 0; i + 4 <= b.size(); ++i)
        if (std::memcmp(b.data() + i, "MJPG", 4) == 0)
            std::memcpy(b.data() + i, "ZZZZ", 4);
    spit(p, b);
    const auto e = errorOf([&] { vqa::VideoFile::open(p, "zzzz.avi"); });
    EXPECT_NE(e.find("zzzz.avi: the video's codec ZZZZ cannot be decoded by this build"), std::string::npos) << e;
}

TEST(VideoFileNames, LooksLikeVideoFile) {
    for (const char* yes : {"a.mp4", "b.M4V", "/x/c.mov", "d.WebM", "e.mkv", "f.AVI", "dir.mp4/g.mp4"})
        EXPECT_TRUE(vqa::looksLikeVideoFile(yes)) << yes;
    for (const char* no : {"a.png", "mp4", "a.mp4.txt", "", "a.", ".mkv/x", "a.gif"})
        EXPECT_FALSE(vqa::looksLikeVideoFile(no)) << no;
}
