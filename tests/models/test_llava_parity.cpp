// Parity of the LLaVA-1.5 networks (CLIP vision tower, projector, Llama decoder) with the
// reference implementation: tests/reference/make_llava.py builds random
// LlavaForConditionalGeneration checkpoints and records what transformers computes on them;
// make_llava_real.py does the same at the real LLaVA-1.5-7B vision and projector shapes with
// a 2-layer Vicuna-7B-shaped decoder.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <iostream>

#include "models/base/Error.h"
#include "engine/io/Checkpoint.h"
#include "engine/families/llava/LlavaConfig.h"
#include "engine/generation/PromptEmbedding.h"
#include "engine/io/ModelConfig.h"
#include "engine/io/SafetensorsFile.h"
#include "models/Interrupt.h"
#include "models/Llava.h"
#include "tests/common/ParityHelpers.h"
#include "tests/common/RenamedWeights.h"
#include "tests/common/TestPaths.h"
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using vqa::models::AttentionCapture;
using vqa::models::KvCache;
using namespace vqa::test;
using vqa::models::LlavaModel;

namespace {

using Loaded = ReferenceCase<LlavaModel>;

Loaded load(const fs::path& dir) {
    const auto model_dir = (dir / "model").string();
    auto checkpoint = vqa::Checkpoint::open(model_dir);
    auto config = vqa::parseLlavaConfig(vqa::readModelConfig(model_dir), model_dir + "/config.json");
    Loaded l;
    l.model = std::make_unique<LlavaModel>(config, *checkpoint, torch::kCPU, torch::kFloat32);
    l.ref = vqa::SafetensorsFile::open((dir / "reference.safetensors").string());
    return l;
}

torch::Tensor promptEmbeddings(LlavaModel& m, const Loaded& l, const torch::Tensor& ids) {
    auto features = m.encodeImages(l.get("pixel_values"), {});
    return vqa::embedPrompt(m, ids, features);
}

class LlavaParity : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        const auto dir = vqa::test::referenceDir("llava") / GetParam();
        VQA_SKIP_UNLESS_EXISTS(dir / "reference.safetensors",
                               "run tests/reference/make_llava.py (ctest runs it as reference.llava)");
        l_ = load(dir);
    }
    Loaded l_;
};

TEST_P(LlavaParity, ImageFeatures) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto features = m.encodeImages(l_.get("pixel_values"), {});
    ASSERT_EQ(features.dim(), 3);
    EXPECT_EQ(features.size(1), m.tokensPerImage());
    auto diff = maxAbsDiff(features.reshape({-1, features.size(-1)}), l_.get("image_features"));
    std::cout << "[" << GetParam() << "] image features max abs diff " << diff << "\n";
    EXPECT_LT(diff, 1e-4);
}

// Attention rollout through the CLIP tower's layers the features come from: numpy's over the
// reference's output_attentions (the class token first).
TEST_P(LlavaParity, VisionRolloutIsTheReferencesOverItsAttentions) {
    torch::NoGradGuard no_grad;
    const auto rollout = l_.model->visionRollout(l_.get("pixel_values"), {});
    const auto want = l_.get("vision_rollout");
    ASSERT_EQ(rollout.sizes(), want.sizes());
    EXPECT_LT(maxAbsDiff(rollout, want), 1e-5);
}

TEST_P(LlavaParity, ImageEncodingStopsBetweenVisionLayers) {
    // The engine stops an encoding nobody waits for any more (a cancel, a newer image) through
    // the check the vision tower makes between its layers: the CLIP tower makes it too.
    struct Stop {};
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    int checks = 0;
    {
        vqa::models::InterruptScope scope([&] { ++checks; });
        m.encodeImages(l_.get("pixel_values"), {});
    }
    ASSERT_GE(checks, 2) << "the vision tower has at least two layers to stop between";
    int seen = 0;
    vqa::models::InterruptScope scope([&] {
        if (++seen == 2)
            throw Stop{};
    });
    EXPECT_THROW(m.encodeImages(l_.get("pixel_values"), {}), Stop);
    EXPECT_EQ(seen, 2); // nothing ran on after the check that stopped it
}

