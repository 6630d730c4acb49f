// Image decoding: formats, colour handling, EXIF orientation, and every error a person may
// meet (empty, truncated, not an image, too large, GIF). PNGs are written here byte by byte;
// JPEGs and other formats come from tests/reference/make_processor.py (PIL encodes them).
#include <array>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "models/base/Error.h"
#include "engine/io/SafetensorsFile.h"
#include "engine/vision/ImageIO.h"
#include "tests/common/TestPaths.h"
#include "tests/engine/test_image_util.h"
#include "tests/engine/test_safetensors_util.h"

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using vqa::test::makePng;

namespace {

std::string decodeError(const Bytes& b, const vqa::ImageDecodeOptions& o = {}) {
    try {
        vqa::decodeImageBytes(b.data(), b.size(), "test.img", o);
    } catch (const vqa::Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "decoding succeeded";
    return {};
}

std::array<int, 3> rgbAt(const vqa::RgbImage& im, int x, int y) {
    const auto* p = &im.pixels[(static_cast<std::size_t>(y) * im.width + x) * 3];
    return {p[0], p[1], p[2]};
}

Bytes readFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Left half red, right half blue, w x h RGB samples.
Bytes redBlue(int w, int h) {
    Bytes s;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            s.insert(s.end(),
                     {std::uint8_t(x < w / 2 ? 255 : 0), 0, std::uint8_t(x < w / 2 ? 0 : 255)});
    return s;
}

bool isRed(const std::array<int, 3>& p) {
    return p[0] > 200 && p[1] < 60 && p[2] < 60;
}
bool isBlue(const std::array<int, 3>& p) {
    return p[2] > 200 && p[0] < 60 && p[1] < 60;
}

fs::path decodeSamples() {
    return vqa::test::referenceDir("processor") / "decode";
}

} // namespace

TEST(ImageIO, OnePixelPngInRgbOrder) {
    auto png = makePng(1, 1, 8, 2, {10, 20, 30});
    auto im = vqa::decodeImageBytes(png.data(), png.size(), "one.png");
    EXPECT_EQ(im.width, 1);
    EXPECT_EQ(im.height, 1);
    EXPECT_EQ(rgbAt(im, 0, 0), (std::array<int, 3>{10, 20, 30}));
}

TEST(ImageIO, GrayscaleBecomesRgb) {
    Bytes g(15, 77);
    g[2 * 5 + 4] = 200;
    auto png = makePng(5, 3, 8, 0, g);
    auto im = vqa::decodeImageBytes(png.data(), png.size(), "gray.png");
    EXPECT_EQ(im.width, 5);
    EXPECT_EQ(im.height, 3);
    EXPECT_EQ(rgbAt(im, 0, 0), (std::array<int, 3>{77, 77, 77}));
    EXPECT_EQ(rgbAt(im, 4, 2), (std::array<int, 3>{200, 200, 200}));
}

TEST(ImageIO, SixteenBitKeepsTheHighByte) {
    Bytes px;
    for (int i = 0; i < 4; ++i)
        px.insert(px.end(), {0xFF, 0xFF, 0xAB, 0xCD, 0x12, 0x34}); // big-endian R, G, B
    auto png = makePng(2, 2, 16, 2, px);
    auto im = vqa::decodeImageBytes(png.data(), png.size(), "deep.png");
    EXPECT_EQ(rgbAt(im, 1, 1), (std::array<int, 3>{0xFF, 0xAB, 0x12}));
    auto gpng = makePng(2, 2, 16, 0, {0x80, 0x01, 0x80, 0x01, 0x80, 0x01, 0x80, 0x01});
    EXPECT_EQ(rgbAt(vqa::decodeImageBytes(gpng.data(), gpng.size(), "g16.png"), 0, 0),
              (std::array<int, 3>{0x80, 0x80, 0x80}));
}

TEST(ImageIO, AlphaIsCompositedOnWhiteLikePil) {
    auto png = makePng(4, 1, 8, 6,
                       {0, 0, 0, 0,      // transparent black -> white
                        30, 20, 10, 255, // opaque -> itself
                        0, 0, 0, 128,    // half black -> PIL gives 127
                        0, 0, 255, 64}); // quarter blue
    auto im = vqa::decodeImageBytes(png.data(), png.size(), "alpha.png");
    EXPECT_EQ(rgbAt(im, 0, 0), (std::array<int, 3>{255, 255, 255}));
    EXPECT_EQ(rgbAt(im, 1, 0), (std::array<int, 3>{30, 20, 10}));
    EXPECT_EQ(rgbAt(im, 2, 0), (std::array<int, 3>{127, 127, 127}));
    // 64/255 of blue over white: R,G = 255*(1-64/255) = 191, B = 255
    EXPECT_EQ(rgbAt(im, 3, 0), (std::array<int, 3>{191, 191, 255}));
    auto ga = makePng(1, 1, 8, 4, {0, 128}); // gray + alpha
    EXPECT_EQ(rgbAt(vqa::decodeImageBytes(ga.data(), ga.size(), "ga.png"), 0, 0),
              (std::array<int, 3>{127, 127, 127}));
}

TEST(ImageIO, PngExifOrientationIsApplied) {
    auto png = makePng(40, 20, 8, 2, redBlue(40, 20), vqa::test::exifOrientation(6));
    auto header = vqa::readImageHeader(png.data(), png.size());
    ASSERT_TRUE(header.has_value());
    EXPECT_EQ(header->orientation, 6);
    auto im = vqa::decodeImageBytes(png.data(), png.size(), "rot6.png");
    EXPECT_EQ(im.width, 20);
    EXPECT_EQ(im.height, 40);
    EXPECT_TRUE(isRed(rgbAt(im, 10, 5))); // rotated 90 degrees clockwise: left is now top
    EXPECT_TRUE(isBlue(rgbAt(im, 10, 35)));
    // Orientation 5 (transpose) and 7 (transverse) keep or swap the halves.
    auto t5 = makePng(40, 20, 8, 2, redBlue(40, 20), vqa::test::exifOrientation(5));
    auto im5 = vqa::decodeImageBytes(t5.data(), t5.size(), "rot5.png");
    EXPECT_TRUE(isRed(rgbAt(im5, 10, 5)));
    auto t7 = makePng(40, 20, 8, 2, redBlue(40, 20), vqa::test::exifOrientation(7));
    auto im7 = vqa::decodeImageBytes(t7.data(), t7.size(), "rot7.png");
    EXPECT_TRUE(isBlue(rgbAt(im7, 10, 5)));
    auto t3 = makePng(40, 20, 8, 2, redBlue(40, 20), vqa::test::exifOrientation(3));
    auto im3 = vqa::decodeImageBytes(t3.data(), t3.size(), "rot3.png");
    EXPECT_EQ(im3.width, 40);
    EXPECT_TRUE(isBlue(rgbAt(im3, 5, 10)));
}

TEST(ImageIO, JpegExifOrientationIsApplied) {
    VQA_SKIP_UNLESS_EXISTS(decodeSamples() / "rot6.jpg", "written by make_processor.py");
    auto jpg6 = readFile(decodeSamples() / "rot6.jpg");
    auto header = vqa::readImageHeader(jpg6.data(), jpg6.size());
    ASSERT_TRUE(header.has_value());
    EXPECT_EQ(header->format, "jpeg");
    EXPECT_EQ(header->width, 40);
    EXPECT_EQ(header->orientation, 6);
    auto im = vqa::decodeImageFile((decodeSamples() / "rot6.jpg").string());
    EXPECT_EQ(im.width, 20);
    EXPECT_EQ(im.height, 40);
    EXPECT_TRUE(isRed(rgbAt(im, 10, 5)));
    EXPECT_TRUE(isBlue(rgbAt(im, 10, 35)));
    vqa::ImageDecodeOptions raw;
    raw.apply_orientation = false;
    EXPECT_EQ(vqa::decodeImageFile((decodeSamples() / "rot6.jpg").string(), raw).width, 40);

    auto im8 = vqa::decodeImageFile((decodeSamples() / "rot8.jpg").string()); // 90 CCW
    EXPECT_EQ(im8.width, 20);
    EXPECT_TRUE(isBlue(rgbAt(im8, 10, 5)));
    EXPECT_TRUE(isRed(rgbAt(im8, 10, 35)));
    auto im2 = vqa::decodeImageFile((decodeSamples() / "rot2.jpg").string()); // mirrored
    EXPECT_EQ(im2.width, 40);
    EXPECT_TRUE(isBlue(rgbAt(im2, 5, 10)));
    EXPECT_TRUE(isRed(rgbAt(im2, 35, 10)));
}

TEST(ImageIO, HeadersOfOtherFormats) {
    VQA_SKIP_UNLESS_EXISTS(decodeSamples() / "x.bmp", "written by make_processor.py");
    for (const char* ext : {"bmp", "webp", "tiff", "ppm"}) {
        auto bytes = readFile(decodeSamples() / (std::string("x.") + ext));
        auto h = vqa::readImageHeader(bytes.data(), bytes.size());
        ASSERT_TRUE(h.has_value()) << ext;
        EXPECT_EQ(h->width, 29) << ext;
        EXPECT_EQ(h->height, 13) << ext;
        auto im = vqa::decodeImageBytes(bytes.data(), bytes.size(), ext);
        EXPECT_EQ(im.width, 29) << ext;
        EXPECT_EQ(im.height, 13) << ext;
        EXPECT_EQ(rgbAt(im, 28, 12), (std::array<int, 3>{3, 2, 1})) << ext;
    }
    auto lossy = readFile(decodeSamples() / "lossy.webp");
    auto lh = vqa::readImageHeader(lossy.data(), lossy.size());
    ASSERT_TRUE(lh.has_value());
    EXPECT_EQ(lh->width, 29);
    EXPECT_EQ(lh->height, 13);
    EXPECT_EQ(vqa::decodeImageBytes(lossy.data(), lossy.size(), "lossy.webp").width, 29);
    auto gif = readFile(decodeSamples() / "x.gif");
    auto h = vqa::readImageHeader(gif.data(), gif.size());
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->format, "gif");
    EXPECT_EQ(h->width, 29);
    auto im = vqa::decodeImageBytes(gif.data(), gif.size(), "x.gif");
    EXPECT_EQ(im.width, 29);
    EXPECT_EQ(rgbAt(im, 28, 12), (std::array<int, 3>{3, 2, 1}));
}

