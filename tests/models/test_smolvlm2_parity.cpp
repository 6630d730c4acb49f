// Parity of SmolVLM2 (transformers' SmolVLMForConditionalGeneration: the Idefics3 network) with
// the reference: tests/reference/make_smolvlm2.py records, per conversation (two images, three
// images, a video, a video long enough for the processor to skip its ends, and at the real
// SmolVLM2-256M-Video shapes), the processor's pixel values and ids and the model's prefill
// logits and greedy tokens; here the same checkpoint and inputs go through models/.
#include <gtest/gtest.h>

#include <iostream>

#include "engine/families/idefics3/Idefics3Config.h"
#include "engine/generation/PromptEmbedding.h"
#include "engine/io/Checkpoint.h"
#include "engine/io/ModelConfig.h"
#include "engine/io/SafetensorsFile.h"
#include "models/Idefics3Model.h"
#include "tests/common/ParityHelpers.h"
#include "tests/common/TestPaths.h"

namespace fs = std::filesystem;
using namespace vqa::test;

namespace {

// "<case>/<conversation>"
struct SmolVlm2Case {
    fs::path dir;
    std::string conversation;
};

SmolVlm2Case caseOf(const std::string& param) {
    const auto slash = param.find('/');
    return {referenceDir("smolvlm2") / param.substr(0, slash), param.substr(slash + 1)};
}

class SmolVlm2Parity : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        c_ = caseOf(GetParam());
        const fs::path ref = c_.dir / (c_.conversation + ".safetensors");
        VQA_SKIP_UNLESS_EXISTS(ref, "run tests/reference/make_smolvlm2.py (ctest runs it as reference.smolvlm2)");
        const auto model_dir = (c_.dir / "model").string();
        auto checkpoint = vqa::Checkpoint::open(model_dir);
        auto config = vqa::parseIdefics3Config(vqa::readModelConfig(model_dir), model_dir + "/config.json");
        model_ = std::make_unique<vqa::models::Idefics3Model>(config, *checkpoint, torch::kCPU, torch::kFloat32);
        ref_ = vqa::SafetensorsFile::open(ref.string());
    }
    torch::Tensor get(const std::string& name) const { return ref_->tensor(name).clone(); }
    bool has(const std::string& name) const { return ref_->contains(name); }
    // The prompt's embeddings with the features of the reference's pixel values (the frames of
    // a video are images to the network) at its image tokens, from `from` on.
    torch::Tensor embeddings(const torch::Tensor& ids, std::int64_t from = 0) {
        auto features = model_->encodeImages(get("pixel_values"), get("pixel_attention_mask"));
        return vqa::embedPrompt(*model_, ids, features, from);
    }
    SmolVlm2Case c_;
    std::unique_ptr<vqa::models::Idefics3Model> model_;
    std::shared_ptr<vqa::SafetensorsFile> ref_;
};

TEST_P(SmolVlm2Parity, PrefillLogits) {
    torch::NoGradGuard no_grad;
    auto ids = get("input_ids");
    auto cache = model_->newCache(ids.size(0));
    auto logits = model_->forward(embeddings(ids), cache, /*all_logits=*/true);
    const double diff = maxAbsDiff(logits.index_select(0, get("logit_positions")), get("logits"));
    std::cout << "[" << GetParam() << "] prefill logits max abs diff " << diff << "\n";
    EXPECT_LT(diff, 1e-4);
    EXPECT_GT(get("logits").abs().max().item<double>(), 0.1);  // not trivially zero
}

// The conversations the reference answered over two turns (the others record prefill logits).
class SmolVlm2Answers : public SmolVlm2Parity {};

TEST_P(SmolVlm2Answers, GreedyTokensOverTwoTurnsWithCache) {
    ASSERT_TRUE(has("generated"));
    torch::NoGradGuard no_grad;
    auto ids = get("input_ids");
    auto ids2 = get("input_ids_turn2");
    auto cache = model_->newCache(ids2.size(0) + 32);
    auto logits = model_->forward(embeddings(ids), cache, false);
    const auto expected = toVector(get("generated"));
    EXPECT_EQ(greedy(*model_, cache, logits, static_cast<std::int64_t>(expected.size())), expected);

    // Turn 2 keeps the prefix the two prompts share (the images and the first question).
    std::int64_t keep = 0;
    while (keep < ids.size(0) && ids[keep].item<std::int64_t>() == ids2[keep].item<std::int64_t>())
        ++keep;
    ASSERT_GT(keep, 0);
    cache.truncate(keep);
    logits = model_->forward(embeddings(ids2, keep), cache, false);
    const auto expected2 = toVector(get("generated_turn2"));
    EXPECT_EQ(greedy(*model_, cache, logits, static_cast<std::int64_t>(expected2.size())), expected2);
}

std::string caseName(const ::testing::TestParamInfo<std::string>& info) {
    std::string name = info.param;
    for (auto& ch : name)
        if (ch == '/')
            ch = '_';
    return name;
}

INSTANTIATE_TEST_SUITE_P(Cases, SmolVlm2Parity,
                         ::testing::Values("tiny/two_images", "tiny/three_images", "tiny/video", "tiny/video_long",
                                           "real_shapes/video", "real_shapes/two_images"),
                         caseName);
INSTANTIATE_TEST_SUITE_P(Cases, SmolVlm2Answers,
                         ::testing::Values("tiny/two_images", "tiny/three_images", "tiny/video"), caseName);

}  // namespace
