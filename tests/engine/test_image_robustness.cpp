// Damaged inputs must end in a vqa::Error (or a valid image), never a crash or another
// exception type: images (PNG, JPEG, GIF) and safetensors files with random bytes flipped, cut or inserted.
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "models/base/Error.h"
#include "engine/io/SafetensorsFile.h"
#include "engine/vision/ImageIO.h"
#include "tests/common/TestPaths.h"
#include "tests/engine/test_image_util.h"
#include "tests/engine/test_safetensors_util.h"

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

namespace {

Bytes mutate(Bytes b, std::mt19937& rng) {
    std::uniform_int_distribution<int> kind(0, 3), byte(0, 255);
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !b.empty(); ++e) {
        const std::size_t at = rng() % b.size();
        switch (kind(rng)) {
        case 0:
            b[at] = static_cast<std::uint8_t>(byte(rng));
            break;
        case 1:
            b[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
            break;
        case 2:
            b.resize(at);
            break;
        default:
            b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), 0xFF);
            break;
        }
    }
    return b;
}

// Decodes `n` mutations of `seed`; returns how many decoded (the rest threw vqa::Error).
int decodeMutations(const Bytes& seed, int n, unsigned rng_seed) {
    std::mt19937 rng(rng_seed);
    vqa::ImageDecodeOptions opts;
    opts.max_pixels = 4'000'000; // keep damaged size fields cheap
    int ok = 0;
    for (int i = 0; i < n; ++i) {
        auto b = mutate(seed, rng);
        try {
            auto im = vqa::decodeImageBytes(b.data(), b.size(), "mutant", opts);
            EXPECT_EQ(im.pixels.size(), static_cast<std::size_t>(im.width) * im.height * 3);
            ++ok;
        } catch (const vqa::Error&) {
        }
    }
    return ok;
}

} // namespace

TEST(Robustness, MutatedPngsDecodeOrFailCleanly) {
    Bytes px(48 * 32 * 4);
    for (std::size_t i = 0; i < px.size(); ++i)
        px[i] = static_cast<std::uint8_t>(i * 2654435761u >> 24);
    auto png = vqa::test::makePng(48, 32, 8, 6, px, vqa::test::exifOrientation(6));
    const int ok = decodeMutations(png, 400, 7);
    RecordProperty("decoded", ok);
}

TEST(Robustness, MutatedJpegsDecodeOrFailCleanly) {
    auto path = vqa::test::referenceDir("processor") / "decode" / "rot6.jpg";
    VQA_SKIP_UNLESS_EXISTS(path, "written by make_processor.py");
    std::ifstream in(path, std::ios::binary);
    Bytes jpg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    decodeMutations(jpg, 400, 11);
}

TEST(Robustness, MutatedGifsDecodeOrFailCleanly) {
    auto path = vqa::test::referenceDir("processor") / "decode" / "anim_interlaced.gif";
    VQA_SKIP_UNLESS_EXISTS(path, "written by make_processor.py");
    std::ifstream in(path, std::ios::binary);
    Bytes gif((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    decodeMutations(gif, 1000, 13);
}

TEST(Robustness, UnknownFormatsNeverReachOpenCvsOtherDecoders) {
    // The image fuzzer's find: a PNG signature with two bytes changed and "DICM" at byte
    // 128 went to OpenCV's DICOM decoder, which aborted the process. Such bytes are not a
    // format we read, and say so.
    auto path = fs::path(VQA_SOURCE_DIR) / "tests/fuzz/corpus/fuzz_image/regression-dicom-signature";
    std::ifstream in(path, std::ios::binary);
    Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GT(bytes.size(), 128u);
    try {
        vqa::decodeImageBytes(bytes.data(), bytes.size(), "fuzzed.png", {});
        FAIL() << "decoded an unknown format";
    } catch (const vqa::Error& e) {
        EXPECT_NE(std::string(e.what()).find("not an image in a format this build reads"),
                  std::string::npos)
            << e.what();
    }
    // A PNM whose header we cannot read (a letter inside the width): refused before OpenCV,
    // which read it its own way and asked for 6 GB.
    std::ifstream pnm_in(fs::path(VQA_SOURCE_DIR) / "tests/fuzz/corpus/fuzz_image/regression-pnm-header-oom",
                         std::ios::binary);
    Bytes pnm((std::istreambuf_iterator<char>(pnm_in)), std::istreambuf_iterator<char>());
    ASSERT_GT(pnm.size(), 16u);
    try {
        vqa::decodeImageBytes(pnm.data(), pnm.size(), "fuzzed.ppm", {});
        FAIL() << "decoded a PNM with an unreadable header";
    } catch (const vqa::Error& e) {
        EXPECT_NE(std::string(e.what()).find("the pnm header cannot be read"), std::string::npos)
            << e.what();
    }
    // A minimal DICOM preamble: 128 zero bytes, "DICM", then nothing.
    Bytes dicom(128, 0);
    dicom.insert(dicom.end(), {'D', 'I', 'C', 'M', 0, 0, 0, 0});
    EXPECT_THROW(vqa::decodeImageBytes(dicom.data(), dicom.size(), "scan.dcm", {}), vqa::Error);
}

TEST(Robustness, MutatedSafetensorsOpenOrFailCleanly) {
    auto dir = vqa::test::freshDir("st-mutants");
    auto seed_path = dir / "seed.safetensors";
    vqa::test::writeF32Safetensors(seed_path,
                                   {{"a", {2, 3}, {1, 2, 3, 4, 5, 6}}, {"b", {4}, {7, 8, 9, 10}}});
    std::ifstream in(seed_path, std::ios::binary);
    Bytes seed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::mt19937 rng(3);
    for (int i = 0; i < 400; ++i) {
        auto b = mutate(seed, rng);
        auto p = dir / "m.safetensors";
        std::ofstream(p, std::ios::binary | std::ios::trunc)
            .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
        try {
            auto f = vqa::SafetensorsFile::open(p.string());
            for (const auto& name : f->names()) {
                auto t = f->tensor(name);
                (void)t.sum().item<double>(); // touches every byte of the view
            }
        } catch (const vqa::Error&) {
        }
    }
    fs::remove_all(dir);
}
