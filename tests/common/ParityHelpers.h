// What the parity suites of every family share: comparing tensors with the reference's,
// and greedy decoding through a model's cache. One copy, so a fix (the NaN below) is made
// once.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engine/Engine.h"
#include "engine/Types.h"
#include "engine/io/SafetensorsFile.h"
#include "models/VisionLanguageModel.h"

namespace vqa::test {

// A family's network on a reference case, with the tensors the reference wrote for it.
template <typename Model>
struct ReferenceCase {
    std::unique_ptr<Model> model;
    std::shared_ptr<SafetensorsFile> ref;
    torch::Tensor get(const std::string& name) const { return ref->tensor(name).clone(); }
};

// The largest absolute difference, in float64; a shape mismatch fails the test and counts
// as huge, and a NaN anywhere counts as infinite (std::max would drop it, so a NaN could
// otherwise pass a tolerance).
inline double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
    EXPECT_EQ(a.sizes(), b.sizes());
    if (a.sizes() != b.sizes())
        return 1e30;
    const double d = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
    return std::isnan(d) ? std::numeric_limits<double>::infinity() : d;
}

// Relative difference: the largest absolute difference over the reference's largest magnitude.
inline double relDiff(const torch::Tensor& got, const torch::Tensor& want) {
    return maxAbsDiff(got, want) / std::max(1e-12, want.abs().max().item<double>());
}

inline std::vector<std::int64_t> toVector(const torch::Tensor& t) {
    auto c = t.to(torch::kInt64).contiguous();
    return {c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel()};
}

inline std::int64_t greedyToken(const torch::Tensor& logits) {
    return logits.reshape({-1}).argmax().item<std::int64_t>();
}

// Greedy decoding from the logits of the last prompt position; feeds every token but the
// last back through the cache, like generate() does.
inline std::vector<std::int64_t> greedy(models::VisionLanguageModel& m, models::KvCache& cache,
                                        torch::Tensor logits, std::int64_t n) {
    std::vector<std::int64_t> out;
    for (std::int64_t i = 0; i < n; ++i) {
        out.push_back(greedyToken(logits));
        if (i + 1 < n)
            logits = m.forward(m.embedTokens(torch::tensor({out.back()})), cache, false);
    }
    return out;
}

// The attention rows the engine reports with its first token (one per image block).
inline std::vector<HeatmapGrid> firstTokenAttention(Engine& engine, Request request) {
    request.generation.max_new_tokens = 1;
    request.explain.capture_attention = true;
    std::vector<HeatmapGrid> grids;
    engine.generate(request, [&](const TokenEvent& e) {
        if (grids.empty())
            grids = e.attention;
    });
    return grids;
}

// The engine's attention rows for the last prompt position (`grids`, one per image block)
// against the reference's `attention_last` ([layers, heads, image tokens]) reduced as the
// engine's default does: mean over heads of the upper half of the layers.
inline void expectDefaultAttentionRow(const std::vector<HeatmapGrid>& grids, const torch::Tensor& attention_last) {
    auto attention = attention_last.to(torch::kFloat32);
    const auto layers = attention.size(0);
    auto expected = attention.narrow(0, layers / 2, layers - layers / 2).mean(1).mean(0);
    std::vector<float> got;
    for (const auto& g : grids)
        got.insert(got.end(), g.values.begin(), g.values.end());
    ASSERT_EQ(static_cast<std::int64_t>(got.size()), expected.size(0));
    for (std::size_t i = 0; i < got.size(); ++i)
        EXPECT_NEAR(got[i], expected[static_cast<std::int64_t>(i)].item<float>(), 1e-5) << "image token " << i;
}

}  // namespace vqa::test