// First frame of animated GIFs (interlaced and not, with transparency) against what
// transformers gets from PIL (convert_to_rgb composites transparency on white).
TEST(ImageIO, AnimatedGifFirstFrameMatchesReference) {
    VQA_SKIP_UNLESS_EXISTS(decodeSamples() / "gif_expected.safetensors",
                           "written by make_processor.py");
    auto ref = vqa::SafetensorsFile::open((decodeSamples() / "gif_expected.safetensors").string());
    for (const std::string name : {"anim", "anim_interlaced"}) {
        auto im = vqa::decodeImageFile((decodeSamples() / (name + ".gif")).string());
        auto expect = ref->tensor(name);
        ASSERT_EQ(im.height, expect.size(0)) << name;
        ASSERT_EQ(im.width, expect.size(1)) << name;
        auto got = torch::from_blob(im.pixels.data(), {im.height, im.width, 3}, torch::kUInt8);
        EXPECT_TRUE(torch::equal(got, expect))
            << name << ": " << got.ne(expect).sum().item<int>() << " values differ";
        // The transparent colour was exercised: some pixels came out white.
        EXPECT_GT(got.eq(255).all(2).sum().item<int>(), 0) << name;
    }
    auto gif = readFile(decodeSamples() / "anim.gif");
    gif.resize(gif.size() / 3);
    EXPECT_NE(decodeError(gif).find("ends early"), std::string::npos);
}

