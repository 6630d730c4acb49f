// The batched decoder step (LlamaDecoder::stepBatch, LlamaBatchStep.cpp): several sequences
// of different lengths, each in its own cache, stepped together give the logits and the
// cache contents each gets stepped alone; rotary offsets (rope_delta) are each sequence's
// own; bfloat16 and quantized weights stay within their rounding; a bad batch is refused
// and an interrupted step leaves every cache as it was.
#include <gtest/gtest.h>

#include <vector>

#include "models/Interrupt.h"
#include "models/Llama.h"
#include "models/base/Error.h"
#include "tests/common/TinyDecoder.h"

namespace {

using vqa::models::KvCache;
using vqa::models::LlamaConfig;
using vqa::models::LlamaDecoder;
using vqa::models::QuantFormat;
using vqa::models::Quantization;

LlamaConfig config(int kv_heads, bool qk_norm) {
    LlamaConfig c;
    c.vocab_size = 64;
    c.hidden_size = 64;
    c.intermediate_size = 96;
    c.num_hidden_layers = 3;
    c.num_attention_heads = 4;
    c.num_key_value_heads = kv_heads;
    c.head_dim = 16;
    c.rope_theta = 10000.0;
    c.max_position_embeddings = 256;
    c.qkv_bias = !qk_norm;
    c.qk_norm = qk_norm;
    return c;
}

LlamaDecoder decoder(const LlamaConfig& c, const vqa::test::MapWeights& w, torch::ScalarType dtype,
                     Quantization q = {}) {
    vqa::models::WeightLoader loader(w, torch::kCPU, dtype);
    return LlamaDecoder(c, loader, "m", "lm_head.weight", q);
}

double relativeRms(const torch::Tensor& a, const torch::Tensor& reference) {
    auto r = reference.to(torch::kFloat64);
    return (a.to(torch::kFloat64) - r).pow(2).mean().sqrt().item<double>() / r.pow(2).mean().sqrt().item<double>();
}

// Three prompts of different lengths, each read into its own cache; the second with its
// rotary positions shifted, as a Qwen2-VL prompt with an image leaves them.
std::vector<KvCache> prefilled(const LlamaDecoder& d) {
    torch::manual_seed(3);
    std::vector<KvCache> caches;
    for (std::int64_t length : {5, 11, 8}) {
        KvCache cache = d.newCache(32);
        auto ids = torch::randint(0, 64, {length}, torch::kInt64);
        d.forward(d.embed(ids), cache, false, nullptr);
        caches.push_back(std::move(cache));
    }
    caches[1].rope_delta = -4;
    return caches;
}

// Four steps of every sequence together against each alone; the largest relative RMS of
// the logits' difference.
double batchedAgainstAlone(const LlamaDecoder& d) {
    std::vector<KvCache> together = prefilled(d), alone = prefilled(d);
    double worst = 0;
    torch::manual_seed(5);
    for (int step = 0; step < 4; ++step) {
        auto ids = torch::randint(0, 64, {3}, torch::kInt64);
        std::vector<KvCache*> caches;
        for (auto& c : together)
            caches.push_back(&c);
        const auto logits = d.stepBatch(d.embed(ids), caches);
        EXPECT_EQ(logits.sizes(), (std::vector<std::int64_t>{3, 64}));
        for (std::int64_t b = 0; b < 3; ++b) {
            auto& one = alone[static_cast<std::size_t>(b)];
            const auto expected = d.forward(d.embed(ids.narrow(0, b, 1)), one, false, nullptr);
            worst = std::max(worst, relativeRms(logits[b], expected[0]));
            auto& mine = together[static_cast<std::size_t>(b)];
            EXPECT_EQ(mine.length, one.length);
            EXPECT_EQ(mine.rope_delta, one.rope_delta);
            for (std::size_t l = 0; l < mine.keys.size(); ++l) {
                EXPECT_LT(relativeRms(mine.keys[l].narrow(1, 0, mine.length), one.keys[l].narrow(1, 0, one.length)),
                          1e-2);
                EXPECT_LT(relativeRms(mine.values[l].narrow(1, 0, mine.length),
                                      one.values[l].narrow(1, 0, one.length)),
                          1e-2);
            }
        }
    }
    return worst;
}

}  // namespace