TEST_P(LlavaParity, PrefillLogits) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto ids = l_.get("input_ids");
    auto cache = m.newCache(ids.size(0) + 8);
    auto logits = m.forward(promptEmbeddings(m, l_, ids), cache, /*all_logits=*/true);
    auto diff = maxAbsDiff(logits.index_select(0, l_.get("logit_positions")), l_.get("logits"));
    std::cout << "[" << GetParam() << "] prefill logits max abs diff " << diff << "\n";
    EXPECT_LT(diff, 1e-4);
    EXPECT_GT(l_.get("logits").abs().max().item<double>(), 0.1);
}

TEST_P(LlavaParity, AttentionRowsOverImage) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto ids = l_.get("input_ids");
    AttentionCapture capture;
    capture.positions = l_.get("image_positions");
    auto cache = m.newCache(ids.size(0));
    m.forward(promptEmbeddings(m, l_, ids), cache, false, &capture);
    ASSERT_EQ(capture.rows.size(), static_cast<std::size_t>(m.config().text.num_hidden_layers));
    auto diff = maxAbsDiff(torch::stack(capture.rows), l_.get("attention_last"));
    std::cout << "[" << GetParam() << "] attention rows max abs diff " << diff << "\n";
    EXPECT_LT(diff, 1e-5);
}

TEST_P(LlavaParity, GreedyTokensOverTwoTurnsWithCache) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto ids = l_.get("input_ids");
    auto expected = toVector(l_.get("generated"));
    auto cache = m.newCache(512);
    auto logits = m.forward(promptEmbeddings(m, l_, ids), cache, false);
    auto tokens = greedy(m, cache, logits, static_cast<std::int64_t>(expected.size()));
    EXPECT_EQ(tokens, expected);

    // Turn 2 continues from the cached prefix it shares with turn 1 (images included).
    auto held = toVector(ids);
    held.insert(held.end(), tokens.begin(), tokens.end() - 1);
    auto ids2 = l_.get("input_ids_turn2");
    auto ids2v = toVector(ids2);
    std::int64_t keep = 0;
    while (keep < static_cast<std::int64_t>(std::min(held.size(), ids2v.size())) && held[keep] == ids2v[keep])
        ++keep;
    ASSERT_GT(keep, ids.size(0) / 2);
    cache.truncate(keep);
    auto rest = ids2.narrow(0, keep, ids2.size(0) - keep);
    ASSERT_EQ(rest.eq(m.imageTokenId()).sum().item<std::int64_t>(), 0);
    logits = m.forward(m.embedTokens(rest), cache, false);
    EXPECT_EQ(greedy(m, cache, logits, 20), toVector(l_.get("generated_turn2")));
}

INSTANTIATE_TEST_SUITE_P(Tiny, LlavaParity, ::testing::Values("tiny", "tiny_pad"));

TEST(LlavaModel, RejectsAFeatureLayerOutsideTheTower) {
    const auto dir = vqa::test::referenceDir("llava") / "tiny" / "model";
    VQA_SKIP_UNLESS_EXISTS(dir, "run tests/reference/make_llava.py (ctest runs it as reference.llava)");
    auto checkpoint = vqa::Checkpoint::open(dir.string());
    auto config = vqa::parseLlavaConfig(vqa::readModelConfig(dir.string()), "config.json");
    config.feature_layers = {-7};  // 3 layers: hidden states -4 .. 3
    try {
        LlavaModel m(config, *checkpoint, torch::kCPU, torch::kFloat32);
        FAIL() << "a feature layer outside the tower was accepted";
    } catch (const vqa::Error& e) {
        EXPECT_NE(std::string(e.what()).find("vision_feature_layer -7"), std::string::npos) << e.what();
    }
}

