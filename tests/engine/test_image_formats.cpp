// Image files a person may drop that test_image_io.cpp does not cover: a CMYK JPEG and a
// one-pixel greyscale JPEG (compared with what the reference, PIL + convert("RGB"), makes
// of them; tests/reference/make_robustness.py writes both), files of formats this build
// does not read, and files that only wear an image extension.
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "models/base/Error.h"
#include "engine/io/SafetensorsFile.h"
#include "engine/vision/ImageIO.h"
#include "tests/common/TestPaths.h"
#include "tests/engine/test_safetensors_util.h"

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

namespace {

fs::path robustnessRef() { return vqa::test::referenceDir("robustness"); }

std::string fileError(const fs::path& p) {
    try {
        vqa::decodeImageFile(p.string());
    } catch (const vqa::Error& e) {
        return e.what();
    }
    ADD_FAILURE() << p << " decoded";
    return {};
}

void writeBytes(const fs::path& p, const Bytes& b) {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Decoded pixels against the reference's, as [H, W, 3] uint8; returns the largest difference.
int maxDifference(const vqa::RgbImage& im, const torch::Tensor& expected) {
    EXPECT_EQ(im.height, expected.size(0));
    EXPECT_EQ(im.width, expected.size(1));
    if (im.height != expected.size(0) || im.width != expected.size(1))
        return 256;
    auto got = torch::from_blob(const_cast<std::uint8_t*>(im.pixels.data()), {im.height, im.width, 3}, torch::kUInt8);
    return (got.to(torch::kInt32) - expected.to(torch::kInt32)).abs().max().item<int>();
}

}  // namespace

// CMYK JPEGs (Adobe's inverted convention, as PIL and Photoshop write them) become RGB like
// the reference's. libjpeg versions differ in IDCT rounding, so allow a little.
TEST(ImageFormats, CmykJpegMatchesTheReference) {
    VQA_SKIP_UNLESS_EXISTS(robustnessRef() / "expected.safetensors", "written by tests/reference/make_robustness.py");
    auto expected = vqa::SafetensorsFile::open((robustnessRef() / "expected.safetensors").string());
    auto im = vqa::decodeImageFile((robustnessRef() / "cmyk.jpg").string());
    const int diff = maxDifference(im, expected->tensor("cmyk"));
    EXPECT_LE(diff, 3) << "CMYK converted unlike PIL (inverted or channels swapped?)";
}

TEST(ImageFormats, OnePixelGreyscaleJpeg) {
    VQA_SKIP_UNLESS_EXISTS(robustnessRef() / "expected.safetensors", "written by tests/reference/make_robustness.py");
    auto expected = vqa::SafetensorsFile::open((robustnessRef() / "expected.safetensors").string());
    auto im = vqa::decodeImageFile((robustnessRef() / "one_gray.jpg").string());
    EXPECT_EQ(im.width, 1);
    EXPECT_EQ(im.height, 1);
    EXPECT_LE(maxDifference(im, expected->tensor("one_gray")), 1);
}

// Real images in formats this build does not read: the message says which formats it reads.
TEST(ImageFormats, UnsupportedFormatsSaySoAndListWhatIsRead) {
    auto dir = vqa::test::freshDir("img-unsupported");
    // A Windows icon (ICONDIR + one 1x1 32-bit BMP entry), an SVG, a Photoshop header, HEIC's ftyp box.
    const Bytes ico = {0, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 32, 0, 48, 0, 0, 0, 22, 0, 0, 0,
                       40, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 32, 0, 0, 0, 0, 0, 8, 0, 0, 0,
                       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 0, 0, 255, 0, 0, 0, 0};
    writeBytes(dir / "favicon.ico", ico);
    std::ofstream(dir / "drawing.svg") << R"(<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>)";
    writeBytes(dir / "layers.psd", {'8', 'B', 'P', 'S', 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4, 0, 8, 0, 3});
    writeBytes(dir / "photo.heic", {0, 0, 0, 24, 'f', 't', 'y', 'p', 'h', 'e', 'i', 'c', 0, 0, 0, 0, 'm', 'i', 'f', '1', 'h', 'e', 'i', 'c'});
    for (const char* name : {"favicon.ico", "drawing.svg", "layers.psd", "photo.heic"}) {
        const auto msg = fileError(dir / name);
        EXPECT_NE(msg.find((dir / name).string()), std::string::npos) << msg;
        EXPECT_NE(msg.find("is not an image in a format this build reads (PNG, JPEG, WebP, BMP, TIFF, PNM, GIF)"),
                  std::string::npos)
            << msg;
    }
    fs::remove_all(dir);
}

// A text or binary file named like an image is refused by what it holds, not its name.
TEST(ImageFormats, TextOrBinaryFileWithAnImageExtension) {
    auto dir = vqa::test::freshDir("img-impostors");
    std::ofstream(dir / "notes.jpg") << "Shopping list: milk, bread, a camera.\n";
    Bytes noise(4096);
    std::mt19937 rng(5);
    for (auto& b : noise)
        b = static_cast<std::uint8_t>(rng());
    noise[0] = 0x7f;  // not by chance a known signature
    writeBytes(dir / "random.png", noise);
    writeBytes(dir / "program.gif", {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0x3e, 0});
    for (const char* name : {"notes.jpg", "random.png", "program.gif"}) {
        const auto msg = fileError(dir / name);
        EXPECT_NE(msg.find((dir / name).string()), std::string::npos) << msg;
        EXPECT_NE(msg.find("is not an image"), std::string::npos) << msg;
    }
    // A file that starts like a PNG but is not one says the PNG is damaged, not "not an image".
    writeBytes(dir / "fake.png", {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 'h', 'e', 'l', 'l', 'o'});
    const auto msg = fileError(dir / "fake.png");
    EXPECT_NE(msg.find("png"), std::string::npos) << msg;
    fs::remove_all(dir);
}
