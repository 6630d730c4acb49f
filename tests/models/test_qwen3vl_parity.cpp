// Parity of the Qwen3-VL network with the reference implementation: tests/reference/
// make_qwen3vl.py builds random checkpoints (an untied head with DeepStack levels from vision
// blocks 0 and 1; a tied one with levels from blocks 0 and 2, sharded weights and two images)
// and records what transformers computes on images of odd sizes.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

#include "engine/families/qwen2vl/Qwen2VLImageProcessor.h"
#include "engine/families/qwen3vl/Qwen3VLConfig.h"
#include "engine/generation/PromptEmbedding.h"
#include "engine/io/Checkpoint.h"
#include "engine/io/ModelConfig.h"
#include "engine/io/SafetensorsFile.h"
#include "engine/vision/ImageIO.h"
#include "models/Interrupt.h"
#include "models/Qwen2VL.h"
#include "models/Qwen3VL.h"
#include "models/base/Error.h"
#include "tests/common/ParityHelpers.h"
#include "tests/common/RenamedWeights.h"
#include "tests/common/TestPaths.h"

namespace fs = std::filesystem;
using namespace vqa::test;
using vqa::models::Qwen3VLModel;

namespace {

const char* kWhy = "run tests/reference/make_qwen3vl.py (ctest runs it as reference.qwen3vl)";
const std::vector<std::string> kImages = {"wide", "tall", "tiny", "past_max"};

std::shared_ptr<vqa::SafetensorsFile> processorReference() {
    return vqa::SafetensorsFile::open((referenceDir("qwen3vl") / "processor" / "processor.safetensors").string());
}

vqa::models::Qwen3VLConfig configOf(const fs::path& model_dir) {
    return vqa::parseQwen3VLConfig(vqa::readModelConfig(model_dir.string()), (model_dir / "config.json").string());
}

using Loaded = ReferenceCase<Qwen3VLModel>;

Loaded load(const fs::path& dir) {
    auto checkpoint = vqa::Checkpoint::open((dir / "model").string());
    Loaded l;
    l.model = std::make_unique<Qwen3VLModel>(configOf(dir / "model"), *checkpoint, torch::kCPU, torch::kFloat32);
    l.ref = vqa::SafetensorsFile::open((dir / "reference.safetensors").string());
    return l;
}

torch::Tensor positionsOf(Qwen3VLModel& m, const torch::Tensor& ids, const torch::Tensor& grids) {
    const auto& c = m.config();
    return vqa::models::qwenRopePositions(ids, c.image_token_id, c.video_token_id, c.vision.spatial_merge_size,
                                          grids);
}

// Qwen2-VL's image processor with the settings a Qwen3-VL checkpoint saves (16-pixel patches,
// mean and std 0.5) gives the reference's frames, and their patches the reference's pixel values.
TEST(Qwen3VLProcessor, FramesAndPatchesAreTheReferences) {
    const auto dir = referenceDir("qwen3vl");
    VQA_SKIP_UNLESS_EXISTS(dir / "processor" / "processor.safetensors", kWhy);
    auto proc = processorReference();
    const vqa::Qwen2VLImageProcessor processor(vqa::Qwen2VLProcessorConfig::load((dir / "untied" / "model").string()));
    EXPECT_EQ(processor.config().patch_size, 16);
    const auto vision = configOf(dir / "untied" / "model").vision;
    for (const auto& image : kImages) {
        const auto out = processor.process(vqa::decodeImageFile((dir / "processor" / (image + ".png")).string()));
        EXPECT_LT(maxAbsDiff(out.pixel_values, proc->tensor(image + "_frames")), 1e-6) << image;
        const auto patches = vqa::models::flattenPatches(out.pixel_values, vision);
        EXPECT_TRUE(torch::equal(patches.grid_thw, proc->tensor(image + "_grid_thw").clone())) << image;
        EXPECT_LT(maxAbsDiff(patches.flat, proc->tensor(image + "_pixel_values")), 1e-6) << image;
    }
}

class Qwen3VLParity : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        const auto dir = referenceDir("qwen3vl") / GetParam();
        VQA_SKIP_UNLESS_EXISTS(dir / "reference.safetensors", kWhy);
        l_ = load(dir);
        proc_ = processorReference();
    }
    torch::Tensor pixels(const std::string& image) const { return proc_->tensor(image + "_pixel_values").clone(); }
    torch::Tensor grid(const std::string& image) const { return proc_->tensor(image + "_grid_thw").clone(); }

    // The prompt's images encoded (features and DeepStack levels), in the order of `grids`.
    vqa::models::ImageFeatures encode(const torch::Tensor& grids) {
        std::vector<torch::Tensor> flat;
        const auto g = grids.contiguous();
        for (std::int64_t i = 0; i < g.size(0); ++i)
            for (const auto& image : kImages)
                if (torch::equal(grid(image).view({3}), g[i])) {
                    flat.push_back(pixels(image));
                    break;
                }
        vqa::models::ImageFeatures f;
        f.tokens = l_.model->encodePatches(torch::cat(flat), grids, &f.layers);
        return f;
    }

    // The reference prompt's logits [T, vocab] from an empty cache, with or without DeepStack.
    torch::Tensor prefill(const torch::Tensor& ids, bool deepstack = true) {
        auto& m = *l_.model;
        const auto grids = l_.get("image_grid_thw");
        auto features = encode(grids);
        auto embeds = vqa::embedPrompt(m, ids, features.tokens);
        const auto additions =
            vqa::promptAdditions(toVector(l_.get("image_positions")), deepstack ? features.layers : std::vector<torch::Tensor>{});
        auto cache = m.newCache(ids.size(0) + 8);
        return m.forward(embeds, cache, /*all_logits=*/true, nullptr, positionsOf(m, ids, grids), &additions);
    }

    Loaded l_;
    std::shared_ptr<vqa::SafetensorsFile> proc_;
};

