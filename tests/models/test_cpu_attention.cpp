// Our attention over many bfloat16 queries (models/CpuAttention.h) against the exact result
// (float64 over the same bfloat16 inputs) and against what it replaces, LibTorch's float32
// kernel on widened inputs with its output rounded to bfloat16: within one bfloat16 rounding
// of the latter everywhere, and no less exact than it, on shapes that exercise every edge
// (query counts not a multiple of the 6-query tile or the 48-query block, key counts not a
// multiple of the 64-key panel, head sizes 8 to 128, grouped heads, keys of their own length),
// inputs strided as a fused projection leaves them, masked keys, peaked scores; what it
// refuses; the same bytes whatever the thread count. Skips, saying why, on a CPU without the
// AVX-512 it is compiled for.
//
// Each test runs twice: with the probabilities times the values in float32, and in float16
// (AVX512-FP16 CPUs only). The float16 product rounds the probabilities to 11 bits and sums in
// float16 within 64 keys, so it is held instead to what transformers runs in bfloat16,
// LibTorch's bfloat16 kernel (which rounds the probabilities to 8 bits): at most 15 % further
// from the exact result in relative RMS, at most 25 % in the largest difference (measured: 6 %
// and 11 % at worst on these shapes, better than that kernel on an image's 1,024 keys; both
// mostly the output's own bfloat16 rounding).
#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "models/CpuAttention.h"