TEST(ImageIOErrors, EmptyMissingFolder) {
    auto dir = vqa::test::freshDir("img-files");
    std::ofstream(dir / "empty.png");
    auto expect = [](const fs::path& p, const std::string& needle) {
        try {
            vqa::decodeImageFile(p.string());
            ADD_FAILURE() << p << " decoded";
        } catch (const vqa::Error& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
        }
    };
    expect(dir / "empty.png", "the file is empty");
    expect(dir / "nope.png", "does not exist");
    expect(dir, "is a folder");
    std::ofstream(dir / "notes.png") << "These are my notes, not a picture.\n";
    expect(dir / "notes.png", "is not an image");
    // The window names the file, not its whole path.
    for (const auto& p : {dir / "nope.png", dir / "notes.png"}) {
        try {
            vqa::decodeImageFile(p.string(), p.filename().string());
            ADD_FAILURE() << p << " decoded";
        } catch (const vqa::Error& e) {
            EXPECT_EQ(std::string(e.what()).rfind(p.filename().string() + ": ", 0), 0u) << e.what();
            EXPECT_EQ(std::string(e.what()).find(dir.string()), std::string::npos) << e.what();
        }
    }
    fs::remove_all(dir);
}

TEST(ImageIOErrors, TruncatedPng) {
    Bytes noise(64 * 64 * 3);
    for (std::size_t i = 0; i < noise.size(); ++i)
        noise[i] = static_cast<std::uint8_t>(i * 2654435761u >> 24);
    auto png = makePng(64, 64, 8, 2, noise);
    png.resize(png.size() * 2 / 3);
    EXPECT_NE(decodeError(png).find("png data ends early"), std::string::npos);
    Bytes header_only(png.begin(), png.begin() + 20); // cut inside IHDR
    EXPECT_NE(decodeError(header_only).find("test.img"), std::string::npos);
}