TEST_P(Qwen3VLParity, VisionFeaturesAndDeepStackOfEachImage) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    for (const auto& image : kImages) {
        std::vector<torch::Tensor> levels;
        auto features = m.encodePatches(pixels(image), grid(image), &levels);
        const double diff = relDiff(features, l_.get(image + "_features"));
        const double deepstack = relDiff(torch::stack(levels), l_.get(image + "_deepstack"));
        std::cout << "[" << GetParam() << "] " << image << " features relative diff " << diff << ", DeepStack "
                  << deepstack << "\n";
        EXPECT_LT(diff, 1e-4) << image;
        EXPECT_LT(deepstack, 1e-4) << image;
        // From the processor's frame, flattened here: the same features and levels.
        auto framed = m.encodeImageFeatures(proc_->tensor(image + "_frames").clone(), {});
        ASSERT_EQ(framed.tokens.dim(), 3);
        ASSERT_EQ(framed.layers.size(), levels.size());
        EXPECT_LT(relDiff(framed.tokens.squeeze(0), l_.get(image + "_features")), 1e-4) << image;
        EXPECT_LT(relDiff(framed.layers.back().squeeze(0), levels.back()), 1e-5) << image;
    }
}

TEST_P(Qwen3VLParity, VisionFeaturesOfSeveralImagesAtOnce) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> flat;
    for (const auto& image : kImages)
        flat.push_back(pixels(image));
    std::vector<torch::Tensor> levels;
    auto features = l_.model->encodePatches(torch::cat(flat), l_.get("all_grid_thw"), &levels);
    EXPECT_LT(relDiff(features, l_.get("all_features")), 1e-4);
    EXPECT_LT(relDiff(torch::stack(levels), l_.get("all_deepstack")), 1e-4);
}

TEST_P(Qwen3VLParity, ImageEncodingStopsBetweenVisionBlocks) {
    struct Stop {};
    torch::NoGradGuard no_grad;
    int seen = 0;
    vqa::models::InterruptScope scope([&] {
        if (++seen == 2)
            throw Stop{};
    });
    EXPECT_THROW(l_.model->encodePatches(pixels("wide"), grid("wide")), Stop);
    EXPECT_EQ(seen, 2);
}

TEST_P(Qwen3VLParity, RopePositionsAreGetRopeIndex) {
    auto& m = *l_.model;
    auto positions = positionsOf(m, l_.get("input_ids"), l_.get("image_grid_thw"));
    EXPECT_TRUE(torch::equal(positions, l_.get("position_ids"))) << positions << "\n" << l_.get("position_ids");
}

