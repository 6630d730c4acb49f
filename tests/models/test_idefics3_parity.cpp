// Parity of the Idefics3 / SmolVLM networks with the reference implementation (transformers):
// tests/reference/make_idefics3.py builds random checkpoints and records what transformers
// computes on them; here the same checkpoints and inputs go through models/ and must agree.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>
#include <map>

#include "engine/Device.h"
#include "models/base/Error.h"
#include "engine/io/Checkpoint.h"
#include "engine/families/idefics3/Idefics3Config.h"
#include "engine/generation/PromptEmbedding.h"
#include "engine/io/ModelConfig.h"
#include "engine/io/SafetensorsFile.h"
#include "models/CpuGemmHalf.h"
#include "models/CpuGemv.h"
#include "models/Idefics3Model.h"
#include "models/Llama.h"
#include "models/StepGraph.h"
#include "tests/common/ParityHelpers.h"
#include "tests/common/TestPaths.h"
#include "tests/common/TinyDecoder.h"
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using vqa::models::AttentionCapture;
using vqa::models::AttentionRollout;
using vqa::models::Idefics3Model;
using vqa::models::KvCache;
using namespace vqa::test;

namespace {

using Loaded = ReferenceCase<Idefics3Model>;

fs::path caseDir(const std::string& name) {
    return vqa::test::referenceDir("idefics3") / name;
}

// The case's model in `dtype` (the checkpoint's mapping lives on in its tensors).
std::unique_ptr<Idefics3Model> modelOf(const std::string& name, torch::ScalarType dtype,
                                       torch::Device device = torch::kCPU) {
    const auto model_dir = (caseDir(name) / "model").string();
    auto checkpoint = vqa::Checkpoint::open(model_dir);
    auto config =
        vqa::parseIdefics3Config(vqa::readModelConfig(model_dir), model_dir + "/config.json");
    return std::make_unique<Idefics3Model>(config, *checkpoint, device, dtype);
}

Loaded load(const std::string& name) {
    const auto dir = caseDir(name);
    Loaded l;
    l.model = modelOf(name, torch::kFloat32);
    l.ref = vqa::SafetensorsFile::open((dir / "reference.safetensors").string());
    return l;
}

// Prompt embeddings with the image features of the reference pixels at the image tokens.
torch::Tensor promptEmbeddings(Idefics3Model& m, const Loaded& l, const torch::Tensor& ids) {
    auto features = m.encodeImages(l.get("pixel_values"), l.get("pixel_attention_mask"));
    return vqa::embedPrompt(m, ids, features);
}

class Idefics3Parity : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        VQA_SKIP_UNLESS_EXISTS(
            caseDir(GetParam()) / "reference.safetensors",
            "run tests/reference/make_idefics3.py (ctest runs it as reference.idefics3)");
        l_ = load(GetParam());
    }
    Loaded l_;
};

TEST_P(Idefics3Parity, PrefillLogits) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto ids = l_.get("input_ids");
    auto cache = m.newCache(ids.size(0) + 8);
    auto logits = m.forward(promptEmbeddings(m, l_, ids), cache, /*all_logits=*/true);
    ASSERT_EQ(logits.size(0), ids.size(0));
    EXPECT_EQ(cache.length, ids.size(0));
    auto diff = maxAbsDiff(logits.index_select(0, l_.get("logit_positions")), l_.get("logits"));
    std::cout << "[" << GetParam() << "] prefill logits max abs diff " << diff << "\n";
    EXPECT_LT(diff, 1e-4);
    EXPECT_GT(l_.get("logits").abs().max().item<double>(), 0.1); // not trivially zero
}

TEST_P(Idefics3Parity, ChunkedPrefillMatchesReference) {
    // Two prefills, the second after cached tokens, exercise the shifted causal mask.
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto ids = l_.get("input_ids");
    const auto t = ids.size(0), split = t - 7;
    auto embeds = promptEmbeddings(m, l_, ids);
    auto cache = m.newCache(t);
    m.forward(embeds.narrow(0, 0, split), cache, false);
    auto tail = m.forward(embeds.narrow(0, split, t - split), cache, true);
    auto positions = l_.get("logit_positions");
    auto ref = l_.get("logits");
    int compared = 0;
    for (std::int64_t i = 0; i < positions.size(0); ++i) {
        const auto p = positions[i].item<std::int64_t>();
        if (p < split)
            continue;
        EXPECT_LT(maxAbsDiff(tail[p - split], ref[i]), 1e-4) << "position " << p;
        ++compared;
    }
    EXPECT_GE(compared, 2);
}