TEST(BatchStep, SequencesSteppedTogetherMatchEachSteppedAlone) {
    // Grouped-query attention with q/k/v biases (SmolLM2, Qwen2), plain multi-head attention
    // (LLaVA's Vicuna), per-head norms (Qwen3).
    for (auto [kv_heads, qk_norm] : {std::pair{2, false}, std::pair{4, false}, std::pair{2, true}}) {
        SCOPED_TRACE("kv_heads " + std::to_string(kv_heads) + (qk_norm ? ", qk_norm" : ""));
        const auto c = config(kv_heads, qk_norm);
        const auto d = decoder(c, vqa::test::randomDecoderWeights(c), torch::kFloat32);
        EXPECT_LT(batchedAgainstAlone(d), 1e-5);
    }
}

TEST(BatchStep, BFloat16AndQuantizedWeightsStayWithinTheirRounding) {
    const auto c = config(2, false);
    const auto w = vqa::test::randomDecoderWeights(c);
    // Alone, a bfloat16 step takes the one-token CPU loops; together, matrix products: the
    // same products, summed in another order and rounded to bfloat16 in other places.
    EXPECT_LT(batchedAgainstAlone(decoder(c, w, torch::kBFloat16)), 2e-2);
    for (QuantFormat f : {QuantFormat::Q8_0, QuantFormat::Q4_0}) {
        SCOPED_TRACE(static_cast<int>(f));
        EXPECT_LT(batchedAgainstAlone(decoder(c, w, torch::kFloat32, Quantization{f, QuantFormat::Q8_0})), 2e-2);
    }
}

TEST(BatchStep, ABadBatchIsRefusedAndAnInterruptedStepLeavesTheCaches) {
    const auto c = config(2, false);
    const auto d = decoder(c, vqa::test::randomDecoderWeights(c), torch::kFloat32);
    std::vector<KvCache> caches = prefilled(d);
    std::vector<KvCache*> pointers;
    for (auto& cache : caches)
        pointers.push_back(&cache);
    const auto ids = torch::tensor(std::vector<std::int64_t>{1, 2, 3}, torch::kInt64);
    // Rows and caches disagree.
    EXPECT_THROW(d.stepBatch(d.embed(ids.narrow(0, 0, 2)), pointers), vqa::Error);
    // A cache of another model.
    KvCache other = decoder(config(2, true), vqa::test::randomDecoderWeights(config(2, true)), torch::kFloat32)
                        .newCache(32);
    other.keys.pop_back();
    std::vector<KvCache*> mixed{pointers[0], &other, pointers[2]};
    EXPECT_THROW(d.stepBatch(d.embed(ids), mixed), vqa::Error);
    // A full cache: nothing written to any.
    caches[2].length = caches[2].capacity();
    EXPECT_THROW(d.stepBatch(d.embed(ids), pointers), vqa::Error);
    caches[2].length = 8;
    const std::vector<std::int64_t> lengths{caches[0].length, caches[1].length, caches[2].length};
    // Interrupted in its second layer.
    int checks = 0;
    struct Stop {};
    {
        vqa::models::InterruptScope interrupt([&] {
            if (++checks == 2)
                throw Stop{};
        });
        EXPECT_THROW(d.stepBatch(d.embed(ids), pointers), Stop);
    }
    for (std::size_t b = 0; b < caches.size(); ++b)
        EXPECT_EQ(caches[b].length, lengths[b]);
    // And the same step afterwards gives what it gives on untouched caches.
    std::vector<KvCache> fresh = prefilled(d);
    std::vector<KvCache*> fresh_pointers;
    for (auto& cache : fresh)
        fresh_pointers.push_back(&cache);
    EXPECT_TRUE(torch::allclose(d.stepBatch(d.embed(ids), pointers), d.stepBatch(d.embed(ids), fresh_pointers)));
}
