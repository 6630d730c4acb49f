// Idefics3 image preprocessing against transformers' Idefics3Processor (PIL backend), on the
// images and outputs tests/reference/make_processor.py writes.
//
// Tolerance: our resize reproduces Pillow's fixed-point arithmetic and the normalization
// follows numpy's float32 steps, so values should be identical; we allow 1e-6 (far below
// one 8-bit level, 2/255 = 0.0078 after normalization with std 0.5) to survive compilers
// that contract float operations differently.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "models/base/Error.h"
#include "engine/families/idefics3/Idefics3Config.h"
#include "engine/families/idefics3/Idefics3ImageProcessor.h"
#include "engine/io/ModelConfig.h"
#include "engine/io/SafetensorsFile.h"
#include "engine/vision/ImageIO.h"
#include "engine/vision/PilResize.h"
#include "tests/common/TestPaths.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr double kTolerance = 1e-6;

json readCases(const fs::path& dir) {
    std::ifstream in(dir / "cases.json");
    return json::parse(in);
}

torch::Tensor imageTensor(const vqa::RgbImage& im) {
    return torch::from_blob(const_cast<std::uint8_t*>(im.pixels.data()), {im.height, im.width, 3},
                            torch::kUInt8)
        .clone();
}

} // namespace

TEST(Idefics3Tokens, ExpansionStrings) {
    EXPECT_EQ(vqa::expandIdefics3ImageTokens(0, 0, 2),
              "<fake_token_around_image><global-img><image><image><fake_token_around_image>");
    EXPECT_EQ(vqa::expandIdefics3ImageTokens(1, 2, 1),
              "<fake_token_around_image><row_1_col_1><image>"
              "<fake_token_around_image><row_1_col_2><image>\n"
              "\n<fake_token_around_image><global-img><image><fake_token_around_image>");
}

TEST(Idefics3Processor, ConfigFromFixture) {
    auto dir = vqa::test::smolvlmFixture();
    VQA_SKIP_UNLESS_EXISTS(dir, "the SmolVLM-256M-Instruct fixture files");
    auto c = vqa::Idefics3ProcessorConfig::load(dir.string());
    EXPECT_EQ(c.longest_edge, 2048);
    EXPECT_EQ(c.tile_size, 512);
    EXPECT_EQ(c.resample, vqa::PilFilter::Lanczos);
    EXPECT_EQ(c.image_seq_len, 64);
    EXPECT_TRUE(c.do_image_splitting);
    EXPECT_DOUBLE_EQ(c.normalization.image_mean[1], 0.5);
    EXPECT_DOUBLE_EQ(c.normalization.rescale_factor, 1.0 / 255.0);
}

TEST(Idefics3Processor, ConsistentWithModelConfig) {
    auto dir = vqa::test::smolvlmFixture();
    VQA_SKIP_UNLESS_EXISTS(dir, "the SmolVLM-256M-Instruct fixture files");
    auto model = vqa::parseIdefics3Config(vqa::readModelConfig(dir.string()), "config.json");
    auto proc = vqa::Idefics3ProcessorConfig::load(dir.string());
    EXPECT_NO_THROW(vqa::checkIdefics3Consistency(model, proc, dir.string()));
    auto wrong = proc;
    wrong.image_seq_len = 169;
    EXPECT_THROW(vqa::checkIdefics3Consistency(model, wrong, dir.string()), vqa::Error);
    wrong = proc;
    wrong.tile_size = 364;
    EXPECT_THROW(vqa::checkIdefics3Consistency(model, wrong, dir.string()), vqa::Error);
}

TEST(Idefics3Processor, ConfigErrors) {
    auto dir = fs::temp_directory_path() / ("vqa-io-proc-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    try {
        vqa::Idefics3ProcessorConfig::load(dir.string());
        ADD_FAILURE() << "loading without preprocessor_config.json succeeded";
    } catch (const vqa::Error& e) {
        EXPECT_NE(std::string(e.what()).find("preprocessor_config.json"), std::string::npos);
    }
    std::ofstream(dir / "preprocessor_config.json") << R"({"resample": 0})";
    EXPECT_THROW(vqa::Idefics3ProcessorConfig::load(dir.string()), vqa::Error);
    std::ofstream(dir / "preprocessor_config.json", std::ios::trunc)
        << R"({"max_image_size": {"height": 3}})";
    EXPECT_THROW(vqa::Idefics3ProcessorConfig::load(dir.string()), vqa::Error);
    std::ofstream(dir / "preprocessor_config.json", std::ios::trunc) << R"({"size": )";
    EXPECT_THROW(vqa::Idefics3ProcessorConfig::load(dir.string()), vqa::Error);
    fs::remove_all(dir);
}