// The decoder over a prompt without images: q/k norms, no biases, the (tied or untied) head.
TEST_P(Qwen3VLParity, TextPrefillLogits) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto ids = l_.get("text_ids");
    auto cache = m.newCache(ids.size(0));
    auto logits = m.forward(m.embedTokens(ids), cache, /*all_logits=*/true);
    const double diff = relDiff(logits, l_.get("text_logits"));
    std::cout << "[" << GetParam() << "] text logits relative diff " << diff << "\n";
    EXPECT_LT(diff, 1e-4);
}

// With images: their features over their tokens, the interleaved multimodal positions on
// their grids, and DeepStack's levels added after the first decoder layers. Without the
// levels the logits are far off: these checkpoints depend on them.
TEST_P(Qwen3VLParity, PrefillLogitsNeedDeepStack) {
    torch::NoGradGuard no_grad;
    auto ids = l_.get("input_ids");
    const auto at = l_.get("logit_positions");
    const double diff = relDiff(prefill(ids).index_select(0, at), l_.get("logits"));
    const double without = relDiff(prefill(ids, false).index_select(0, at), l_.get("logits"));
    std::cout << "[" << GetParam() << "] prefill logits relative diff " << diff << ", without DeepStack "
              << without << "\n";
    EXPECT_LT(diff, 1e-4);
    EXPECT_GT(without, 1e-2);
}

TEST_P(Qwen3VLParity, AttentionRowsOverImage) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto ids = l_.get("input_ids");
    const auto grids = l_.get("image_grid_thw");
    auto features = encode(grids);
    const auto additions = vqa::promptAdditions(toVector(l_.get("image_positions")), features.layers);
    vqa::models::AttentionCapture capture;
    capture.positions = l_.get("image_positions");
    auto cache = m.newCache(ids.size(0));
    m.forward(vqa::embedPrompt(m, ids, features.tokens), cache, false, &capture, positionsOf(m, ids, grids),
              &additions);
    ASSERT_EQ(capture.rows.size(), static_cast<std::size_t>(m.config().text.num_hidden_layers));
    EXPECT_LT(maxAbsDiff(torch::stack(capture.rows), l_.get("attention_last")), 1e-5);
}

TEST_P(Qwen3VLParity, GreedyTokensOverTwoTurnsWithCache) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto ids = l_.get("input_ids");
    const auto grids = l_.get("image_grid_thw");
    auto features = encode(grids);
    const auto image_positions = toVector(l_.get("image_positions"));
    const auto additions = vqa::promptAdditions(image_positions, features.layers);
    auto expected = toVector(l_.get("generated"));
    auto cache = m.newCache(256);
    auto logits = m.forward(vqa::embedPrompt(m, ids, features.tokens), cache, false, nullptr,
                            positionsOf(m, ids, grids), &additions);
    auto tokens = greedy(m, cache, logits, static_cast<std::int64_t>(expected.size()));
    EXPECT_EQ(tokens, expected);

    // Turn 2 continues the cache (the image and its DeepStack levels are in the kept prefix).
    auto ids2 = l_.get("input_ids_turn2");
    const std::int64_t keep = ids.size(0) + static_cast<std::int64_t>(tokens.size()) - 1;
    ASSERT_EQ(cache.length, keep);
    auto rest = ids2.narrow(0, keep, ids2.size(0) - keep);
    logits = m.forward(m.embedTokens(rest), cache, false);
    EXPECT_EQ(greedy(m, cache, logits, 12), toVector(l_.get("generated_turn2")));
    // The whole of turn 2 from an empty cache agrees.
    auto cache2 = m.newCache(256);
    const auto additions2 = vqa::promptAdditions(image_positions, features.layers);
    logits = m.forward(vqa::embedPrompt(m, ids2, features.tokens), cache2, false, nullptr,
                       positionsOf(m, ids2, grids), &additions2);
    EXPECT_EQ(greedy(m, cache2, logits, 12), toVector(l_.get("generated_turn2")));
}