TEST_P(Idefics3Parity, AttentionRowsOverImage) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto ids = l_.get("input_ids");
    auto embeds = promptEmbeddings(m, l_, ids);
    AttentionCapture capture;
    capture.positions = l_.get("image_positions");
    auto cache = m.newCache(ids.size(0));
    auto logits = m.forward(embeds, cache, false, &capture);
    ASSERT_EQ(capture.rows.size(), static_cast<std::size_t>(m.config().text.num_hidden_layers));
    auto rows = torch::stack(capture.rows);
    EXPECT_EQ(rows.scalar_type(), torch::kFloat32);
    auto diff = maxAbsDiff(rows, l_.get("attention_last"));
    std::cout << "[" << GetParam() << "] attention rows max abs diff " << diff << "\n";
    EXPECT_LT(diff, 1e-4);

    // Capturing does not change the result.
    auto plain_cache = m.newCache(ids.size(0));
    auto plain = m.forward(embeds, plain_cache, false);
    EXPECT_LT(maxAbsDiff(logits, plain), 1e-5);
    auto ref_last = l_.get("logits")[-1];
    EXPECT_LT(maxAbsDiff(logits[0], ref_last), 1e-4);
}

TEST_P(Idefics3Parity, GreedyTokensOverTwoTurnsWithCache) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto ids = l_.get("input_ids");
    auto expected = toVector(l_.get("generated"));
    auto cache = m.newCache(512);
    auto logits = m.forward(promptEmbeddings(m, l_, ids), cache, false);
    auto tokens = greedy(m, cache, logits, static_cast<std::int64_t>(expected.size()));
    EXPECT_EQ(tokens, expected);

    // Turn 2: keep the cached prefix that the new prompt shares with what the cache holds
    // (the prompt and every generated token but the last), prefill the rest.
    auto held = toVector(ids);
    held.insert(held.end(), tokens.begin(), tokens.end() - 1);
    ASSERT_EQ(cache.length, static_cast<std::int64_t>(held.size()));
    auto ids2 = l_.get("input_ids_turn2");
    auto ids2v = toVector(ids2);
    std::int64_t keep = 0;
    while (keep < static_cast<std::int64_t>(std::min(held.size(), ids2v.size())) &&
           held[keep] == ids2v[keep])
        ++keep;
    ASSERT_GT(keep, 0);
    ASSERT_LT(keep, ids2.size(0));
    cache.truncate(keep);
    // Only the part after the cached prefix, with the features of the image tokens in it.
    auto features = m.encodeImages(l_.get("pixel_values"), l_.get("pixel_attention_mask"));
    auto embeds = vqa::embedPrompt(m, ids2, features, keep);
    logits = m.forward(embeds, cache, false);
    auto expected2 = toVector(l_.get("generated_turn2"));
    auto tokens2 = greedy(m, cache, logits, static_cast<std::int64_t>(expected2.size()));
    EXPECT_EQ(tokens2, expected2);
}

TEST_P(Idefics3Parity, EncodeImagesDropsPaddingAndMasksPatches) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    auto features = m.encodeImages(l_.get("enc_pixel_values"), l_.get("enc_pixel_attention_mask"));
    ASSERT_EQ(features.dim(), 3);
    EXPECT_EQ(features.size(0), 2); // the all-zero third image is padding
    EXPECT_EQ(features.size(1), m.tokensPerImage());
    auto diff = maxAbsDiff(features.reshape({-1, features.size(-1)}), l_.get("enc_features"));
    std::cout << "[" << GetParam() << "] image features (padded batch) max abs diff " << diff
              << "\n";
    EXPECT_LT(diff, 1e-4);
    // Bool and integer masks mean the same.
    auto again = m.encodeImages(l_.get("enc_pixel_values"),
                                l_.get("enc_pixel_attention_mask").to(torch::kBool));
    EXPECT_LT(maxAbsDiff(again, features), 1e-6);
}