TEST(ImageIOErrors, TruncatedJpeg) {
    VQA_SKIP_UNLESS_EXISTS(decodeSamples() / "plain.jpg", "written by make_processor.py");
    auto jpg = readFile(decodeSamples() / "plain.jpg");
    EXPECT_EQ(vqa::decodeImageBytes(jpg.data(), jpg.size(), "plain.jpg").width, 64);
    jpg.resize(jpg.size() / 2);
    auto msg = decodeError(jpg);
    EXPECT_NE(msg.find("jpeg data ends early; the file is truncated"), std::string::npos) << msg;
    jpg.resize(300); // inside the header segments
    EXPECT_NE(decodeError(jpg).find("test.img"), std::string::npos);
}

TEST(ImageIOErrors, DecompressionBombRefusedFromTheHeader) {
    // A PNG that declares 100000 x 100000 pixels: signature, IHDR, IEND, no pixel data.
    Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0,   0,    0,    13,
                 'I',  'H', 'D', 'R', 0,    0x01, 0x86, 0xA0, 0,   0x01, 0x86, 0xA0,
                 8,    2,   0,   0,   0,    0,    0,    0,    0,   0,    0,    0,
                 0,    'I', 'E', 'N', 'D',  0xAE, 0x42, 0x60, 0x82};
    auto msg = decodeError(png);
    EXPECT_NE(msg.find("100000x100000 pixels (10000.0 megapixels), more than the limit of 100.0"),
              std::string::npos)
        << msg;
    // The limit is configurable and applies to ordinary images too.
    auto small = makePng(20, 20, 8, 2, Bytes(20 * 20 * 3, 0));
    vqa::ImageDecodeOptions o;
    o.max_pixels = 399;
    EXPECT_NE(decodeError(small, o).find("limit of 0.0 megapixels"), std::string::npos);
    o.max_pixels = 400;
    EXPECT_NO_THROW(vqa::decodeImageBytes(small.data(), small.size(), "ok.png", o));
}

TEST(ImageIOErrors, GifWithoutImage) {
    Bytes gif = {'G', 'I', 'F', '8', '9', 'a', 10, 0, 10, 0, 0, 0, 0, ';'};
    auto msg = decodeError(gif);
    EXPECT_NE(msg.find("holds no image"), std::string::npos) << msg;
    Bytes bomb = {'G', 'I', 'F', '8', '9', 'a', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, ';'};
    EXPECT_NE(decodeError(bomb).find("more than the limit"), std::string::npos);
}

TEST(ImageIOErrors, ZeroSizeHeader) {
    auto png = makePng(4, 4, 8, 2, Bytes(4 * 4 * 3, 9));
    png[16] = png[17] = png[18] = png[19] = 0; // width 0
    EXPECT_NE(decodeError(png).find("0x4 pixels"), std::string::npos);
}
