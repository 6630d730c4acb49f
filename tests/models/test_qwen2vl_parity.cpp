// Parity of the Qwen2-VL and Qwen2.5-VL networks with the reference implementation:
// tests/reference/make_qwen2vl.py builds random checkpoints (Qwen2-VL with an untied head;
// Qwen2.5-VL with window attention over several windows, a full-attention block, tied
// embeddings and sharded weights) and records what transformers computes on images of odd
// sizes.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <map>

#include "engine/families/qwen2vl/Qwen2VLConfig.h"
#include "engine/generation/PromptEmbedding.h"
#include "engine/io/Checkpoint.h"
#include "engine/io/ModelConfig.h"
#include "engine/io/SafetensorsFile.h"
#include "models/Interrupt.h"
#include "models/Qwen2VL.h"
#include "models/base/Error.h"
#include "tests/common/ParityHelpers.h"
#include "tests/common/RenamedWeights.h"
#include "tests/common/TestPaths.h"

namespace fs = std::filesystem;
using namespace vqa::test;
using vqa::models::Qwen2VLModel;

namespace {

const char* kWhy = "run tests/reference/make_qwen2vl.py (ctest runs it as reference.qwen2vl)";
const std::vector<std::string> kImages = {"wide", "tall", "tiny", "past_max"};

std::shared_ptr<vqa::SafetensorsFile> processorReference() {
    return vqa::SafetensorsFile::open(
        (referenceDir("qwen2vl") / "processor" / "processor.safetensors").string());
}

vqa::models::Qwen2VLConfig configOf(const fs::path& model_dir) {
    return vqa::parseQwen2VLConfig(vqa::readModelConfig(model_dir.string()),
                                   (model_dir / "config.json").string());
}

using Loaded = ReferenceCase<Qwen2VLModel>;

Loaded load(const fs::path& dir) {
    auto checkpoint = vqa::Checkpoint::open((dir / "model").string());
    Loaded l;
    l.model = std::make_unique<Qwen2VLModel>(configOf(dir / "model"), *checkpoint, torch::kCPU,
                                             torch::kFloat32);
    l.ref = vqa::SafetensorsFile::open((dir / "reference.safetensors").string());
    return l;
}

// The processor's frames of each image, cut into patches, are the reference's flat pixel values.
TEST(Qwen2VLPatches, FlattenPatchesIsTheProcessorsOrder) {
    const auto file = referenceDir("qwen2vl") / "processor" / "processor.safetensors";
    VQA_SKIP_UNLESS_EXISTS(file, kWhy);
    auto proc = processorReference();
    auto config = configOf(referenceDir("qwen2vl") / "qwen2_5_vl" / "model").vision;
    for (const auto& image : kImages) {
        auto patches = vqa::models::flattenPatches(proc->tensor(image + "_frames").clone(), config);
        EXPECT_TRUE(torch::equal(patches.grid_thw, proc->tensor(image + "_grid_thw").clone()))
            << image;
        EXPECT_EQ(maxAbsDiff(patches.flat, proc->tensor(image + "_pixel_values")), 0.0) << image;
    }
    // Two frames are one temporal patch; three are padded with the last to two.
    auto frames = torch::randn({3, 3, 28, 56});
    auto two = vqa::models::flattenPatches(frames.narrow(0, 0, 2), config);
    EXPECT_EQ(toVector(two.grid_thw), (std::vector<std::int64_t>{1, 2, 4}));
    auto three = vqa::models::flattenPatches(frames, config);
    EXPECT_EQ(toVector(three.grid_thw), (std::vector<std::int64_t>{2, 2, 4}));
    auto last = vqa::models::flattenPatches(
        torch::cat({frames.narrow(0, 2, 1), frames.narrow(0, 2, 1)}), config);
    EXPECT_TRUE(torch::equal(three.flat.narrow(0, 8, 8), last.flat));
    EXPECT_THROW(vqa::models::flattenPatches(torch::zeros({1, 3, 30, 28}), config), vqa::Error);
}

class Qwen2VLParity : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        const auto dir = referenceDir("qwen2vl") / GetParam();
        VQA_SKIP_UNLESS_EXISTS(dir / "reference.safetensors", kWhy);
        l_ = load(dir);
        proc_ = processorReference();
    }
    torch::Tensor pixels(const std::string& image) const {
        return proc_->tensor(image + "_pixel_values").clone();
    }
    torch::Tensor grid(const std::string& image) const {
        return proc_->tensor(image + "_grid_thw").clone();
    }
    Loaded l_;
    std::shared_ptr<vqa::SafetensorsFile> proc_;
};

