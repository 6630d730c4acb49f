// Counterfactual explanations (engine/explain/ImageReliance) on the tiny SmolVLM checkpoint:
// the neutral and occluded images are what they say; an occlusion sweep's cells tile the
// image and each cell's drop is that occlusion's; a sweep is bounded, cancellable midway and
// refuses what does not fit; scoring leaves the engine's caches as they were. (Parity with
// transformers: test_engine_parity.cpp, AnswerScoresWithAndWithoutTheImageAreTheReferences.)
#include <atomic>
#include <cmath>
#include <filesystem>
#include <numeric>

#include <gtest/gtest.h>

#include "engine/Engine.h"
#include "engine/explain/ImageReliance.h"
#include "models/base/Error.h"
#include "tests/common/TestPaths.h"

namespace fs = std::filesystem;
using namespace vqa;

namespace {

RgbImage gradient(int w, int h) {
    RgbImage im{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(w) * h * 3)};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c)
                im.pixels[(static_cast<std::size_t>(y) * w + x) * 3 + c] =
                    static_cast<std::uint8_t>((x * 7 + y * 3 + c * 50) % 256);
    return im;
}

class ImageRelianceTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const fs::path model = test::referenceDir("idefics3") / "tiny_untied" / "model";
        VQA_SKIP_UNLESS_EXISTS(model / "model.safetensors", "run tests/reference/make_idefics3.py (ctest: reference.idefics3)");
        LoadOptions options;
        options.device = DevicePreference::Cpu;
        options.dtype = "float32";
        engine_.load(model.string(), options);
        request_ = requestFor(std::make_shared<const RgbImage>(gradient(60, 40)), "gradient");
        request_.generation.max_new_tokens = 6;
        request_.generation.ignore_eos = true;
        const auto result = engine_.generate(request_);
        ASSERT_NE(result.stop, StopReason::Error) << result.error;
        answer_ = result.token_ids;
        ASSERT_EQ(answer_.size(), 6u);
    }

    static Request requestFor(std::shared_ptr<const RgbImage> image, const std::string& key) {
        Request r;
        r.images = {std::move(image)};
        r.image_keys = {key};
        r.conversation.push_back(
            Turn{Role::User, {{ContentPart::Kind::Image, {}}, {ContentPart::Kind::Text, "What is shown?"}}});
        return r;
    }

    Engine engine_;
    Request request_;
    std::vector<std::int32_t> answer_;
};

}  // namespace

TEST(ImageVariants, MeanColourAndOcclusionAreWhatTheySay) {
    RgbImage im{2, 1, {0, 10, 255, 1, 11, 0}};  // means 0.5, 10.5, 127.5: rounded half up
    const RgbImage mean = meanColourImage(im);
    EXPECT_EQ(mean.pixels, (std::vector<std::uint8_t>{1, 11, 128, 1, 11, 128}));

    const RgbImage g = gradient(10, 8);
    const RgbImage occluded = occludedImage(g, {8, 6, 5, 5});  // reaches past the corner: clipped
    for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 10; ++x)
            for (int c = 0; c < 3; ++c) {
                const std::size_t i = (static_cast<std::size_t>(y) * 10 + x) * 3 + c;
                EXPECT_EQ(occluded.pixels[i], x >= 8 && y >= 6 ? kOcclusionGrey : g.pixels[i]) << x << "," << y;
            }
    EXPECT_THROW(occludedImage(g, {10, 0, 4, 4}), Error);   // right of the image
    EXPECT_THROW(occludedImage(g, {-5, -5, 5, 5}), Error);  // above and left
    EXPECT_THROW(occludedImage(g, {2, 2, 0, 3}), Error);    // empty
    EXPECT_THROW(meanColourImage(RgbImage{}), Error);
    const PixelRect clipped = clipRect({-3, 2, 6, 100}, 10, 8);
    EXPECT_EQ(clipped.x, 0);
    EXPECT_EQ(clipped.width, 3);
    EXPECT_EQ(clipped.height, 6);
}