TEST(PilResize, MatchesPillowForEveryFilter) {
    auto dir = vqa::test::referenceDir("processor");
    VQA_SKIP_UNLESS_EXISTS(dir / "pil_resize.safetensors", "written by make_processor.py");
    auto ref = vqa::SafetensorsFile::open((dir / "pil_resize.safetensors").string());
    int checked = 0;
    for (const auto& name : ref->names()) {
        // "<image>_<W>x<H>_f<n>"
        auto p1 = name.find('_'), px = name.find('x', p1), p2 = name.find("_f", px);
        const std::string image = name.substr(0, p1);
        const int w = std::stoi(name.substr(p1 + 1, px - p1 - 1));
        const int h = std::stoi(name.substr(px + 1, p2 - px - 1));
        const int f = std::stoi(name.substr(p2 + 2));
        auto src = vqa::decodeImageFile((dir / "images" / (image + ".png")).string());
        auto out = vqa::pilResize(src, w, h, vqa::pilFilterFromNumber(f));
        auto diff = (imageTensor(out).to(torch::kInt) - ref->tensor(name).to(torch::kInt)).abs();
        EXPECT_EQ(diff.max().item<int>(), 0)
            << name << ": " << diff.gt(0).sum().item<int>() << " values differ";
        ++checked;
    }
    EXPECT_EQ(checked, 30);
}

class Idefics3Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Idefics3Parity, MatchesTransformers) {
    const std::string name = GetParam();
    auto dir = vqa::test::referenceDir("processor");
    auto fixture = vqa::test::smolvlmFixture();
    VQA_SKIP_UNLESS_EXISTS(dir / "cases.json", "written by tests/reference/make_processor.py");
    VQA_SKIP_UNLESS_EXISTS(fixture, "the SmolVLM-256M-Instruct fixture files");
    const json cases = readCases(dir);
    ASSERT_TRUE(cases["cases"].contains(name));
    const json& c = cases["cases"][name];

    auto image = vqa::decodeImageFile((dir / c["file"].get<std::string>()).string());
    ASSERT_EQ(image.width, c["width"].get<int>());
    ASSERT_EQ(image.height, c["height"].get<int>());

    auto config = vqa::Idefics3ProcessorConfig::load(fixture.string());
    ASSERT_EQ(config.image_seq_len, cases["image_seq_len"].get<int>());
    vqa::Idefics3ImageProcessor proc(config);
    auto out = proc.process(image);

    EXPECT_EQ(out.rows, c["rows"].get<int>());
    EXPECT_EQ(out.cols, c["cols"].get<int>());
    ASSERT_EQ(out.pixel_values.size(0), c["frames"].get<int>());
    EXPECT_EQ(out.pixel_values.sizes(), (std::vector<std::int64_t>{out.numFrames(), 3, 512, 512}));

    // The prompt text, exactly.
    std::string prompt = c["prompt"];
    prompt.replace(prompt.find("<image>"), 7, proc.expandImageTokens(out.rows, out.cols));
    EXPECT_EQ(prompt, c["expanded_prompt"].get<std::string>());

    auto ref = vqa::SafetensorsFile::open((dir / (name + ".safetensors")).string());
    using torch::indexing::Slice;
    auto sub = out.pixel_values.index({Slice(), Slice(), Slice(0, {}, 8), Slice(0, {}, 8)});
    auto diff = (sub - ref->tensor("pv_stride8")).abs();
    const double max_diff = diff.max().item<double>();
    EXPECT_LE(max_diff, kTolerance) << name << ": mean abs diff " << diff.mean().item<double>();
    auto sums = out.pixel_values.to(torch::kFloat64).sum({2, 3});
    EXPECT_TRUE(torch::allclose(sums, ref->tensor("frame_sums"), 1e-9, 1e-3))
        << name << ": per-frame sums differ by up to "
        << (sums - ref->tensor("frame_sums")).abs().max().item<double>();
    EXPECT_TRUE(
        torch::equal(out.pixel_attention_mask.index({Slice(), Slice(0, {}, 8), Slice(0, {}, 8)})
                         .to(torch::kUInt8),
                     ref->tensor("mask_stride8")));
    EXPECT_TRUE(torch::equal(out.pixel_attention_mask.sum({1, 2}).to(torch::kInt64),
                             ref->tensor("mask_true_count")));
    RecordProperty("max_abs_diff", std::to_string(max_diff));