TEST_P(Qwen2VLParity, VisionFeaturesOfEachImage) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    for (const auto& image : kImages) {
        auto features = m.encodePatches(pixels(image), grid(image));
        const double diff = relDiff(features, l_.get(image + "_features"));
        std::cout << "[" << GetParam() << "] " << image << " features relative diff " << diff
                  << "\n";
        EXPECT_LT(diff, 1e-4) << image;
        // encodeImages: the processor's frame, flattened here, gives the same features.
        auto framed = m.encodeImages(proc_->tensor(image + "_frames").clone(), {});
        ASSERT_EQ(framed.dim(), 3);
        EXPECT_LT(relDiff(framed.squeeze(0), l_.get(image + "_features")), 1e-4) << image;
    }
}

TEST_P(Qwen2VLParity, VisionFeaturesOfSeveralImagesAtOnce) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> flat;
    for (const auto& image : kImages)
        flat.push_back(pixels(image));
    auto features = l_.model->encodePatches(torch::cat(flat), l_.get("all_grid_thw"));
    EXPECT_LT(relDiff(features, l_.get("all_features")), 1e-4);
}

TEST_P(Qwen2VLParity, ImageEncodingStopsBetweenVisionBlocks) {
    struct Stop {};
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    int checks = 0;
    {
        vqa::models::InterruptScope scope([&] { ++checks; });
        m.encodePatches(pixels("wide"), grid("wide"));
    }
    ASSERT_GE(checks, 2);
    int seen = 0;
    vqa::models::InterruptScope scope([&] {
        if (++seen == 2)
            throw Stop{};
    });
    EXPECT_THROW(m.encodePatches(pixels("wide"), grid("wide")), Stop);
    EXPECT_EQ(seen, 2);
}

TEST_P(Qwen2VLParity, RopePositionsAreGetRopeIndex) {
    auto& m = *l_.model;
    auto positions = vqa::models::qwen2VLRopePositions(l_.get("input_ids"), m.config(),
                                                       l_.get("image_grid_thw"));
    EXPECT_TRUE(torch::equal(positions, l_.get("position_ids"))) << positions << "\n"
                                                                 << l_.get("position_ids");
    // A later turn's tokens start where the cache leaves off: the same positions, shifted.
    auto ids = l_.get("input_ids");
    auto shifted = vqa::models::qwen2VLRopePositions(ids, m.config(), l_.get("image_grid_thw"), 5);
    EXPECT_TRUE(torch::equal(shifted, positions + 5));
    // Grids that do not fit the prompt's image tokens are an error, not a guess.
    EXPECT_THROW(
        vqa::models::qwen2VLRopePositions(ids, m.config(), torch::zeros({0, 3}, torch::kInt64)),
        vqa::Error);
    auto wrong = l_.get("image_grid_thw");
    wrong.select(1, 2).mul_(2);
    EXPECT_THROW(vqa::models::qwen2VLRopePositions(ids, m.config(), wrong), vqa::Error);
}

// The decoder over a prompt without images, where the three rotary axes agree: q/k/v biases,
// grouped-query attention and the (tied or untied) head.
TEST_P(Qwen2VLParity, TextPrefillLogits) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto ids = l_.get("text_ids");
    auto cache = m.newCache(ids.size(0));
    auto logits = m.forward(m.embedTokens(ids), cache, /*all_logits=*/true);
    const double diff = relDiff(logits, l_.get("text_logits"));
    std::cout << "[" << GetParam() << "] text logits relative diff " << diff << "\n";
    EXPECT_LT(diff, 1e-4);
}

// The prompt's embeddings and rotary positions: the images' features over their tokens, the
// tokens on their grids.
torch::Tensor imageFeatures(Qwen2VLModel& m, const std::shared_ptr<vqa::SafetensorsFile>& proc,
                            const torch::Tensor& grids) {
    std::vector<torch::Tensor> flat;
    const auto g = grids.contiguous();
    for (std::int64_t i = 0; i < g.size(0); ++i)
        for (const auto& image : kImages)
            if (torch::equal(proc->tensor(image + "_grid_thw").clone().view({3}), g[i])) {
                flat.push_back(proc->tensor(image + "_pixel_values").clone());
                break;
            }
    return m.encodePatches(torch::cat(flat), grids);
}

