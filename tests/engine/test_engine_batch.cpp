// Several answers decoded together (Engine::generateBatch) on the tiny SmolVLM checkpoint:
// the same tokens as each request answered alone, whatever their images, prompts and
// lengths; each result reported once as it ends; a failing request fails alone; a cancel
// stops the answers still going; running out of memory is a message; the conversation's
// cached prefix survives a batch.
#include <atomic>
#include <filesystem>
#include <map>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "engine/Engine.h"
#include "engine/EngineTesting.h"
#include "tests/common/Requests.h"
#include "tests/common/TestPaths.h"

namespace fs = std::filesystem;
using namespace vqa;

namespace {

fs::path tinyCase() { return test::referenceDir("idefics3") / "tiny_untied"; }

Request ask(int image, const std::string& question, int max_new_tokens) {
    const auto path = tinyCase() / ("image" + std::to_string(image) + ".png");
    return test::imageQuestion(path, path.string(), question, max_new_tokens);
}

struct HookGuard {
    explicit HookGuard(testhooks::StageHook hook) { testhooks::setStageHook(std::move(hook)); }
    ~HookGuard() { testhooks::setStageHook({}); }
};

class EngineBatch : public ::testing::Test {
  protected:
    void SetUp() override {
        VQA_SKIP_UNLESS_EXISTS(tinyCase() / "model", "run tests/reference/make_idefics3.py (ctest: reference.idefics3)");
        LoadOptions options;
        options.device = DevicePreference::Cpu;
        options.dtype = "float32";
        engine_.load((tinyCase() / "model").string(), options);
    }

    // Four requests: both images, different prompts and lengths, one continuing a given
    // start and one avoiding words.
    std::vector<Request> requests() {
        std::vector<Request> r{ask(0, "Describe the image.", 6), ask(1, "What is this?", 9),
                               ask(0, "Tags:", 3), ask(1, "Write a caption.", 7)};
        r[2].generation.answer_start = "A photo of";
        r[3].generation.banned_words = {"the", "a"};
        r[3].generation.ignore_eos = false;
        return r;
    }

    Engine engine_;
};

}  // namespace

TEST_F(EngineBatch, AnswersTogetherAsEachAlone) {
    const auto batch = requests();
    std::vector<GenerationResult> alone;
    for (const auto& r : batch)
        alone.push_back(engine_.generate(r));
    std::map<std::size_t, int> reported;
    const auto together = engine_.generateBatch(batch, [&](std::size_t i, const GenerationResult& result) {
        ++reported[i];
        EXPECT_NE(result.stop, StopReason::Error) << result.error;
    });
    ASSERT_EQ(together.size(), batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(reported[i], 1) << "each result reported once";
        EXPECT_EQ(together[i].stop, alone[i].stop);
        EXPECT_EQ(together[i].token_ids, alone[i].token_ids);
        EXPECT_EQ(together[i].text, alone[i].text);
        EXPECT_GT(together[i].timings.prompt_tokens, 0);
        EXPECT_EQ(together[i].timings.new_tokens, static_cast<int>(together[i].token_ids.size()));
    }
    EXPECT_EQ(together[0].token_ids.size(), 6u);
    EXPECT_EQ(together[2].token_ids.size(), 3u);
}

TEST_F(EngineBatch, AFailingRequestFailsAlone) {
    auto batch = requests();
    auto damaged = std::make_shared<RgbImage>(*batch[1].images[0]);
    damaged->pixels.resize(damaged->pixels.size() / 2);
    batch[1].images[0] = damaged;
    batch[1].image_keys[0] = "damaged";
    batch[3].images.clear();  // the conversation names an image it was not given
    batch[3].image_keys.clear();
    const auto together = engine_.generateBatch(batch);
    EXPECT_EQ(together[1].stop, StopReason::Error);
    EXPECT_NE(together[1].error.find("damaged"), std::string::npos) << together[1].error;
    EXPECT_EQ(together[3].stop, StopReason::Error);
    EXPECT_NE(together[3].error.find("image"), std::string::npos) << together[3].error;
    EXPECT_EQ(together[0].token_ids, engine_.generate(batch[0]).token_ids);
    EXPECT_EQ(together[2].token_ids, engine_.generate(batch[2]).token_ids);
}

TEST_F(EngineBatch, ACancelStopsTheAnswersStillGoing) {
    auto batch = requests();
    batch[2].generation.max_new_tokens = 1;  // ends at the first step, before the others
    std::atomic<bool> cancel{false};
    std::vector<std::size_t> order;
    const auto together = engine_.generateBatch(
        batch,
        [&](std::size_t i, const GenerationResult&) {
            order.push_back(i);
            cancel = true;
        },
        &cancel);
    ASSERT_EQ(order.size(), 4u);
    EXPECT_EQ(order.front(), 2u);
    EXPECT_EQ(together[2].stop, StopReason::MaxTokens);
    EXPECT_EQ(together[2].token_ids.size(), 1u);
    for (std::size_t i : {0u, 1u, 3u})
        EXPECT_EQ(together[i].stop, StopReason::Cancelled) << i;

    // Cancelled before it starts: nothing is answered.
    const auto none = engine_.generateBatch(batch, {}, &cancel);
    for (const auto& r : none) {
        EXPECT_EQ(r.stop, StopReason::Cancelled);
        EXPECT_TRUE(r.token_ids.empty());
    }
}

TEST_F(EngineBatch, OutOfMemoryWhileDecodingIsAMessageForEachAnswer) {
    const auto batch = requests();
    {
        HookGuard hook([](std::string_view stage) {
            if (stage == "decode")
                TORCH_CHECK_WITH(OutOfMemoryError, false, "CPU out of memory. Tried to allocate 20.00 GiB");
        });
        for (const auto& r : engine_.generateBatch(batch)) {
            EXPECT_EQ(r.stop, StopReason::Error);
            EXPECT_NE(r.error.find("out of CPU memory"), std::string::npos) << r.error;
        }
    }
    // And the model answers as before.
    EXPECT_EQ(engine_.generateBatch(batch)[1].token_ids, engine_.generate(batch[1]).token_ids);
}

TEST_F(EngineBatch, TheConversationsCachedPrefixSurvivesABatch) {
    Request chat = ask(0, "What is in the picture?", 4);
    const auto first = engine_.generate(chat);
    ASSERT_NE(first.stop, StopReason::Error) << first.error;
    engine_.generateBatch(requests());
    chat.conversation.push_back(Turn{Role::Assistant, {{ContentPart::Kind::Text, first.text}}});
    chat.conversation.push_back(Turn{Role::User, {{ContentPart::Kind::Text, "And its colour?"}}});
    const auto follow_up = engine_.generate(chat);
    ASSERT_NE(follow_up.stop, StopReason::Error) << follow_up.error;
    EXPECT_GT(follow_up.timings.cached_tokens, 0) << "the image's prefix is read again";
}

TEST(EngineBatchWithoutModel, EveryRequestSaysSo) {
    Engine engine;
    Request r;
    r.conversation.push_back(Turn{Role::User, {{ContentPart::Kind::Text, "hello"}}});
    int reported = 0;
    const auto results = engine.generateBatch({r, r}, [&](std::size_t, const GenerationResult&) { ++reported; });
    EXPECT_EQ(reported, 2);
    for (const auto& result : results) {
        EXPECT_EQ(result.stop, StopReason::Error);
        EXPECT_NE(result.error.find("no model"), std::string::npos) << result.error;
    }
}
