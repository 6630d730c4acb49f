// The Qwen2-VL / Qwen2.5-VL processor against transformers' Qwen2VLProcessor and
// Qwen2_5_VLProcessor (slow PIL image processor) on images of odd sizes in multi-turn
// conversations: identical input_ids (our chat format, each placeholder expanded to one
// <|image_pad|> per merged patch, our tokenizer) and image_grid_thw, and the frames within
// 1e-6 (the reference's flat patches unflattened by the script). Reference:
// tests/reference/make_qwen2vl_processor.py.
//
// Tolerance: the resize is Pillow's fixed-point arithmetic and the normalization numpy's float32
// steps, so values should be identical; 1e-6 survives compilers that contract float
// operations differently.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "engine/families/qwen2vl/Qwen2VLChatFormat.h"
#include "engine/families/qwen2vl/Qwen2VLImageProcessor.h"
#include "engine/io/SafetensorsFile.h"
#include "engine/text/Tokenizer.h"
#include "engine/vision/ImageIO.h"
#include "models/base/Error.h"
#include "tests/engine/TokenizerTestData.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace vqa;

namespace {

constexpr double kTolerance = 1e-6;

fs::path processorReference() {
    return vqa::test::referenceDir("qwen2vl_processor");
}

// The prompt with the k-th placeholder replaced by tokens[k] copies of it.
std::string expandPlaceholders(const std::string& prompt, const std::string& placeholder,
                               const std::vector<int>& tokens) {
    std::string out;
    std::size_t pos = 0, k = 0;
    for (std::size_t hit; (hit = prompt.find(placeholder, pos)) != std::string::npos;
         pos = hit + placeholder.size()) {
        out.append(prompt, pos, hit - pos);
        if (k >= tokens.size())
            throw std::runtime_error("more placeholders than images");
        for (int i = 0; i < tokens[k]; ++i)
            out += placeholder;
        ++k;
    }
    if (k != tokens.size())
        throw std::runtime_error("fewer placeholders than images");
    return out + prompt.substr(pos);
}

class Qwen2VLProcessorParity : public ::testing::Test {
  protected:
    void SetUp() override {
        VQA_SKIP_UNLESS_EXISTS(processorReference() / "cases.json",
                               "run tests/reference/make_qwen2vl_processor.py (ctest does)");
        ref = vqa::test::readReferenceJson(processorReference() / "cases.json");
        frames = SafetensorsFile::open((processorReference() / "frames.safetensors").string());
    }
    RgbImage image(const std::string& name) const {
        return decodeImageFile((processorReference() / "images" / (name + ".png")).string());
    }
    json ref;
    std::shared_ptr<SafetensorsFile> frames;
};

} // namespace

TEST_F(Qwen2VLProcessorParity, ConfigFromBothLayouts) {
    // transformers 5: processor_config.json with size.shortest_edge / longest_edge.
    const auto a = Qwen2VLProcessorConfig::load((processorReference() / "qwen2vl").string());
    // The Hub's layout: preprocessor_config.json with top-level min_pixels / max_pixels.
    const auto b = Qwen2VLProcessorConfig::load((processorReference() / "qwen25vl").string());
    for (const auto* c : {&a, &b}) {
        EXPECT_EQ(c->min_pixels, ref["min_pixels"].get<std::int64_t>());
        EXPECT_EQ(c->max_pixels, ref["max_pixels"].get<std::int64_t>());
        EXPECT_EQ(c->patch_size, 14);
        EXPECT_EQ(c->merge_size, 2);
        EXPECT_EQ(c->temporal_patch_size, 2);
        EXPECT_EQ(c->factor(), 28);
        EXPECT_EQ(c->resample, PilFilter::Bicubic);
        EXPECT_DOUBLE_EQ(c->normalization.image_std[2], 0.27577711);
    }
}