// Attention rollout through the SigLIP tower (AttentionRollout): numpy's over the reference's
// output_attentions, for the prompt's tiles and for a batch with a padded tile.
TEST_P(Idefics3Parity, VisionRolloutIsTheReferencesOverItsAttentions) {
    torch::NoGradGuard no_grad;
    auto& m = *l_.model;
    const auto rollout = m.visionRollout(l_.get("pixel_values"), l_.get("pixel_attention_mask"));
    const auto want = l_.get("vision_rollout");
    ASSERT_EQ(rollout.sizes(), want.sizes());
    EXPECT_LT(maxAbsDiff(rollout, want), 1e-5);
    EXPECT_LT(maxAbsDiff(rollout.sum(-1), torch::ones_like(want.sum(-1))), 1e-5) << "each row is a distribution";
    const auto padded = m.visionRollout(l_.get("enc_pixel_values"), l_.get("enc_pixel_attention_mask"));
    ASSERT_EQ(padded.size(0), 2) << "the all-zero image is padding";
    EXPECT_LT(maxAbsDiff(padded, l_.get("enc_vision_rollout")), 1e-5);
    // Its features are those the fast attention gives.
    AttentionRollout ignored;
    auto pixels = l_.get("pixel_values");
    auto mask = m.patchMask(l_.get("pixel_attention_mask").to(torch::kBool));
    EXPECT_LT(maxAbsDiff(m.visionModel().forward(pixels, mask, &ignored), m.visionModel().forward(pixels, mask)), 1e-5);
    EXPECT_EQ(ignored.layers(), m.config().vision.num_hidden_layers);
}

TEST_P(Idefics3Parity, CapturedRowsCarryGradientsUnderAutograd) {
    // Relevancy maps need d(logit)/d(attention row): the captured rows must be in the graph.
    auto& m = *l_.model;
    auto ids = l_.get("input_ids");
    torch::Tensor embeds;
    {
        torch::NoGradGuard no_grad;
        embeds = promptEmbeddings(m, l_, ids);
    }
    embeds.requires_grad_(true);
    AttentionCapture capture;
    capture.positions = l_.get("image_positions");
    auto cache = m.newCache(ids.size(0));
    auto logits = m.forward(embeds, cache, false, &capture);
    auto top = logits.reshape({-1}).max();
    ASSERT_EQ(capture.full_rows.size(), capture.rows.size());
    EXPECT_EQ(capture.full_rows.front().size(1), ids.size(0));
    auto grads =
        torch::autograd::grad({top}, {capture.full_rows.front(), capture.full_rows.back()});
    for (const auto& g : grads) {
        auto on_image = g.index_select(1, capture.positions);
        EXPECT_GT(on_image.abs().sum().item<double>(), 0.0);
    }
    EXPECT_LT(maxAbsDiff(capture.full_rows.back().detach().index_select(1, capture.positions),
                         capture.rows.back().detach()),
              0.0 + 1e-12);
    EXPECT_LT(maxAbsDiff(torch::stack(capture.rows).detach(), l_.get("attention_last")), 1e-4);
}

TEST_P(Idefics3Parity, InferenceModeGivesTheSameLogits) {
    auto& m = *l_.model;
    auto ids = l_.get("input_ids");
    c10::InferenceMode inference;
    auto cache = m.newCache(ids.size(0));
    auto logits = m.forward(promptEmbeddings(m, l_, ids), cache, false);
    EXPECT_LT(maxAbsDiff(logits[0], l_.get("logits")[-1]), 1e-4);
}

// A decode path compared with the general one token by token, from the same prompt in two
// caches: the largest differences of logits (relative to the general path's largest logit),
// of captured attention rows, and of each path's logits to the float32 general path's.
struct PathComparison {
    double logits = 0, rows = 0, fast_to_fp32 = 0, slow_to_fp32 = 0;
    std::vector<torch::Tensor>* fp32_logits; // the float32 pass fills it; later passes read it