    // Every value, with the same algorithm at a small size.
    auto small_cfg = config;
    small_cfg.longest_edge = cases["small"]["size"]["longest_edge"];
    small_cfg.tile_size = cases["small"]["max_image_size"]["longest_edge"];
    auto small = vqa::Idefics3ImageProcessor(small_cfg).process(image);
    EXPECT_EQ(small.rows, c["small_rows"].get<int>());
    EXPECT_EQ(small.cols, c["small_cols"].get<int>());
    auto sref = vqa::SafetensorsFile::open((dir / (name + ".small.safetensors")).string());
    ASSERT_EQ(small.pixel_values.sizes(), sref->tensor("pixel_values").sizes());
    auto sdiff = (small.pixel_values - sref->tensor("pixel_values")).abs();
    EXPECT_LE(sdiff.max().item<double>(), kTolerance)
        << name << " (small config): " << sdiff.gt(kTolerance).sum().item<int>()
        << " values differ, mean abs diff " << sdiff.mean().item<double>();
    EXPECT_TRUE(torch::equal(small.pixel_attention_mask.to(torch::kUInt8),
                             sref->tensor("pixel_attention_mask")));

    // A lower image detail: the longest edge the token budget allows, processed as the
    // reference processor does when asked for that longest edge (every value).
    if (cases.contains("smaller")) {
        const vqa::Idefics3ImageProcessor small_processor(small_cfg);
        const int smaller_edge = cases["smaller"]["size"]["longest_edge"];
        const int budget = small_processor.imageTokens(image.width, image.height, smaller_edge);
        const bool fits = small_processor.imageTokens(image.width, image.height) <= budget;
        EXPECT_EQ(small_processor.longestEdgeWithin(image.width, image.height, budget),
                  fits ? small_cfg.longest_edge : smaller_edge) << name;
        EXPECT_EQ(small_processor.longestEdgeWithin(image.width, image.height, 0), small_cfg.longest_edge);
        EXPECT_EQ(small_processor.longestEdgeWithin(image.width, image.height, 1), small_cfg.tile_size)
            << name << ": below one tile's tokens, the global view alone";
        EXPECT_EQ(small_processor.frames(image.width, image.height, small_cfg.tile_size), 1);
        const auto smaller = small_processor.process(image, smaller_edge);
        EXPECT_EQ(smaller.rows, c["smaller_rows"].get<int>()) << name;
        EXPECT_EQ(smaller.cols, c["smaller_cols"].get<int>()) << name;
        EXPECT_EQ(smaller.numFrames() * config.image_seq_len, budget) << name;
        auto rref = vqa::SafetensorsFile::open((dir / (name + ".smaller.safetensors")).string());
        ASSERT_EQ(smaller.pixel_values.sizes(), rref->tensor("pixel_values").sizes()) << name;
        EXPECT_LE((smaller.pixel_values - rref->tensor("pixel_values")).abs().max().item<double>(), kTolerance)
            << name << " (smaller longest edge)";
        EXPECT_TRUE(torch::equal(smaller.pixel_attention_mask.to(torch::kUInt8), rref->tensor("pixel_attention_mask")));
    }

    // Layout: tiles tile the original image, row-major; the global view is all of it.
    ASSERT_EQ(out.tiles.size(), static_cast<std::size_t>(out.rows * out.cols));
    if (!out.tiles.empty()) {
        const auto& last = out.tiles.back();
        EXPECT_NEAR(last.x + last.width, image.width, 1e-9);
        EXPECT_NEAR(last.y + last.height, image.height, 1e-9);
        EXPECT_DOUBLE_EQ(out.tiles.front().x, 0.0);
        if (out.cols > 1) {
            EXPECT_NEAR(out.tiles[1].x, out.tiles[0].width, 1e-9);
        }
    }
    EXPECT_DOUBLE_EQ(out.global_view.width, image.width);
    EXPECT_DOUBLE_EQ(out.global_view.height, image.height);
    EXPECT_EQ(out.original_width, image.width);
    EXPECT_EQ(out.resized_width, out.cols ? out.cols * 512 : 512);
}

INSTANTIATE_TEST_SUITE_P(Images, Idefics3Parity,
                         ::testing::Values("wide", "tall", "small", "strip", "gray", "rgba"));

TEST(Idefics3Processor, NoSplittingIsOneSquareFrame) {
    vqa::Idefics3ProcessorConfig c;
    c.longest_edge = 128;
    c.tile_size = 64;
    c.do_image_splitting = false;
    vqa::RgbImage im{100, 50, std::vector<std::uint8_t>(100 * 50 * 3, 255)};
    auto out = vqa::Idefics3ImageProcessor(c).process(im);
    EXPECT_EQ(out.rows, 0);
    EXPECT_EQ(out.cols, 0);
    EXPECT_EQ(out.pixel_values.sizes(), (std::vector<std::int64_t>{1, 3, 64, 64}));
    EXPECT_FLOAT_EQ(out.pixel_values.min().item<float>(), 1.0f); // white -> (1-0.5)/0.5
    EXPECT_TRUE(out.pixel_attention_mask.all().item<bool>());
    EXPECT_TRUE(out.tiles.empty());
    EXPECT_THROW(vqa::Idefics3ImageProcessor(c).process(vqa::RgbImage{}), vqa::Error);
}