TEST_F(Qwen2VLProcessorParity, InputIdsGridsAndFramesMatchReference) {
    ASSERT_GE(ref["cases"].size(), 8u);
    int index = 0;
    for (const auto& c : ref["cases"]) {
        SCOPED_TRACE("case " + std::to_string(index));
        const auto folder = (processorReference() / c["folder"].get<std::string>()).string();
        const Qwen2VLImageProcessor processor(Qwen2VLProcessorConfig::load(folder));
        const auto tok = loadTokenizer(folder);
        const auto format = qwen2VLChatFormat(tok->chatTemplate());
        ASSERT_TRUE(format);
        const auto conv = vqa::test::toConversation(c["conversation"]);
        const std::string prompt = format->render(conv, true);
        EXPECT_EQ(prompt, c["prompt"].get<std::string>());

        Qwen2VLPixelBounds bounds;
        if (!c["bounds"].is_null()) {
            bounds.min_pixels = c["bounds"][0].get<std::int64_t>();
            bounds.max_pixels = c["bounds"][1].get<std::int64_t>();
        }
        std::vector<int> tokens;
        const auto& names = c["images"];
        for (std::size_t k = 0; k < names.size(); ++k) {
            SCOPED_TRACE(names[k].get<std::string>());
            const auto im = image(names[k]);
            const auto out = processor.process(im, bounds);
            const auto& grid = c["image_grid_thw"][k];
            EXPECT_EQ(out.grid_t, grid[0].get<int>());
            EXPECT_EQ(out.grid_h, grid[1].get<int>());
            EXPECT_EQ(out.grid_w, grid[2].get<int>());
            EXPECT_EQ(out.resized_width, c["resized"][k][0].get<int>());
            EXPECT_EQ(out.resized_height, c["resized"][k][1].get<int>());
            EXPECT_EQ(processor.resizedSize(im.width, im.height, bounds),
                      std::make_pair(out.resized_width, out.resized_height));
            EXPECT_EQ(out.original_width, im.width);
            EXPECT_EQ(out.original_height, im.height);
            const auto expected =
                frames->tensor("case" + std::to_string(index) + "_image" + std::to_string(k));
            ASSERT_EQ(out.pixel_values.sizes(),
                      (std::vector<std::int64_t>{1, 3, out.resized_height, out.resized_width}));
            ASSERT_EQ(out.pixel_values[0].sizes(), expected.sizes());
            EXPECT_LE((out.pixel_values[0] - expected).abs().max().item<double>(), kTolerance);
            tokens.push_back(out.numImageTokens());
        }
        const auto ids =
            tok->encode(expandPlaceholders(prompt, format->imagePlaceholder(), tokens));
        EXPECT_EQ(ids, c["input_ids"].get<std::vector<TokenId>>());
        ++index;
    }
}

TEST_F(Qwen2VLProcessorParity, ExtremeAspectRatioIsAClearError) {
    const Qwen2VLImageProcessor processor(
        Qwen2VLProcessorConfig::load((processorReference() / "qwen2vl").string()));
    const auto strip = image("strip");
    ASSERT_EQ(strip.width, 5000);
    ASSERT_EQ(strip.height, 1);
    // The reference refuses it too.
    EXPECT_NE(ref["strip_error"].get<std::string>().find("aspect ratio"), std::string::npos);
    try {
        processor.process(strip);
        FAIL() << "a 5000:1 image was accepted";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("5000x1 pixels"), std::string::npos) << what;
        EXPECT_NE(what.find("5000:1"), std::string::npos) << what;
        EXPECT_NE(what.find("200:1"), std::string::npos) << what;
    }
    // 200:1 itself is accepted, as the reference accepts it.
    EXPECT_NO_THROW(qwen2VLSmartResize(1, 200, 28, 56 * 56, 28 * 28 * 1280));
}

