// Multimodal rotary positions (Qwen2-VL's M-RoPE, Qwen3-VL's interleaved one) in the shared
// decoder: the frequency sections, the continuation of text after an image's grid
// (rope_delta), and that the one-token CPU step rotates by the same positions as the general
// path; with them, Qwen3's q/k norms and DeepStack's layer additions.
#include <gtest/gtest.h>

#include "models/Llama.h"
#include "models/StepGraph.h"
#include "models/base/Error.h"
#include "tests/common/TinyDecoder.h"

namespace {

using vqa::models::KvCache;
using vqa::models::LlamaConfig;
using vqa::models::LlamaDecoder;
using vqa::models::Rotary;

using vqa::test::MapWeights;

// Qwen2-VL's decoder (q/k/v biases, sections) or Qwen3-VL's (q/k norms, interleaved axes).
LlamaConfig tinyConfig(bool qwen3 = false) {
    LlamaConfig c;
    c.vocab_size = 32;
    c.hidden_size = 16;
    c.intermediate_size = 24;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 8;
    c.rope_theta = 10000.0;
    c.max_position_embeddings = 128;
    c.qkv_bias = !qwen3;
    c.qk_norm = qwen3;
    c.mrope_interleaved = qwen3;
    c.mrope_section = {1, 1, 2};
    return c;
}

MapWeights randomWeights(const LlamaConfig& c) {
    return vqa::test::randomDecoderWeights(c);
}

LlamaDecoder makeDecoder(const LlamaConfig& c, const MapWeights& w,
                         torch::ScalarType dtype = torch::kFloat32) {
    vqa::models::WeightLoader loader(w, torch::kCPU, dtype);
    return LlamaDecoder(c, loader, "m", "lm_head.weight");
}

// Positions of a prompt as transformers' get_rope_index gives them: 3 text tokens, a 2 x 3
// grid of image tokens starting at position 3, then 2 text tokens from the grid's largest
// position + 1 (3 + 2 = 5, so 6 and 7).
torch::Tensor promptPositions() {
    std::vector<std::int64_t> t = {0, 1, 2}, h = {0, 1, 2}, w = {0, 1, 2};
    for (int r = 0; r < 2; ++r)
        for (int col = 0; col < 3; ++col) {
            t.push_back(3);
            h.push_back(3 + r);
            w.push_back(3 + col);
        }
    for (std::int64_t p : {6, 7}) {
        t.push_back(p);
        h.push_back(p);
        w.push_back(p);
    }
    return torch::stack({torch::tensor(t), torch::tensor(h), torch::tensor(w)});
}

TEST(MRope, EqualPositionsArePlainRotary) {
    auto rot = Rotary::make(8, 10000.0, torch::kCPU);
    auto p = torch::arange(5, torch::kInt64);
    auto [cos, sin] = rot.cosSin(p, torch::kFloat32);
    auto [mcos, msin] = rot.cosSinSections(torch::stack({p, p, p}), {1, 1, 2}, torch::kFloat32);
    EXPECT_TRUE(torch::equal(cos, mcos));
    EXPECT_TRUE(torch::equal(sin, msin));
}

TEST(MRope, EachSectionTurnsByItsAxis) {
    // Sections 1, 1, 2 of head_dim 8: frequency 0 by the temporal position, 1 by the height,
    // 2 and 3 by the width; each angle repeated for dimension i + 4.
    auto rot = Rotary::make(8, 10000.0, torch::kCPU);
    auto p = torch::tensor({std::int64_t(5), std::int64_t(7), std::int64_t(11)}).view({3, 1});
    auto [cos, sin] = rot.cosSinSections(p, {1, 1, 2}, torch::kFloat32);
    const double axis_position[4] = {5, 7, 11, 11};
    for (int i = 0; i < 4; ++i) {
        const double angle = axis_position[i] / std::pow(10000.0, 2.0 * i / 8);
        for (int half : {0, 4}) {
            EXPECT_NEAR(cos[0][i + half].item<double>(), std::cos(angle), 1e-5) << i;
            EXPECT_NEAR(sin[0][i + half].item<double>(), std::sin(angle), 1e-5) << i;
        }
    }
}

TEST(MRope, InterleavedAxesTakeEveryThirdFrequency) {
    // Qwen3-VL: frequency i turns by the height when i % 3 == 1 and i < 3 * sections[1], by
    // the width when i % 3 == 2 and i < 3 * sections[2], else by the temporal position. With
    // head_dim 24 (12 frequencies) and sections 4, 3, 5: height 1, 4, 7; width 2, 5, 8, 11
    // (3 * 5 = 15 reaches past the last); temporal 0, 3, 6, 9, 10.
    auto rot = Rotary::make(24, 10000.0, torch::kCPU);
    auto p = torch::tensor({std::int64_t(5), std::int64_t(7), std::int64_t(11)}).view({3, 1});
    auto [cos, sin] = rot.cosSinSections(p, {4, 3, 5}, torch::kFloat32, /*interleaved=*/true);
    const int axis[12] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 2};
    const double position[3] = {5, 7, 11};
    for (int i = 0; i < 12; ++i) {
        const double angle = position[axis[i]] / std::pow(10000.0, 2.0 * i / 24);
        for (int half : {0, 12}) {
            EXPECT_NEAR(cos[0][i + half].item<double>(), std::cos(angle), 1e-5) << i;
            EXPECT_NEAR(sin[0][i + half].item<double>(), std::sin(angle), 1e-5) << i;
        }
    }
    // Equal positions are plain rotary, interleaved or not.
    auto q = torch::arange(5, torch::kInt64);
    auto [pcos, psin] = rot.cosSin(q, torch::kFloat32);
    auto [icos, isin] = rot.cosSinSections(torch::stack({q, q, q}), {4, 3, 5}, torch::kFloat32, true);
    EXPECT_TRUE(torch::equal(pcos, icos));
    EXPECT_TRUE(torch::equal(psin, isin));
}