// The "fast" precision: the float32 decoder behind a bfloat16 vision tower. Its features and
// DeepStack levels are the float32 ones to bfloat16's precision, and the prefill logits
// follow them within a few percent (the bounds below, on these random weights).
TEST_P(Qwen3VLParity, FastPrecisionStaysCloseToFloat32) {
    torch::NoGradGuard no_grad;
    const auto dir = referenceDir("qwen3vl") / GetParam();
    auto checkpoint = vqa::Checkpoint::open((dir / "model").string());
    Qwen3VLModel fast(configOf(dir / "model"), *checkpoint, torch::kCPU, torch::kFloat32, {}, torch::kBFloat16);
    EXPECT_EQ(fast.visionDtype(), torch::kBFloat16);
    EXPECT_EQ(fast.dtype(), torch::kFloat32);
    std::vector<torch::Tensor> levels;
    auto features = fast.encodePatches(pixels("wide"), grid("wide"), &levels);
    EXPECT_EQ(features.scalar_type(), torch::kFloat32);
    const double feature_diff = relDiff(features, l_.get("wide_features"));
    const double level_diff = relDiff(torch::stack(levels), l_.get("wide_deepstack"));
    // The prompt's logits, the same way as with float32.
    auto ids = l_.get("input_ids");
    const auto grids = l_.get("image_grid_thw");
    std::vector<torch::Tensor> flat;
    for (std::int64_t i = 0; i < grids.size(0); ++i)
        for (const auto& image : kImages)
            if (torch::equal(grid(image).view({3}), grids[i]))
                flat.push_back(pixels(image));
    vqa::models::ImageFeatures f;
    f.tokens = fast.encodePatches(torch::cat(flat), grids, &f.layers);
    const auto additions = vqa::promptAdditions(toVector(l_.get("image_positions")), f.layers);
    auto cache = fast.newCache(ids.size(0));
    auto logits = fast.forward(vqa::embedPrompt(fast, ids, f.tokens), cache, true, nullptr, positionsOf(fast, ids, grids),
                               &additions);
    const double logit_diff = relDiff(logits.index_select(0, l_.get("logit_positions")), l_.get("logits"));
    std::cout << "[" << GetParam() << "] fast (bf16 vision): features relative diff " << feature_diff
              << ", DeepStack " << level_diff << ", prefill logits " << logit_diff << "\n";
    EXPECT_LT(feature_diff, 2e-2);
    EXPECT_LT(level_diff, 2e-2);
    EXPECT_LT(logit_diff, 5e-2);
    EXPECT_GT(feature_diff, 0.0);  // it did run in bfloat16
}

INSTANTIATE_TEST_SUITE_P(Tiny, Qwen3VLParity, ::testing::Values("untied", "tied"));

// The released layout (model.visual.*, model.language_model.*) and transformers 4's (visual.*,
// model.*) load to the same network.
TEST(Qwen3VLModel, LoadsBothTensorNameLayouts) {
    const auto dir = referenceDir("qwen3vl") / "untied";
    VQA_SKIP_UNLESS_EXISTS(dir / "reference.safetensors", kWhy);
    torch::NoGradGuard no_grad;
    auto checkpoint = vqa::Checkpoint::open((dir / "model").string());
    auto config = configOf(dir / "model");
    EXPECT_FALSE(config.text.tie_word_embeddings);
    EXPECT_TRUE(config.text.qk_norm);
    EXPECT_TRUE(config.text.mrope_interleaved);
    EXPECT_EQ(config.vision.deepstack_visual_indexes, (std::vector<int>{0, 1}));
    ASSERT_TRUE(checkpoint->contains("model.visual.patch_embed.proj.weight"));
    RenamedWeights v4(*checkpoint, {{"model.visual.", "visual."}, {"model.language_model.", "model."}});
    ASSERT_TRUE(v4.contains("visual.patch_embed.proj.weight"));
    Qwen3VLModel m(config, v4, torch::kCPU, torch::kFloat32);
    auto ref = vqa::SafetensorsFile::open((dir / "reference.safetensors").string());
    auto proc = processorReference();
    auto features = m.encodePatches(proc->tensor("tall_pixel_values").clone(), proc->tensor("tall_grid_thw").clone());
    EXPECT_LT(relDiff(features, ref->tensor("tall_features")), 1e-4);
    // Weights of another family are named as such.
    RenamedWeights other(*checkpoint, {{"model.visual.", "model.vision_tower."}});
    try {
        Qwen3VLModel bad(config, other, torch::kCPU, torch::kFloat32);
        FAIL() << "weights without a visual tower were accepted";
    } catch (const vqa::Error& e) {
        EXPECT_NE(std::string(e.what()).find("model.visual.patch_embed.proj.weight"), std::string::npos) << e.what();
    }
}

