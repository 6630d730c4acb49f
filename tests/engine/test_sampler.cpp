#include <gtest/gtest.h>

#include <algorithm>

#include "engine/generation/BannedWords.h"
#include "engine/generation/Sampler.h"
#include "engine/text/Tokenizer.h"
#include "tests/common/TestPaths.h"

using vqa::GenerationParams;
using vqa::Sampler;

TEST(Sampler, GreedyTakesTheArgmax) {
    Sampler s(GenerationParams{});
    auto logits = torch::tensor({0.1f, 2.0f, -1.0f, 1.5f});
    EXPECT_EQ(s.next(logits, {}), 1);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
    GenerationParams p;
    p.repetition_penalty = 2.0f;
    Sampler s(p);
    auto logits = torch::tensor({4.0f, -1.0f, 3.0f});
    auto out = s.process(logits, {0, 1, 1});
    EXPECT_FLOAT_EQ(out[0].item<float>(), 2.0f);
    EXPECT_FLOAT_EQ(out[1].item<float>(), -2.0f);
    EXPECT_FLOAT_EQ(out[2].item<float>(), 3.0f);
    EXPECT_EQ(s.next(logits, {0}), 2);  // the repeated best token loses to the next one
}

TEST(Sampler, TopKOneIsGreedyWhateverTheSeed) {
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        GenerationParams p;
        p.temperature = 1.5f;
        p.top_k = 1;
        p.seed = seed;
        Sampler s(p);
        EXPECT_EQ(s.next(torch::tensor({0.0f, 0.5f, 0.4f}), {}), 1);
    }
}

TEST(Sampler, TopPKeepsTheSmallestSetAboveTheMass) {
    GenerationParams p;
    p.temperature = 1.0f;
    p.top_p = 0.7f;
    Sampler s(p);
    // Probabilities 0.5, 0.3, 0.2 (as log-probabilities): top-p 0.7 keeps the first two.
    auto logits = torch::tensor({0.5f, 0.3f, 0.2f}).log();
    auto out = s.process(logits, {});
    EXPECT_TRUE(std::isfinite(out[0].item<float>()));
    EXPECT_TRUE(std::isfinite(out[1].item<float>()));
    EXPECT_TRUE(std::isinf(out[2].item<float>()));
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDiffers) {
    auto logits = torch::zeros({1000});
    auto draw = [&](std::uint64_t seed) {
        GenerationParams p;
        p.temperature = 1.0f;
        p.seed = seed;
        Sampler s(p);
        std::vector<std::int64_t> out;
        for (int i = 0; i < 8; ++i)
            out.push_back(s.next(logits, {}));
        return out;
    };
    EXPECT_EQ(draw(7), draw(7));
    EXPECT_NE(draw(7), draw(8));
}

// --- words the answer must not contain ------------------------------------------------------

namespace {

std::vector<std::int64_t> ids(const vqa::Tokenizer& tok, const std::string& text) {
    std::vector<std::int64_t> out;
    for (auto id : tok.encode(text, false))
        out.push_back(id);
    return out;
}

}  // namespace

TEST(BannedWords, BlocksTheTokenThatWouldCompleteAWordInItsUsualSpellings) {
    const auto fixture = vqa::test::smolvlmFixture();
    VQA_SKIP_UNLESS_EXISTS(fixture, "the SmolVLM tokenizer fixture");
    auto tok = vqa::loadTokenizer(fixture.string());
    const vqa::BannedWords banned(*tok, {"  umbrella ", "", "Hot dog"});
    EXPECT_FALSE(banned.empty());
    // Each spelling's sequence is there: as written, capitalized, lower-case, after a space.
    for (const std::string text : {"umbrella", " umbrella", "Umbrella", " Umbrella", "hot dog", " Hot dog"}) {
        const auto seq = ids(*tok, text);
        EXPECT_NE(std::find(banned.sequences().begin(), banned.sequences().end(), seq), banned.sequences().end())
            << text;
        // After all but its last token, the last one is banned; elsewhere it need not be.
        std::vector<std::int64_t> history = ids(*tok, "I see a");
        history.insert(history.end(), seq.begin(), seq.end() - 1);
        const auto next = banned.bannedNext(history);
        EXPECT_NE(std::find(next.begin(), next.end(), seq.back()), next.end()) << text;
    }
    const auto dog = ids(*tok, " dog");
    const auto after_cat = banned.bannedNext(ids(*tok, "a cat and a"));
    EXPECT_EQ(std::find(after_cat.begin(), after_cat.end(), dog.back()), after_cat.end())
        << "\"dog\" alone is not banned, only after \"hot\"";
    EXPECT_TRUE(vqa::BannedWords(*tok, {" ", ""}).empty());
}

TEST(BannedWords, TheSamplerNeverPicksABannedToken) {
    const auto fixture = vqa::test::smolvlmFixture();
    VQA_SKIP_UNLESS_EXISTS(fixture, "the SmolVLM tokenizer fixture");
    auto tok = vqa::loadTokenizer(fixture.string());
    vqa::BannedWords banned(*tok, {"umbrella"});
    const auto seq = ids(*tok, " umbrella");
    std::vector<std::int64_t> history(seq.begin(), seq.end() - 1);
    auto logits = torch::zeros({static_cast<std::int64_t>(tok->vocabSize())});
    logits[seq.back()] = 10.0f;  // by far the best
    GenerationParams greedy;
    Sampler plain(greedy);
    EXPECT_EQ(plain.next(logits, history), seq.back());
    Sampler constrained(greedy, banned);
    EXPECT_NE(constrained.next(logits, history), seq.back());
    EXPECT_TRUE(std::isinf(constrained.process(logits, history)[seq.back()].item<float>()));
    GenerationParams sampling;
    sampling.temperature = 1.0f;
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        sampling.seed = seed;
        Sampler s(sampling, banned);
        EXPECT_NE(s.next(logits, history), seq.back());
    }
}