    void token(std::size_t step, const torch::Tensor& fast, const torch::Tensor& slow, bool fp32) {
        EXPECT_EQ(fast.sizes(), slow.sizes());
        EXPECT_EQ(fast.scalar_type(), slow.scalar_type());
        const double scale = slow.abs().max().item<double>();
        logits = std::max(logits, maxAbsDiff(fast, slow) / scale);
        if (fp32) {
            fp32_logits->push_back(slow);
        } else {
            fast_to_fp32 = std::max(fast_to_fp32, maxAbsDiff(fast, (*fp32_logits)[step]) / scale);
            slow_to_fp32 = std::max(slow_to_fp32, maxAbsDiff(slow, (*fp32_logits)[step]) / scale);
        }
    }
    void captured(const AttentionCapture& fast, const AttentionCapture& slow) {
        EXPECT_EQ(fast.rows.size(), slow.rows.size());
        EXPECT_EQ(fast.full_rows.size(), slow.full_rows.size());
        rows = std::max({rows, maxAbsDiff(torch::stack(fast.rows), torch::stack(slow.rows)),
                         maxAbsDiff(torch::stack(fast.full_rows), torch::stack(slow.full_rows))});
    }
    // The filled part of the two caches, relative to the general path's largest entry.
    static double caches(const KvCache& fast, const KvCache& slow) {
        EXPECT_EQ(fast.length, slow.length);
        double worst = 0;
        for (std::size_t i = 0; i < fast.keys.size(); ++i) {
            const auto n = slow.length;
            auto keys = slow.keys[i].narrow(1, 0, n), values = slow.values[i].narrow(1, 0, n);
            worst = std::max({worst,
                              maxAbsDiff(fast.keys[i].narrow(1, 0, n), keys) /
                                  keys.abs().max().item<double>(),
                              maxAbsDiff(fast.values[i].narrow(1, 0, n), values) /
                                  values.abs().max().item<double>()});
        }
        return worst;
    }
};

TEST_P(Idefics3Parity, OneTokenCpuStepMatchesTheGeneralPath) {
    // Decoding one token on the CPU takes the plain-loop step (LlamaCpuStep.cpp); the same
    // tokens through the general ATen path must give the same logits and the same cache, in
    // float32 up to summation order and in bfloat16 up to a few roundings.
    auto tokens = toVector(l_.get("generated"));
    auto ids = l_.get("input_ids");
    std::vector<torch::Tensor> fp32_logits; // per step, from the float32 pass
    for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
        SCOPED_TRACE(c10::toString(dtype));
        auto model = modelOf(GetParam(), dtype);
        auto& m = *model;
        c10::InferenceMode inference;
        const auto prompt = promptEmbeddings(m, l_, ids);
        auto fast_cache = m.newCache(256), slow_cache = m.newCache(256);
        m.forward(prompt, fast_cache, false);
        m.forward(prompt, slow_cache, false);
        const bool fp32 = dtype == torch::kFloat32;
        PathComparison cmp{.fp32_logits = &fp32_logits};
        for (std::size_t step = 0; step < tokens.size(); ++step) {
            const auto token = tokens[step];
            auto embeds = m.embedTokens(torch::tensor({token}));
            // Every other step with attention capture (what the heatmaps use).
            AttentionCapture fast_capture, slow_capture;
            fast_capture.positions = slow_capture.positions = l_.get("image_positions");
            const bool capture = step % 2 == 1;
            auto fast = m.forward(embeds, fast_cache, false, capture ? &fast_capture : nullptr);
            vqa::models::setCpuDecodeStepDisabled(true);
            auto slow = m.forward(embeds, slow_cache, false, capture ? &slow_capture : nullptr);
            vqa::models::setCpuDecodeStepDisabled(false);
            if (capture)
                cmp.captured(fast_capture, slow_capture);
            cmp.token(step, fast, slow, fp32);
        }
        const double worst_cache = PathComparison::caches(fast_cache, slow_cache);
        std::cout << "[" << GetParam() << "] " << c10::toString(dtype) << " (relative)"
                  << " one-token step vs general path: logits " << cmp.logits << ", cache "
                  << worst_cache << ", attention rows " << cmp.rows << "; to float32: step "
                  << cmp.fast_to_fp32 << ", general path " << cmp.slow_to_fp32 << "\n";
        EXPECT_LT(cmp.logits, fp32 ? 1e-5 : 0.05);
        EXPECT_LT(worst_cache, fp32 ? 1e-5 : 0.02);
        // Probabilities; in bfloat16 the general path rounds the scores before the softmax.
        EXPECT_LT(cmp.rows, fp32 ? 1e-5 : 0.06);
        // bfloat16: the step is no farther from float32 than the general path (it rounds
        // where the reference rounds), give or take a rounding.
        EXPECT_LT(cmp.fast_to_fp32, 1.5 * cmp.slow_to_fp32 + 1e-3);
    }
}

// A recorder that replays by running the recorded step again: on the CPU it exercises what
// a CUDA graph relies on (inputs rewritten in place between replays, fixed shapes per
// recording, outputs in the recording's own tensors) without a GPU.
struct RerunRecorder : vqa::models::StepGraph {
    static inline int records = 0, replays = 0;
    static inline bool fail = false;
    std::function<void()> body;
    void record(const std::function<void()>& b) override {
        ++records;
        b(); // the warm-up run; a CUDA graph's recording itself runs nothing
        if (fail)
            throw std::runtime_error("recording refused by the test");
        body = b;
    }
    void replay() override {
        ++replays;
        body();
    }
};