class MRopeDecoder : public ::testing::TestWithParam<bool> {};

TEST_P(MRopeDecoder, TextAfterTheImageContinuesFromTheLargestPosition) {
    const auto c = tinyConfig(GetParam());
    const auto w = randomWeights(c);
    const auto decoder = makeDecoder(c, w);
    torch::NoGradGuard no_grad;
    torch::manual_seed(1);
    auto prompt = torch::randn({11, c.hidden_size});
    auto answer = decoder.embed(torch::tensor({std::int64_t(3), std::int64_t(9), std::int64_t(4)}));
    auto positions = promptPositions();

    // All at once, every position explicit: the answer's tokens at 8, 9, 10.
    auto all_positions = torch::cat({positions, torch::arange(8, 11, torch::kInt64).expand({3, 3})}, 1);
    KvCache whole = decoder.newCache(16);
    auto expected = decoder.forward(torch::cat({prompt, answer}), whole, /*all_logits=*/true, nullptr, all_positions);

    for (bool cpu_step_off : {false, true}) {
        vqa::models::setCpuDecodeStepDisabled(cpu_step_off);
        KvCache cache = decoder.newCache(16);
        decoder.forward(prompt, cache, false, nullptr, positions);
        EXPECT_EQ(cache.length, 11);
        EXPECT_EQ(cache.rope_delta, 8 - 11); // the next token at position 8, in slot 11
        for (int k = 0; k < 3; ++k) {
            auto logits = decoder.forward(answer.narrow(0, k, 1), cache, false, nullptr);
            EXPECT_TRUE(torch::allclose(logits[0], expected[11 + k], 1e-5, 1e-5))
                << "answer token " << k << (cpu_step_off ? " (general path)" : " (CPU step)");
        }
        EXPECT_EQ(cache.rope_delta, -3);
    }

    // A recorded step (CUDA graphs on a GPU; here a recorder that runs the step again) rotates
    // by the same position, given as a tensor the replays rewrite.
    vqa::models::setStepGraphMaker([](torch::Device) { return std::make_unique<vqa::test::RerunStepGraph>(); });
    {
        KvCache cache = decoder.newCache(16);
        decoder.forward(prompt, cache, false, nullptr, positions);
        for (int k = 0; k < 3; ++k) {
            auto logits = decoder.forward(answer.narrow(0, k, 1), cache, false, nullptr);
            EXPECT_TRUE(torch::allclose(logits[0], expected[11 + k], 1e-5, 1e-5)) << "recorded step " << k;
        }
        EXPECT_TRUE(cache.graphs != nullptr) << "the recorded step was not taken";
    }
    vqa::models::setStepGraphMaker({});
    vqa::models::setCpuDecodeStepDisabled(false);

    // Keeping the text before the image and prefilling the rest again gives the same result.
    KvCache cache = decoder.newCache(16);
    decoder.forward(prompt, cache, false, nullptr, positions);
    cache.truncate(3);
    auto tail = decoder.forward(prompt.narrow(0, 3, 8), cache, true, nullptr, positions.narrow(1, 3, 8));
    EXPECT_TRUE(torch::allclose(tail, expected.narrow(0, 3, 8), 1e-5, 1e-5));
    EXPECT_EQ(cache.rope_delta, -3);
}