TEST_P(Qwen2VLParity, PrefillLogits) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto ids = l_.get("input_ids");
    auto embeds = vqa::embedPrompt(m, ids, imageFeatures(m, proc_, l_.get("image_grid_thw")));
    auto positions = vqa::models::qwen2VLRopePositions(ids, m.config(), l_.get("image_grid_thw"));
    auto cache = m.newCache(ids.size(0) + 8);
    auto logits = m.forward(embeds, cache, /*all_logits=*/true, nullptr, positions);
    const double diff = relDiff(logits.index_select(0, l_.get("logit_positions")), l_.get("logits"));
    std::cout << "[" << GetParam() << "] prefill logits relative diff " << diff << "\n";
    EXPECT_LT(diff, 1e-4);
}

TEST_P(Qwen2VLParity, AttentionRowsOverImage) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto ids = l_.get("input_ids");
    auto embeds = vqa::embedPrompt(m, ids, imageFeatures(m, proc_, l_.get("image_grid_thw")));
    auto positions = vqa::models::qwen2VLRopePositions(ids, m.config(), l_.get("image_grid_thw"));
    vqa::models::AttentionCapture capture;
    capture.positions = l_.get("image_positions");
    auto cache = m.newCache(ids.size(0));
    m.forward(embeds, cache, false, &capture, positions);
    ASSERT_EQ(capture.rows.size(), static_cast<std::size_t>(m.config().text.num_hidden_layers));
    EXPECT_LT(maxAbsDiff(torch::stack(capture.rows), l_.get("attention_last")), 1e-5);
}

TEST_P(Qwen2VLParity, GreedyTokensOverTwoTurnsWithCache) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto ids = l_.get("input_ids");
    auto grids = l_.get("image_grid_thw");
    auto embeds = vqa::embedPrompt(m, ids, imageFeatures(m, proc_, grids));
    auto positions = vqa::models::qwen2VLRopePositions(ids, m.config(), grids);
    auto expected = toVector(l_.get("generated"));
    auto cache = m.newCache(256);
    auto logits = m.forward(embeds, cache, false, nullptr, positions);
    auto tokens = greedy(m, cache, logits, static_cast<std::int64_t>(expected.size()));
    EXPECT_EQ(tokens, expected);

    // Turn 2 continues the cache: turn 1's prompt and answer are cached but the answer's last
    // token; the rest of turn 2's prompt is text, placed after the cache's positions.
    auto ids2 = l_.get("input_ids_turn2");
    const std::int64_t keep = ids.size(0) + static_cast<std::int64_t>(tokens.size()) - 1;
    ASSERT_EQ(cache.length, keep);
    auto rest = ids2.narrow(0, keep, ids2.size(0) - keep);
    ASSERT_EQ(rest.eq(m.imageTokenId()).sum().item<std::int64_t>(), 0);
    logits = m.forward(m.embedTokens(rest), cache, false);
    EXPECT_EQ(greedy(m, cache, logits, 12), toVector(l_.get("generated_turn2")));
    // The whole of turn 2 from an empty cache agrees.
    auto full_positions = vqa::models::qwen2VLRopePositions(ids2, m.config(), grids);
    auto cache2 = m.newCache(256);
    logits = m.forward(vqa::embedPrompt(m, ids2, imageFeatures(m, proc_, grids)), cache2, false, nullptr, full_positions);
    EXPECT_EQ(greedy(m, cache2, logits, 12), toVector(l_.get("generated_turn2")));
}

INSTANTIATE_TEST_SUITE_P(Tiny, Qwen2VLParity, ::testing::Values("qwen2_vl", "qwen2_5_vl"));