struct RecorderInstalled {
    RecorderInstalled() {
        RerunRecorder::records = RerunRecorder::replays = 0;
        vqa::models::setStepGraphMaker(
            [](torch::Device) { return std::make_unique<RerunRecorder>(); });
    }
    ~RecorderInstalled() { vqa::models::setStepGraphMaker({}); }
};

// Decodes a few hundred tokens after the case's prompt twice, on `device`: with `maker`
// installed (recorded steps) and without (the general path), in float32 and bfloat16, and
// compares logits, cache and attention rows. The CPU's own one-token step is turned off so
// that the general path is the one compared. Returns how many tokens went through the
// recorded steps.
std::int64_t compareRecordedWithGeneral(const std::string& name, const Loaded& l,
                                        torch::Device device,
                                        const vqa::models::StepGraphMaker& maker,
                                        double fp32_tolerance) {
    std::int64_t recorded_tokens = 0;
    auto tokens = toVector(l.get("generated"));
    auto ids = l.get("input_ids");
    vqa::models::setCpuDecodeStepDisabled(true);
    std::vector<torch::Tensor> fp32_logits; // per step, the general path's in float32
    for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
        SCOPED_TRACE(c10::toString(dtype));
        auto model = modelOf(name, dtype, device);
        auto& m = *model;
        c10::InferenceMode inference;
        const auto prompt = promptEmbeddings(m, l, ids);
        const std::int64_t capacity = 560; // buckets 256, 512 and the capacity
        const std::int64_t steps = capacity - prompt.size(0);
        EXPECT_GT(steps, 300);
        KvCache slow_cache = m.newCache(capacity);
        int made = 0;
        auto counting = [&](torch::Device d) {
            ++made;
            return maker(d);
        };
        vqa::models::setStepGraphMaker(counting);
        KvCache fast_cache = m.newCache(capacity);
        // Slots never written may hold anything; the recorded step attends over them masked,
        // so it must not let a NaN through.
        for (std::size_t i = 0; i < fast_cache.keys.size(); ++i) {
            fast_cache.keys[i].fill_(std::numeric_limits<float>::quiet_NaN());
            fast_cache.values[i].fill_(std::numeric_limits<float>::quiet_NaN());
        }
        m.forward(prompt, fast_cache, false);
        m.forward(prompt, slow_cache, false);
        const bool fp32 = dtype == torch::kFloat32;
        PathComparison cmp{.fp32_logits = &fp32_logits};
        for (std::int64_t step = 0; step < steps; ++step) {
            auto embeds = m.embedTokens(torch::tensor({tokens[step % tokens.size()]}));
            AttentionCapture fast_capture, slow_capture;
            fast_capture.positions = slow_capture.positions = l.get("image_positions");
            const bool capture = step % 3 == 1;
            auto fast = m.forward(embeds, fast_cache, false, capture ? &fast_capture : nullptr);
            vqa::models::setStepGraphMaker({});
            auto slow = m.forward(embeds, slow_cache, false, capture ? &slow_capture : nullptr);
            vqa::models::setStepGraphMaker(counting);
            cmp.token(static_cast<std::size_t>(step), fast, slow, fp32);
            if (capture)
                cmp.captured(fast_capture, slow_capture);
        }
        EXPECT_EQ(fast_cache.length, capacity);
        // Three buckets (..256, ..512, ..560), each with and without capture, except where
        // the prompt already passed a bucket's start.
        const int buckets = prompt.size(0) < 256 ? 3 : 2;
        EXPECT_EQ(made, 2 * buckets);
        EXPECT_EQ(vqa::models::stepGraphFailure(), "");
        vqa::models::setStepGraphMaker({});
        recorded_tokens += steps;
        const double worst_cache = PathComparison::caches(fast_cache, slow_cache);
        std::cout << "[" << name << ", " << device << "] " << c10::toString(dtype)
                  << " recorded step vs general path over " << steps << " tokens: logits " << cmp.logits
                  << ", cache " << worst_cache << " (relative), attention rows " << cmp.rows
                  << "; " << made << " recordings; to float32: recorded "
                  << cmp.fast_to_fp32 << ", general path " << cmp.slow_to_fp32 << "\n";
        // bfloat16: the two paths round differently (the general one attends through
        // scaled_dot_product_attention) and drift apart over hundreds of tokens; what
        // matters is that the recorded step is no farther from float32.
        EXPECT_LT(cmp.logits, fp32 ? fp32_tolerance : 0.1);
        EXPECT_LT(worst_cache, fp32 ? fp32_tolerance : 0.05);
        EXPECT_LT(cmp.rows, fp32 ? fp32_tolerance : 0.06);
        if (!fp32) {
            EXPECT_LT(cmp.fast_to_fp32, 1.5 * cmp.slow_to_fp32 + 1e-3);
        }
    }
    vqa::models::setCpuDecodeStepDisabled(false);
    return recorded_tokens;
}