TEST(MRope, WrongSectionsOrPositionsAreClearErrors) {
    auto c = tinyConfig();
    const auto w = randomWeights(c);
    c.mrope_section = {1, 1, 1};
    try {
        makeDecoder(c, w);
        FAIL() << "mrope_section summing to 3 of 4 frequencies was accepted";
    } catch (const vqa::Error& e) {
        EXPECT_NE(std::string(e.what()).find("mrope_section"), std::string::npos) << e.what();
    }

    // Without sections, three equal rows are plain positions; different rows are refused.
    c.mrope_section.clear();
    const auto plain = makeDecoder(c, w);
    torch::NoGradGuard no_grad;
    auto x = torch::randn({4, c.hidden_size});
    auto p = torch::arange(4, torch::kInt64);
    KvCache a = plain.newCache(8), b = plain.newCache(8);
    EXPECT_TRUE(torch::equal(plain.forward(x, a, true, nullptr, p),
                             plain.forward(x, b, true, nullptr, torch::stack({p, p, p}))));
    KvCache d = plain.newCache(8);
    EXPECT_THROW(plain.forward(x, d, true, nullptr, torch::stack({p, p, p + 1})), vqa::Error);
    KvCache e = plain.newCache(8);
    EXPECT_THROW(plain.forward(x, e, true, nullptr, torch::arange(3, torch::kInt64)), vqa::Error);
}

INSTANTIATE_TEST_SUITE_P(Decoders, MRopeDecoder, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Qwen3" : "Qwen2"; });

// Qwen3's q/k norms in bfloat16: the one-token CPU step rounds like the general path.
TEST(QkNorm, CpuStepAgreesWithTheGeneralPathInBfloat16) {
    auto c = tinyConfig(true);
    const auto w = randomWeights(c);
    const auto decoder = makeDecoder(c, w, torch::kBFloat16);
    torch::NoGradGuard no_grad;
    torch::manual_seed(3);
    auto prompt = torch::randn({6, c.hidden_size}).to(torch::kBFloat16);
    auto token = decoder.embed(torch::tensor({std::int64_t(5)}));
    std::vector<torch::Tensor> logits;
    for (bool off : {false, true}) {
        vqa::models::setCpuDecodeStepDisabled(off);
        KvCache cache = decoder.newCache(8);
        decoder.forward(prompt, cache, false, nullptr);
        logits.push_back(decoder.forward(token, cache, false, nullptr).to(torch::kFloat32));
    }
    vqa::models::setCpuDecodeStepDisabled(false);
    EXPECT_LT((logits[0] - logits[1]).abs().max().item<double>(), 2e-2 * logits[1].abs().max().item<double>());
    // Without the norms the logits differ: the norms are applied, not ignored.
    auto plain = c;
    plain.qk_norm = false;
    const auto without = makeDecoder(plain, w, torch::kBFloat16);
    KvCache cache = without.newCache(8);
    without.forward(prompt, cache, false, nullptr);
    auto other = without.forward(token, cache, false, nullptr).to(torch::kFloat32);
    EXPECT_GT((other - logits[1]).abs().max().item<double>(), 1e-2);
}

// DeepStack's layer additions: zeros change nothing, and real ones change the logits of the
// rows they are added at and after, never before (the decoder is causal).
TEST(LayerAdditions, AddAtTheirRowsAfterTheFirstLayers) {
    const auto c = tinyConfig(true);
    const auto w = randomWeights(c);
    const auto decoder = makeDecoder(c, w);
    torch::NoGradGuard no_grad;
    torch::manual_seed(4);
    auto prompt = torch::randn({9, c.hidden_size});
    auto run = [&](const vqa::models::LayerAdditions* additions) {
        KvCache cache = decoder.newCache(9);
        return decoder.forward(prompt, cache, true, nullptr, {}, additions);
    };
    auto base = run(nullptr);
    vqa::models::LayerAdditions zeros;
    zeros.rows = torch::tensor({std::int64_t(3), std::int64_t(4)});
    zeros.per_layer = {torch::zeros({2, c.hidden_size}), torch::zeros({2, c.hidden_size})};
    EXPECT_TRUE(torch::equal(run(&zeros), base));
    vqa::models::LayerAdditions some = zeros;
    some.per_layer = {torch::randn({2, c.hidden_size}), torch::randn({2, c.hidden_size})};
    auto changed = run(&some);
    EXPECT_TRUE(torch::equal(changed.narrow(0, 0, 3), base.narrow(0, 0, 3)));
    for (std::int64_t row = 3; row < 9; ++row)
        EXPECT_GT((changed[row] - base[row]).abs().max().item<double>(), 1e-4) << row;
    // Rows outside the call and more levels than layers are errors, not silent.
    some.rows = torch::tensor({std::int64_t(3), std::int64_t(9)});
    EXPECT_THROW(run(&some), vqa::Error);
    some.rows = zeros.rows;
    some.per_layer.push_back(torch::zeros({2, c.hidden_size}));
    EXPECT_THROW(run(&some), vqa::Error);
}

}  // namespace
