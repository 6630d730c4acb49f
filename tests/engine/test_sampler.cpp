#include <gtest/gtest.h>

#include "engine/generation/Sampler.h"

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