TEST_P(Idefics3Parity, RecordedDecodeStepMatchesTheGeneralPath) {
    // With a recorder installed, one-token steps off the CPU step run as recordings (the CUDA
    // graph path), one per 256 attended positions and capture shape. Over enough tokens to
    // cross two buckets and the cache's capacity, they must give the general path's logits,
    // cache and attention rows. Here the recorder replays by running the step again.
    RerunRecorder::records = RerunRecorder::replays = 0;
    const auto tokens = compareRecordedWithGeneral(
        GetParam(), l_, torch::kCPU,
        [](torch::Device) { return std::make_unique<RerunRecorder>(); }, 1e-5);
    EXPECT_EQ(RerunRecorder::replays, tokens);
}

TEST_P(Idefics3Parity, CudaGraphDecodeMatchesTheGeneralPathOnAGpu) {
    // The same with the CUDA plugin's recorder on a GPU: real CUDA graphs, replayed.
    if (!vqa::cudaAvailable())
        GTEST_SKIP() << "no GPU here (" << vqa::cudaUnavailableReason() << ")";
    ASSERT_EQ(vqa::setCudaGraphs(true), "");
    const auto maker = vqa::models::stepGraphMaker();
    vqa::setCudaGraphs(false);
    ASSERT_TRUE(static_cast<bool>(maker));
    // float32 on the GPU: the two paths' kernels sum in other orders.
    compareRecordedWithGeneral(GetParam(), l_, torch::Device(torch::kCUDA, 0), maker, 1e-4);
}

TEST_P(Idefics3Parity, AFailedRecordingFallsBackToTheGeneralPath) {
    // A recording that fails (a GPU that cannot capture, too little memory) turns recording
    // off, says why, and the token is computed the general way, once.
    auto model = modelOf(GetParam(), torch::kFloat32);
    auto& m = *model;
    c10::InferenceMode inference;
    vqa::models::setCpuDecodeStepDisabled(true);
    const auto prompt = promptEmbeddings(m, l_, l_.get("input_ids"));
    auto tokens = toVector(l_.get("generated"));
    KvCache plain = m.newCache(prompt.size(0) + 8);
    m.forward(prompt, plain, false);
    std::vector<torch::Tensor> expected;
    for (int step = 0; step < 4; ++step)
        expected.push_back(m.forward(m.embedTokens(torch::tensor({tokens[step]})), plain, false));
    {
        RecorderInstalled recorder;
        RerunRecorder::fail = true;
        KvCache cache = m.newCache(prompt.size(0) + 8);
        m.forward(prompt, cache, false);
        for (int step = 0; step < 4; ++step) {
            auto logits = m.forward(m.embedTokens(torch::tensor({tokens[step]})), cache, false);
            EXPECT_LT(maxAbsDiff(logits, expected[step]), 1e-5) << "step " << step;
        }
        RerunRecorder::fail = false;
        EXPECT_EQ(cache.length, prompt.size(0) + 4);
        EXPECT_EQ(RerunRecorder::records, 1); // not tried again
        EXPECT_EQ(RerunRecorder::replays, 0);
        EXPECT_NE(vqa::models::stepGraphFailure().find("recording refused by the test"),
                  std::string::npos);
    }
    EXPECT_TRUE(vqa::models::stepGraphFailure().empty()); // a new recorder starts afresh
    vqa::models::setCpuDecodeStepDisabled(false);
}