namespace {

class CpuAttention : public ::testing::TestWithParam<bool> {
protected:
    void SetUp() override {
        if (!vqa::models::cpuAttentionSupported())
            GTEST_SKIP() << "this CPU lacks AVX512-F/BW/VL/DQ/BF16: our attention does not run here";
        if (half() && !vqa::models::cpuAttentionHalfSupported())
            GTEST_SKIP() << "this CPU lacks AVX512-FP16: the float16 product with the values does not run here";
    }
    static bool half() { return GetParam(); }
};

torch::Tensor bf16Randn(std::vector<std::int64_t> shape, double scale = 1.0) {
    return (torch::randn(shape, torch::kFloat64) * scale).to(torch::kBFloat16);
}

// softmax(q k^T scale + mask) v in float64, grouped heads repeated as SDPA's enable_gqa does.
torch::Tensor exact(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                    const torch::Tensor& mask, double scale) {
    const auto groups = q.size(1) / k.size(1);
    auto kd = k.to(torch::kFloat64).repeat_interleave(groups, 1);
    auto vd = v.to(torch::kFloat64).repeat_interleave(groups, 1);
    auto s = torch::matmul(q.to(torch::kFloat64), kd.transpose(-1, -2)) * scale;
    if (mask.defined())
        s = s.masked_fill(mask.logical_not(), -std::numeric_limits<double>::infinity());
    return torch::matmul(torch::softmax(s, -1), vd);
}

// What our kernel replaces: LibTorch's float32 kernel on the widened inputs, rounded once.
torch::Tensor libtorch(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                       const torch::Tensor& mask, double scale) {
    return at::scaled_dot_product_attention(q.to(torch::kFloat32), k.to(torch::kFloat32), v.to(torch::kFloat32),
                                            mask.defined() ? std::optional<torch::Tensor>(mask) : std::nullopt,
                                            0.0, false, scale, /*enable_gqa=*/q.size(1) != k.size(1))
        .to(torch::kBFloat16);
}

// LibTorch's bfloat16 kernel: what transformers runs in bfloat16.
torch::Tensor libtorchBf16(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           const torch::Tensor& mask, double scale) {
    return at::scaled_dot_product_attention(q, k, v, mask.defined() ? std::optional<torch::Tensor>(mask) : std::nullopt,
                                            0.0, false, scale, /*enable_gqa=*/q.size(1) != k.size(1));
}

torch::Tensor ours(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                   const torch::Tensor& mask, double scale, bool half) {
    auto out = vqa::models::cpuAttentionBf16(q, k, v, mask, scale, half);
    EXPECT_TRUE(out.has_value()) << "the kernel refused inputs it takes";
    return out ? *out : torch::Tensor();
}

double relativeRms(const torch::Tensor& got, const torch::Tensor& want) {
    const auto diff = got.to(torch::kFloat64) - want;
    return (diff.pow(2).mean() / want.pow(2).mean()).sqrt().item<double>();
}

double largestDifference(const torch::Tensor& got, const torch::Tensor& want) {
    return (got.to(torch::kFloat64) - want).abs().max().item<double>();
}

// In float32: ours and LibTorch's float32 kernel, both rounded to bfloat16 from float32 results
// that differ only in the order of their sums, are at most one bfloat16 step apart (2^-7 of the
// value, relative), and ours is no further from the exact result than LibTorch's. In float16:
// see the top of the file.
void expectAsLibTorch(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                      const torch::Tensor& mask, double scale, bool half, const std::string& what) {
    SCOPED_TRACE(what);
    const auto got = ours(q, k, v, mask, scale, half);
    ASSERT_TRUE(got.defined());
    ASSERT_EQ(got.sizes(), q.sizes());
    const auto want = exact(q, k, v, mask, scale);
    const double e_ours = relativeRms(got, want);
    EXPECT_LT(e_ours, 3e-3); // bfloat16's rounding of the output alone: about 1.6e-3
    if (half) {
        const auto theirs = libtorchBf16(q, k, v, mask, scale);
        const double e_theirs = relativeRms(theirs, want);
        EXPECT_LE(e_ours, e_theirs * 1.15 + 1e-6) << "ours " << e_ours << ", LibTorch's bfloat16 kernel " << e_theirs;
        const double d_ours = largestDifference(got, want), d_theirs = largestDifference(theirs, want);
        EXPECT_LE(d_ours, d_theirs * 1.25 + 1e-6) << "largest difference: ours " << d_ours << ", theirs " << d_theirs;
        return;
    }
    const auto theirs = libtorch(q, k, v, mask, scale);
    const auto step = theirs.to(torch::kFloat64).abs() * std::ldexp(1.0, -7) + 1e-30;
    const auto apart = (got.to(torch::kFloat64) - theirs.to(torch::kFloat64)).abs();
    EXPECT_TRUE((apart <= step).all().item<bool>())
        << "largest difference in bfloat16 steps: " << (apart / step).max().item<double>();
    const double e_theirs = relativeRms(theirs, want);
    EXPECT_LE(e_ours, e_theirs * 1.05 + 1e-6) << "ours " << e_ours << ", LibTorch's " << e_theirs;
}

TEST_P(CpuAttention, AsLibTorchsFloat32KernelOnEveryEdge) {
    torch::manual_seed(1);
    struct Case {
        std::int64_t n, heads, kv_heads, s, skv, d;
    };
    for (const auto& c : {Case{1, 2, 2, 16, 16, 64}, Case{2, 3, 3, 37, 37, 64}, Case{1, 2, 2, 100, 100, 72},
                          Case{1, 2, 2, 53, 53, 80}, Case{1, 1, 1, 70, 130, 128}, Case{1, 4, 2, 33, 65, 64},
                          Case{1, 2, 2, 97, 97, 16}, Case{1, 2, 2, 20, 300, 8}, Case{1, 1, 1, 49, 1, 64},
                          Case{1, 2, 2, 40, 1024, 64}}) {
        const auto q = bf16Randn({c.n, c.heads, c.s, c.d}), k = bf16Randn({c.n, c.kv_heads, c.skv, c.d}),
                   v = bf16Randn({c.n, c.kv_heads, c.skv, c.d});
        expectAsLibTorch(q, k, v, {}, 1.0 / std::sqrt(double(c.d)), half(),
                         "n " + std::to_string(c.n) + " heads " + std::to_string(c.heads) + "/" +
                             std::to_string(c.kv_heads) + " queries " + std::to_string(c.s) + " keys " +
                             std::to_string(c.skv) + " head size " + std::to_string(c.d));
    }
}

TEST_P(CpuAttention, TakesTheStridesOfAFusedProjection) {
    torch::manual_seed(2);
    // As a vision layer leaves them: [N, S, 3, H, D] selected and transposed to [N, H, S, D].
    const auto qkv = bf16Randn({2, 77, 3, 4, 64});
    const auto q = qkv.select(2, 0).transpose(1, 2), k = qkv.select(2, 1).transpose(1, 2),
               v = qkv.select(2, 2).transpose(1, 2);
    ASSERT_FALSE(q.is_contiguous());
    expectAsLibTorch(q, k, v, {}, 0.125, half(), "fused projection");
    // The output's memory is [N, S, H, D]: merging the heads is a view.
    const auto got = ours(q, k, v, {}, 0.125, half());
    ASSERT_TRUE(got.defined());
    EXPECT_TRUE(got.transpose(1, 2).is_contiguous());
}

TEST_P(CpuAttention, MaskedKeysAndPeakedScores) {
    torch::manual_seed(3);
    const std::int64_t n = 3, s = 90;
    // Each image its own padding, as Idefics3's patch mask gives: image 0 none, 1 the last 31
    // patches, 2 every other one; one mask shared by every image too.
    auto mask = torch::ones({n, 1, 1, s}, torch::kBool);
    mask[1].narrow(-1, s - 31, 31).fill_(false);
    mask[2].slice(-1, 0, s, 2).fill_(false);
    const auto q = bf16Randn({n, 2, s, 64}), k = bf16Randn({n, 2, s, 64}), v = bf16Randn({n, 2, s, 64});
    expectAsLibTorch(q, k, v, mask, 0.125, half(), "per-image masks");
    expectAsLibTorch(q, k, v, mask[1].unsqueeze(0), 0.125, half(), "one mask for all");
    // Scores in the hundreds: most probabilities underflow to zero, one key takes nearly all.
    expectAsLibTorch(q * 6, k * 6, v, mask, 0.5, half(), "peaked");
}

TEST_P(CpuAttention, RefusesWhatItDoesNotCompute) {
    const auto q = bf16Randn({1, 2, 20, 64}), k = bf16Randn({1, 2, 20, 64}), v = bf16Randn({1, 2, 20, 64});
    using vqa::models::cpuAttentionBf16;
    EXPECT_FALSE(cpuAttentionBf16(q.to(torch::kFloat32), k.to(torch::kFloat32), v.to(torch::kFloat32), {}, 1.0, half()));
    EXPECT_FALSE(cpuAttentionBf16(q.transpose(2, 3), k, v, {}, 1.0, half())) << "head dimension not of unit stride";
    EXPECT_FALSE(cpuAttentionBf16(q, k, v, torch::ones({1, 1, 20, 20}, torch::kBool), 1.0, half()))
        << "a mask per query (causal): not a key mask";
    EXPECT_FALSE(cpuAttentionBf16(q, k, v, torch::zeros({1, 1, 1, 20}), 1.0, half())) << "an additive mask";
    EXPECT_FALSE(cpuAttentionBf16(q, k, v, torch::zeros({1, 1, 1, 20}, torch::kBool), 1.0, half()))
        << "a query that sees no key";
    EXPECT_FALSE(cpuAttentionBf16(q, bf16Randn({1, 3, 20, 64}), bf16Randn({1, 3, 20, 64}), {}, 1.0, half()))
        << "heads not a multiple of the key heads";
}

TEST_P(CpuAttention, NaNsGoWhereLibTorchsGo) {
    torch::manual_seed(6);
    // A NaN in a query spoils that query's row; one in a key, every query of its head.
    auto q = bf16Randn({1, 2, 30, 64}), k = bf16Randn({1, 2, 30, 64}), v = bf16Randn({1, 2, 30, 64});
    q[0][0][3][5] = std::numeric_limits<float>::quiet_NaN();
    k[0][1][7][9] = std::numeric_limits<float>::quiet_NaN();
    const auto got = ours(q, k, v, {}, 0.125, half());
    ASSERT_TRUE(got.defined());
    const auto theirs = libtorch(q, k, v, {}, 0.125);
    EXPECT_TRUE(torch::equal(got.isnan(), theirs.isnan()));
    EXPECT_TRUE(got[0][0][3].isnan().all().item<bool>());
    EXPECT_TRUE(got[0][1].isnan().all().item<bool>());
    EXPECT_FALSE(got[0][0][4].isnan().any().item<bool>());
}

TEST_P(CpuAttention, SameBytesOnOneThreadAndOnSeveral) {
    torch::manual_seed(4);
    // One head, so several threads split its queries into pieces of their own.
    const auto q = bf16Randn({1, 1, 301, 72}), k = bf16Randn({1, 1, 301, 72}), v = bf16Randn({1, 1, 301, 72});
    const int before = at::get_num_threads();
    at::set_num_threads(1);
    const auto one = ours(q, k, v, {}, 0.1, half());
    at::set_num_threads(std::max(2, before));
    const auto several = ours(q, k, v, {}, 0.1, half());
    at::set_num_threads(before);
    ASSERT_TRUE(one.defined() && several.defined());
    EXPECT_TRUE(torch::equal(one, several));
}

// The three ways of the measured choice (cpuBf16Attention): native and widened are LibTorch's
// kernels, bytes for bytes; ours is ours, and falls back to widened where it refuses the inputs
// (a mask per query).
TEST_P(CpuAttention, EachWayOfTheChoiceIsTheKernelItNames) {
    torch::manual_seed(8);
    const auto q = bf16Randn({1, 2, 70, 64}), k = bf16Randn({1, 2, 70, 64}), v = bf16Randn({1, 2, 70, 64});
    using vqa::models::Bf16Attention;
    using vqa::models::cpuBf16Attention;
    EXPECT_TRUE(torch::equal(cpuBf16Attention(q, k, v, {}, false, 0.125, Bf16Attention::Native, half()),
                             libtorchBf16(q, k, v, {}, 0.125)));
    EXPECT_TRUE(torch::equal(cpuBf16Attention(q, k, v, {}, false, 0.125, Bf16Attention::Widened, half()),
                             libtorch(q, k, v, {}, 0.125)));
    EXPECT_TRUE(torch::equal(cpuBf16Attention(q, k, v, {}, false, 0.125, Bf16Attention::Ours, half()),
                             ours(q, k, v, {}, 0.125, half())));
    const auto per_query = torch::rand({1, 1, 70, 70}) > 0.3;
    per_query.diagonal(0, 2, 3).fill_(true);
    EXPECT_TRUE(torch::equal(cpuBf16Attention(q, k, v, per_query, false, 0.125, Bf16Attention::Ours, half()),
                             libtorch(q, k, v, per_query, 0.125)));
    // What the measurement compares: each way timed (ours only where it runs), the fastest named.
    const auto times = vqa::models::measureBf16Attention(half());
    EXPECT_GT(times.native_ms, 0.0);
    EXPECT_GT(times.widened_ms, 0.0);
    EXPECT_GT(times.ours_ms, 0.0);
    const double best = std::min({times.native_ms, times.widened_ms, times.ours_ms});
    const auto fastest = times.fastest();
    EXPECT_EQ(fastest == Bf16Attention::Native ? times.native_ms
              : fastest == Bf16Attention::Widened ? times.widened_ms
                                                  : times.ours_ms,
              best);
}

INSTANTIATE_TEST_SUITE_P(Values, CpuAttention, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "Float16" : "Float32"; });

} // namespace