// transformers 4's names (visual.*, model.*: what both saved checkpoints use) and transformers
// 5's (model.visual.*, model.language_model.*) load to the same network, sharded or not, with a
// tied or an untied head.
TEST(Qwen2VLModel, LoadsBothTensorNameLayouts) {
    for (const std::string name : {"qwen2_vl", "qwen2_5_vl"}) {
        const auto dir = referenceDir("qwen2vl") / name;
        VQA_SKIP_UNLESS_EXISTS(dir / "reference.safetensors", kWhy);
        torch::NoGradGuard no_grad;
        auto checkpoint = vqa::Checkpoint::open((dir / "model").string());
        auto config = configOf(dir / "model");
        auto ref = vqa::SafetensorsFile::open((dir / "reference.safetensors").string());
        auto proc = processorReference();
        EXPECT_EQ(config.text.tie_word_embeddings, name == "qwen2_5_vl");
        RenamedWeights v5(*checkpoint,
                          {{"visual.", "model.visual."}, {"model.", "model.language_model."}});
        ASSERT_TRUE(v5.contains("model.visual.patch_embed.proj.weight"));
        ASSERT_FALSE(v5.contains("visual.patch_embed.proj.weight"));
        Qwen2VLModel m(config, v5, torch::kCPU, torch::kFloat32);
        auto features = m.encodePatches(proc->tensor("tall_pixel_values").clone(),
                                        proc->tensor("tall_grid_thw").clone());
        EXPECT_LT(relDiff(features, ref->tensor("tall_features")), 1e-4) << name;
        auto ids = ref->tensor("text_ids").clone();
        auto cache = m.newCache(ids.size(0));
        EXPECT_LT(relDiff(m.forward(m.embedTokens(ids), cache, true), ref->tensor("text_logits")),
                  1e-4)
            << name;
        // The untied head is the checkpoint's lm_head, not the embedding.
        if (!config.text.tie_word_embeddings) {
            EXPECT_FALSE(torch::equal(checkpoint->get("lm_head.weight"),
                                      checkpoint->get("model.embed_tokens.weight")));
        }
    }
    // Weights of another family are named as such.
    const auto dir = referenceDir("qwen2vl") / "qwen2_vl";
    auto checkpoint = vqa::Checkpoint::open((dir / "model").string());
    RenamedWeights other(*checkpoint, {{"visual.", "vision_tower."}});
    try {
        Qwen2VLModel m(configOf(dir / "model"), other, torch::kCPU, torch::kFloat32);
        FAIL() << "weights without a visual tower were accepted";
    } catch (const vqa::Error& e) {
        EXPECT_NE(std::string(e.what()).find("visual.patch_embed.proj.weight"), std::string::npos)
            << e.what();
    }
}

} // namespace

namespace {

// Qwen2.5-VL-3B-Instruct's vision tower at full depth and its decoder cut to 2 layers: random
// bf16-stored weights, run in fp32 on both sides. make_qwen2vl_real.py writes it only when
// asked (about 2.3 GB and a minute): VQA_QWEN_REAL=1 ctest -R qwen (scripts/test sets it).
TEST(Qwen25VLRealShapes, VisionFeaturesAndPrefillLogitsMatchTheReference) {
    const auto dir = referenceDir("qwen2vl_real") / "real_shapes";
    if (!fs::exists(dir / "reference.safetensors"))
        GTEST_SKIP() << "the real-shapes Qwen2.5-VL case is opt-in (about 2.3 GB, a minute): run ctest with "
                        "VQA_QWEN_REAL=1 so tests/reference/make_qwen2vl_real.py writes "
                     << dir.string();
    torch::NoGradGuard no_grad;
    const auto start = std::chrono::steady_clock::now();
    auto l = load(dir);
    auto& m = *l.model;
    EXPECT_EQ(m.config().vision.depth, 32);
    EXPECT_EQ(m.config().vision.hidden_size, 1280);
    EXPECT_EQ(m.config().vision.fullatt_block_indexes, (std::vector<int>{7, 15, 23, 31}));
    EXPECT_EQ(m.config().text.hidden_size, 2048);
    EXPECT_EQ(m.config().text.vocab_size, 151936);
    EXPECT_EQ(m.config().text.mrope_section, (std::vector<int>{16, 24, 24}));

    const auto grid = l.get("image_grid_thw");
    const auto features = m.encodePatches(l.get("pixel_values"), grid);
    const double feature_diff = relDiff(features, l.get("features"));
    auto ids = l.get("input_ids");
    auto positions = vqa::models::qwen2VLRopePositions(ids, m.config(), grid);
    auto cache = m.newCache(ids.size(0));
    auto logits = m.forward(vqa::embedPrompt(m, ids, features), cache, /*all_logits=*/true, nullptr, positions);
    const double logit_diff = relDiff(logits.index_select(0, l.get("logit_positions")), l.get("logits"));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "[real_shapes] " << m.parameterCount() / 1000000 << "M parameters, " << features.size(0)
              << " image tokens, features relative diff " << feature_diff << ", prefill of " << ids.size(0)
              << " tokens, logits relative diff " << logit_diff << ", load + run " << seconds << " s\n";
    EXPECT_LT(feature_diff, 1e-3);
    EXPECT_LT(logit_diff, 1e-3);
}

}  // namespace