// Qwen3-VL-2B-Instruct's vision tower at full depth and its decoder cut to the three layers
// DeepStack feeds plus one: random bf16-stored weights, run in fp32 on both sides.
// make_qwen3vl_real.py writes it only when asked: VQA_QWEN_REAL=1 ctest -R qwen.
TEST(Qwen3VLRealShapes, VisionFeaturesAndPrefillLogitsMatchTheReference) {
    const auto dir = referenceDir("qwen3vl_real") / "real_shapes";
    if (!fs::exists(dir / "reference.safetensors"))
        GTEST_SKIP() << "the real-shapes Qwen3-VL case is opt-in (gigabytes, a minute or two): run ctest with "
                        "VQA_QWEN_REAL=1 so tests/reference/make_qwen3vl_real.py writes "
                     << dir.string();
    torch::NoGradGuard no_grad;
    const auto start = std::chrono::steady_clock::now();
    auto l = load(dir);
    auto& m = *l.model;
    EXPECT_EQ(m.config().vision.depth, 24);
    EXPECT_EQ(m.config().vision.hidden_size, 1024);
    EXPECT_EQ(m.config().vision.deepstack_visual_indexes, (std::vector<int>{5, 11, 17}));
    EXPECT_EQ(m.config().text.hidden_size, 2048);
    EXPECT_EQ(m.config().text.vocab_size, 151936);
    EXPECT_EQ(m.config().text.mrope_section, (std::vector<int>{24, 20, 20}));

    const auto grid = l.get("image_grid_thw");
    vqa::models::ImageFeatures f;
    f.tokens = m.encodePatches(l.get("pixel_values"), grid, &f.layers);
    const double feature_diff = relDiff(f.tokens, l.get("features"));
    const double deepstack_diff = relDiff(torch::stack(f.layers), l.get("deepstack"));
    auto ids = l.get("input_ids");
    const auto additions = vqa::promptAdditions(vqa::imageTokenPositions(toVector(ids), m.imageTokenId()), f.layers);
    auto cache = m.newCache(ids.size(0));
    auto logits = m.forward(vqa::embedPrompt(m, ids, f.tokens), cache, /*all_logits=*/true, nullptr,
                            positionsOf(m, ids, grid), &additions);
    const double logit_diff = relDiff(logits.index_select(0, l.get("logit_positions")), l.get("logits"));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "[real_shapes] " << m.parameterCount() / 1000000 << "M parameters, " << f.tokens.size(0)
              << " image tokens, features relative diff " << feature_diff << ", DeepStack " << deepstack_diff
              << ", prefill of " << ids.size(0) << " tokens, logits relative diff " << logit_diff << ", load + run "
              << seconds << " s\n";
    EXPECT_LT(feature_diff, 1e-3);
    EXPECT_LT(deepstack_diff, 1e-3);
    EXPECT_LT(logit_diff, 1e-3);

    // The "fast" precision at these shapes: the vision tower in bfloat16, the decoder float32.
    auto checkpoint = vqa::Checkpoint::open((dir / "model").string());
    Qwen3VLModel fast(m.config(), *checkpoint, torch::kCPU, torch::kFloat32, {}, torch::kBFloat16);
    vqa::models::ImageFeatures ff;
    ff.tokens = fast.encodePatches(l.get("pixel_values"), grid, &ff.layers);
    auto fast_cache = fast.newCache(ids.size(0));
    const auto fast_additions = vqa::promptAdditions(vqa::imageTokenPositions(toVector(ids), m.imageTokenId()), ff.layers);
    auto fast_logits = fast.forward(vqa::embedPrompt(fast, ids, ff.tokens), fast_cache, true, nullptr,
                                    positionsOf(fast, ids, grid), &fast_additions);
    const double fast_diff = relDiff(fast_logits.index_select(0, l.get("logit_positions")), l.get("logits"));
    std::cout << "[real_shapes] fast (bf16 vision): features relative diff " << relDiff(ff.tokens, l.get("features"))
              << ", logits relative diff " << fast_diff << "\n";
    EXPECT_LT(fast_diff, 5e-2);
}

}  // namespace