TEST(Qwen2VLSmartResize, FollowsTheReferenceArithmetic) {
    // Rounding halves to even, as Python's round(): 70 / 28 = 2.5 -> 2, 98 / 28 = 3.5 -> 4.
    EXPECT_EQ(qwen2VLSmartResize(70, 98, 28, 56 * 56, 28 * 28 * 1280), std::make_pair(56, 112));
    // Already multiples of 28 and within the bounds: unchanged.
    EXPECT_EQ(qwen2VLSmartResize(224, 448, 28, 56 * 56, 28 * 28 * 1280), std::make_pair(224, 448));
    // Too small: enlarged to at least min_pixels; too large: shrunk to at most max_pixels.
    const auto [h1, w1] = qwen2VLSmartResize(7, 9, 28, 56 * 56, 28 * 28 * 1280);
    EXPECT_GE(h1 * w1, 56 * 56);
    const auto [h2, w2] = qwen2VLSmartResize(3000, 4000, 28, 56 * 56, 28 * 28 * 1280);
    EXPECT_LE(h2 * w2, 28 * 28 * 1280);
    EXPECT_EQ(h2 % 28, 0);
    EXPECT_EQ(w2 % 28, 0);
    EXPECT_THROW(qwen2VLSmartResize(0, 10, 28, 56 * 56, 28 * 28 * 1280), Error);
    EXPECT_THROW(qwen2VLSmartResize(10, 10, 28, 0, 28 * 28 * 1280), Error);
}

TEST(Qwen2VLImageProcessor, ConfigErrorsNameTheFileAndKey) {
    const auto dir = fs::temp_directory_path() / "vqa_qwen2vl_config";
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto expectError = [&](const std::string& settings, const std::string& needle) {
        std::ofstream(dir / "preprocessor_config.json") << settings;
        try {
            Qwen2VLProcessorConfig::load(dir.string());
            ADD_FAILURE() << "no error for " << settings;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    };
    expectError(R"({"image_processor_type": "CLIPImageProcessor"})", "needs Qwen2VLImageProcessor");
    expectError(R"({"min_pixels": -5})", "min_pixels must be a positive integer");
    expectError(R"({"size": {"longest_edge": "big"}})",
                "size.longest_edge must be a positive integer");
    expectError(R"({"patch_size": 100000})", "patch_size");
    expectError(R"({"resample": 0})", "resample");
    // transformers 4's saved form of the bounds is read too; top-level keys win over size.
    std::ofstream(dir / "preprocessor_config.json")
        << R"({"size": {"min_pixels": 1000, "max_pixels": 9000}})";
    auto c = Qwen2VLProcessorConfig::load(dir.string());
    EXPECT_EQ(c.min_pixels, 1000);
    EXPECT_EQ(c.max_pixels, 9000);
    std::ofstream(dir / "preprocessor_config.json")
        << R"({"size": {"shortest_edge": 1000, "longest_edge": 9000}, "max_pixels": 20000})";
    c = Qwen2VLProcessorConfig::load(dir.string());
    EXPECT_EQ(c.min_pixels, 1000);
    EXPECT_EQ(c.max_pixels, 20000);
    fs::remove_all(dir);
}

TEST(Qwen2VLImageProcessor, WithoutResizeEdgesMustBeMultiplesOfTheFactor) {
    Qwen2VLProcessorConfig c;
    c.do_resize = false;
    const Qwen2VLImageProcessor processor(c);
    RgbImage im;
    im.width = 56;
    im.height = 30;
    im.pixels.assign(static_cast<std::size_t>(im.width) * im.height * 3, 128);
    EXPECT_THROW(processor.process(im), Error);
    im.height = 28;
    im.pixels.assign(static_cast<std::size_t>(im.width) * im.height * 3, 128);
    const auto out = processor.process(im);
    EXPECT_EQ(out.grid_h, 2);
    EXPECT_EQ(out.grid_w, 4);
    EXPECT_EQ(out.numImageTokens(), 2);
    EXPECT_THROW(processor.process(RgbImage{}), Error);
}