TEST_F(ImageRelianceTest, EachSweepCellIsThatOcclusion) {
    ASSERT_TRUE(engine_.prepareImage(request_.images[0], request_.image_keys[0]));
    std::vector<std::pair<int, int>> progress;
    const auto map = occlusionSweep(engine_, request_, answer_, 0, 3, 0, 6,
                                    [&](int done, int total) { progress.emplace_back(done, total); });
    ASSERT_TRUE(map);
    ASSERT_EQ(map->cells.size(), 9u);
    ASSERT_EQ(map->drop.size(), 9u);
    ASSERT_EQ(progress.size(), 10u);
    EXPECT_EQ(progress.back(), std::make_pair(10, 10));
    int area = 0;
    for (const auto& cell : map->cells)
        area += cell.width * cell.height;
    EXPECT_EQ(area, 60 * 40) << "the cells tile the image";
    EXPECT_EQ(map->cells[4].x, 20);
    EXPECT_EQ(map->cells[4].y, 13);
    const auto original = engine_.scoreAnswer(request_, answer_);
    ASSERT_TRUE(original);
    EXPECT_NEAR(map->original, std::accumulate(original->begin(), original->end(), 0.0), 1e-4);
    for (std::size_t k : {0u, 4u, 8u}) {
        const auto one = occlusion(engine_, request_, answer_, 0, map->cells[k]);
        ASSERT_TRUE(one);
        const double changed = std::accumulate(one->changed.begin(), one->changed.end(), 0.0);
        EXPECT_NEAR(map->drop[k], map->original - changed, 1e-4) << "cell " << k;
    }
    const HeatmapGrid grid = occlusionGrid(*map, *request_.images[0]);
    EXPECT_EQ(grid.rows, 3);
    EXPECT_EQ(grid.width, 60);
    for (std::size_t k = 0; k < 9; ++k)
        EXPECT_EQ(grid.values[k], std::max(map->drop[k], 0.0f));

    // Nothing made for the sweep stays in the engine's cache: the image is still encoded.
    request_.generation.max_new_tokens = 1;
    EXPECT_EQ(engine_.generate(request_).timings.encode_ms, 0.0);
}

TEST_F(ImageRelianceTest, ASweepIsBoundedAndRefusesWhatDoesNotFit) {
    EXPECT_THROW(occlusionSweep(engine_, request_, answer_, 0, kMaxOcclusionGrid + 1, 0, 6), Error);
    EXPECT_THROW(occlusionSweep(engine_, request_, answer_, 0, 0, 0, 6), Error);
    EXPECT_THROW(occlusionSweep(engine_, request_, answer_, 1, 2, 0, 6), Error);  // no second image
    EXPECT_THROW(occlusionSweep(engine_, request_, answer_, 0, 2, 6, 6), Error);  // no tokens
    const Request tiny = requestFor(std::make_shared<const RgbImage>(gradient(3, 3)), "tiny");
    EXPECT_THROW(occlusionSweep(engine_, tiny, answer_, 0, 4, 0, 6), Error);      // cells under a pixel
    EXPECT_THROW(occlusion(engine_, request_, answer_, 0, {100, 100, 5, 5}), Error);
    EXPECT_THROW(imageReliance(engine_, ablatedRequest(request_, ImageAblation::NoImage), answer_,
                               ImageAblation::MeanColour),
                 Error);
    EXPECT_THROW(engine_.scoreAnswer(request_, {1, 2, 1 << 30}), Error);  // outside the vocabulary
    Engine empty;
    EXPECT_THROW(empty.scoreAnswer(request_, answer_), Error);

    // A 4000-pixel photo: still grid x grid + 1 passes.
    const Request photo = requestFor(std::make_shared<const RgbImage>(gradient(4000, 3000)), "photo");
    int passes = 0;
    const auto map = occlusionSweep(engine_, photo, answer_, 0, 2, 0, 6, [&](int, int) { ++passes; });
    ASSERT_TRUE(map);
    EXPECT_EQ(passes, 5);
    EXPECT_EQ(map->cells.back().x + map->cells.back().width, 4000);
}

TEST_F(ImageRelianceTest, CancellingASweepMidwayStopsIt) {
    std::atomic<bool> cancel{false};
    int passes = 0;
    const auto map = occlusionSweep(
        engine_, request_, answer_, 0, 4, 0, 6,
        [&](int done, int) {
            passes = done;
            if (done == 3)
                cancel = true;  // the fourth pass sees it between its layers
        },
        &cancel);
    EXPECT_FALSE(map);
    EXPECT_EQ(passes, 3);
    EXPECT_FALSE(imageReliance(engine_, request_, answer_, ImageAblation::MeanColour, &cancel));
    // And the engine goes on.
    cancel = false;
    EXPECT_TRUE(imageReliance(engine_, request_, answer_, ImageAblation::NoImage, &cancel));
}