TEST_P(Idefics3Parity, Bfloat16RunsAndStaysCloseToFloat32) {
    // The engine runs bf16 on CUDA: every op must accept it. Tolerance is bf16's, not parity's.
    auto model = modelOf(GetParam(), torch::kBFloat16);
    auto& m = *model;
    c10::InferenceMode inference;
    auto ids = l_.get("input_ids");
    AttentionCapture capture;
    capture.positions = l_.get("image_positions");
    auto cache = m.newCache(ids.size(0) + 1);
    auto logits = m.forward(promptEmbeddings(m, l_, ids), cache, false, &capture);
    EXPECT_EQ(logits.scalar_type(), torch::kBFloat16);
    auto ref = l_.get("logits")[-1];
    const double scale = ref.abs().max().item<double>();
    EXPECT_LT(maxAbsDiff(logits[0], ref), 0.1 * scale);
    EXPECT_LT(maxAbsDiff(torch::stack(capture.rows), l_.get("attention_last")), 0.05);
    auto step = m.forward(m.embedTokens(torch::tensor({greedyToken(logits)})), cache, false);
    EXPECT_EQ(step.size(0), 1);
}

TEST_P(Idefics3Parity, Bfloat16ImageFeaturesWithOurProductsStayBfloat16AndClose) {
    // A bfloat16 model's matrix products may run in float32 or through our float16 GEMM on the
    // CPU (CpuGemv.h): same output dtype and shape, and as close to the float32 reference as
    // LibTorch's bfloat16 GEMM (the float16 GEMM within 1.5x its distance: it rounds partial
    // sums of 128 products to 11 bits, CpuGemmHalf.h).
    auto model = modelOf(GetParam(), torch::kBFloat16);
    auto& m = *model;
    c10::InferenceMode inference;
    const auto chosen = vqa::models::bf16Kernels();
    auto encode = [&](vqa::models::Bf16Kernels kernels) {
        vqa::models::setBf16Kernels(kernels);
        auto f = m.encodeImages(l_.get("enc_pixel_values"), l_.get("enc_pixel_attention_mask"));
        vqa::models::setBf16Kernels(chosen);
        return f;
    };
    auto narrow = encode(vqa::models::Bf16Kernels::Native);
    auto ref = l_.get("enc_features");
    const double scale = ref.abs().max().item<double>();
    const double d_narrow = maxAbsDiff(narrow.reshape({-1, narrow.size(-1)}), ref);
    std::vector<vqa::models::Bf16Kernels> ours = {vqa::models::Bf16Kernels::Widened};
    if (vqa::models::cpuGemmHalfSupported())
        ours.push_back(vqa::models::Bf16Kernels::Half);
    else
        std::cout << "[" << GetParam() << "] no AVX512-FP16 on this CPU: the float16 GEMM is not checked here\n";
    for (const auto kernels : ours) {
        SCOPED_TRACE(vqa::models::bf16KernelsName(kernels));
        auto wide = encode(kernels);
        EXPECT_EQ(wide.scalar_type(), torch::kBFloat16);
        ASSERT_EQ(wide.sizes(), narrow.sizes());
        const double d_wide = maxAbsDiff(wide.reshape({-1, wide.size(-1)}), ref);
        std::cout << "[" << GetParam() << "] bf16 image features vs fp32 reference: "
                  << vqa::models::bf16KernelsName(kernels) << " " << d_wide << ", bf16 compute " << d_narrow
                  << " (scale " << scale << ")\n";
        EXPECT_LT(d_wide, 0.05 * scale);
        EXPECT_LE(d_wide, d_narrow * 1.5);
        // The same products up to summation order and rounding: they differ by bfloat16 roundings.
        EXPECT_LT(maxAbsDiff(wide, narrow), 0.05 * scale);
    }
}

INSTANTIATE_TEST_SUITE_P(Tiny, Idefics3Parity, ::testing::Values("tiny_untied", "tiny_tied"));

// A WeightSource over tensors in memory, to break checkpoints on purpose.
using vqa::test::MapWeights;

class Idefics3Loading : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto dir = caseDir("tiny_untied") / "model";
        VQA_SKIP_UNLESS_EXISTS(dir, "run tests/reference/make_idefics3.py");
        auto checkpoint = vqa::Checkpoint::open(dir.string());
        config_ = vqa::parseIdefics3Config(vqa::readModelConfig(dir.string()), dir.string());
        for (const auto& n : checkpoint->names())
            weights_.tensors[n] = checkpoint->get(n);
    }
    vqa::models::Idefics3Config config_;
    MapWeights weights_;
};