// llava-hf's checkpoints (saved by transformers 4: vision_tower.vision_model.*) and
// transformers 5's in-memory names (model.*, lm_head) load to the same network.
TEST(LlavaModel, LoadsEveryTensorNameLayout) {
    const auto dir = vqa::test::referenceDir("llava") / "tiny";
    VQA_SKIP_UNLESS_EXISTS(dir / "reference.safetensors", "run tests/reference/make_llava.py (ctest runs it as reference.llava)");
    torch::NoGradGuard no_grad;
    auto checkpoint = vqa::Checkpoint::open((dir / "model").string());
    auto config = vqa::parseLlavaConfig(vqa::readModelConfig((dir / "model").string()), "config.json");
    auto ref = vqa::SafetensorsFile::open((dir / "reference.safetensors").string());
    const auto ids = ref->tensor("input_ids").clone();
    const std::vector<std::vector<std::pair<std::string, std::string>>> layouts = {
        {{"vision_tower.", "vision_tower.vision_model."}},
        {{"vision_tower.", "model.vision_tower."},
         {"multi_modal_projector.", "model.multi_modal_projector."},
         {"language_model.model.", "model.language_model."},
         {"language_model.lm_head.", "lm_head."}},
        {{"vision_tower.", "model.vision_tower.vision_model."},
         {"multi_modal_projector.", "model.multi_modal_projector."},
         {"language_model.model.", "model.language_model."},
         {"language_model.lm_head.", "lm_head."}},
    };
    for (std::size_t i = 0; i < layouts.size(); ++i) {
        RenamedWeights renamed(*checkpoint, layouts[i]);
        ASSERT_FALSE(renamed.contains("language_model.model.embed_tokens.weight") &&
                     renamed.contains("vision_tower.embeddings.class_embedding"))
            << "layout " << i << " renamed nothing";
        LlavaModel m(config, renamed, torch::kCPU, torch::kFloat32);
        auto features = m.encodeImages(ref->tensor("pixel_values").clone(), {});
        auto embeds = vqa::embedPrompt(m, ids, features);
        auto cache = m.newCache(ids.size(0));
        auto logits = m.forward(embeds, cache, /*all_logits=*/true);
        EXPECT_LT(maxAbsDiff(logits.index_select(0, ref->tensor("logit_positions").clone()), ref->tensor("logits")), 1e-4)
            << "layout " << i;
    }
    // A checkpoint of another family is named as such.
    RenamedWeights other(*checkpoint, {{"multi_modal_projector.", "connector."}});
    try {
        LlavaModel m(config, other, torch::kCPU, torch::kFloat32);
        FAIL() << "weights without a projector were accepted";
    } catch (const vqa::Error& e) {
        EXPECT_NE(std::string(e.what()).find("multi_modal_projector.linear_1.weight"), std::string::npos) << e.what();
    }
}

// The real LLaVA-1.5-7B vision tower (CLIP ViT-L/14-336) and projector, with a 2-layer
// decoder of the Vicuna-7B shape (hidden 4096, vocab 32064): random bf16-stored weights,
// run in fp32 on both sides. make_llava_real.py writes it only when asked (about 2 GB and
// a few minutes): VQA_LLAVA_REAL=1 ctest -R llava.
TEST(LlavaRealShapes, PrefillLogitsMatchTheReference) {
    const auto dir = vqa::test::referenceDir("llava_real") / "real_shapes";
    if (!fs::exists(dir / "reference.safetensors"))
        GTEST_SKIP() << "the real-shapes LLaVA case is opt-in (about 2 GB, minutes): run ctest with "
                        "VQA_LLAVA_REAL=1 so tests/reference/make_llava_real.py writes "
                     << dir.string();
    torch::NoGradGuard no_grad;
    const auto start = std::chrono::steady_clock::now();
    auto l = load(dir);
    auto& m = *l.model;
    EXPECT_EQ(m.config().vision.hidden_size, 1024);
    EXPECT_EQ(m.config().vision.num_hidden_layers, 24);
    EXPECT_EQ(m.config().text.hidden_size, 4096);
    EXPECT_EQ(m.config().text.vocab_size, 32064);
    EXPECT_EQ(m.tokensPerImage(), 576);
    auto ids = l.get("input_ids");
    auto cache = m.newCache(ids.size(0));
    auto logits = m.forward(promptEmbeddings(m, l, ids), cache, true);
    auto diff = maxAbsDiff(logits.index_select(0, l.get("logit_positions")), l.get("logits"));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "[real_shapes] " << m.parameterCount() / 1000000 << "M parameters, prefill of " << ids.size(0)
              << " tokens, logits max abs diff " << diff << ", load + run " << seconds << " s\n";
    EXPECT_LT(diff, 1e-3);
}

}  // namespace