TEST_F(Idefics3Loading, MissingTensorIsNamed) {
    const std::string name = "model.text_model.layers.1.mlp.up_proj.weight";
    ASSERT_EQ(weights_.tensors.erase(name), 1u);
    try {
        Idefics3Model m(config_, weights_, torch::kCPU, torch::kFloat32);
        FAIL() << "loading succeeded without " << name;
    } catch (const vqa::Error& e) {
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
}

TEST_F(Idefics3Loading, WrongShapeIsNamedWithBothShapes) {
    const std::string name = "model.connector.modality_projection.proj.weight";
    weights_.tensors[name] = weights_.tensors[name].narrow(1, 0, 10);
    try {
        Idefics3Model m(config_, weights_, torch::kCPU, torch::kFloat32);
        FAIL() << "loading succeeded with a wrong shape";
    } catch (const vqa::Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(name), std::string::npos) << what;
        EXPECT_NE(what.find("[64, 10]"), std::string::npos) << what;
        EXPECT_NE(what.find("[64, 128]"), std::string::npos) << what;
    }
}

TEST_F(Idefics3Loading, CountsParametersConvertsDtypeAndGuardsTheCache) {
    Idefics3Model m(config_, weights_, torch::kCPU, torch::kBFloat16);
    std::int64_t stored = 0;
    for (const auto& [k, v] : weights_.tensors)
        stored += v.numel();
    EXPECT_EQ(m.parameterCount(), stored);
    EXPECT_EQ(m.dtype(), torch::kBFloat16);
    EXPECT_EQ(m.embedTokens(torch::tensor({1, 2})).scalar_type(), torch::kBFloat16);
    EXPECT_EQ(m.family(), "idefics3");
    EXPECT_EQ(m.tokensPerImage(), 16);

    torch::NoGradGuard no_grad;
    auto cache = m.newCache(4);
    auto logits = m.forward(m.embedTokens(torch::tensor({1, 2, 3})), cache, true);
    EXPECT_EQ(logits.sizes(), (std::vector<std::int64_t>{3, config_.text.vocab_size}));
    EXPECT_EQ(cache.length, 3);
    EXPECT_THROW(m.forward(m.embedTokens(torch::tensor({4, 5})), cache, false), vqa::Error);
    EXPECT_EQ(cache.length, 3); // a refused step leaves the cache as it was
    auto ids = torch::tensor({std::int64_t(1), config_.image_token_id, std::int64_t(3)});
    EXPECT_THROW(vqa::embedPrompt(m, ids, torch::zeros({2, config_.text.hidden_size})), vqa::Error);
}

TEST(Idefics3RealShapes, PrefillLogitsAtSmolVlm256mShapes) {
    const auto dir = caseDir("real_shapes");
    VQA_SKIP_UNLESS_EXISTS(dir / "reference.safetensors",
                           "run tests/reference/make_idefics3.py without --skip-real");
    torch::NoGradGuard no_grad;
    using Clock = std::chrono::steady_clock;
    auto t0 = Clock::now();
    auto l = load("real_shapes");
    auto& m = *l.model;
    auto t1 = Clock::now();
    auto ids = l.get("input_ids");
    auto pixels = l.get("pixel_values");
    auto features = m.encodeImages(pixels, l.get("pixel_attention_mask"));
    auto t2 = Clock::now();
    auto embeds = vqa::embedPrompt(m, ids, features);
    auto cache = m.newCache(ids.size(0) + 16);
    auto logits = m.forward(embeds, cache, true);
    auto t3 = Clock::now();
    auto step = m.forward(m.embedTokens(torch::tensor({greedyToken(logits[-1])})), cache, false);
    auto t4 = Clock::now();
    auto ms = [](auto a, auto b) {
        return std::chrono::duration<double, std::milli>(b - a).count();
    };
    auto diff = maxAbsDiff(logits.index_select(0, l.get("logit_positions")), l.get("logits"));
    std::cout << "[real_shapes] " << m.parameterCount() << " parameters; load " << ms(t0, t1)
              << " ms; encode " << pixels.size(0) << " tiles " << ms(t1, t2) << " ms; prefill "
              << ids.size(0) << " tokens " << ms(t2, t3) << " ms; one decode step " << ms(t3, t4)
              << " ms (threads " << at::get_num_threads() << ")\n";
    std::cout << "[real_shapes] prefill logits max abs diff " << diff << "\n";
    EXPECT_LT(diff, 1e-3);
    EXPECT_EQ(step.sizes(), (std::vector<std::int64_t>{1, m.config().text.vocab_size}));
}

} // namespace
