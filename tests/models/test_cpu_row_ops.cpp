// The row operations of models/CpuRowOps.h (RMSNorm, silu(gate) * up, the Qwen vision towers'
// q/k/v with rotary) against their ATen spellings, the reference's, in float32 and bfloat16:
// float32 within float32's rounding of a reordered sum, bfloat16 the same value but where the
// two float32 results straddle a rounding boundary (then one bfloat16 step apart); every
// length's tail, infinities and NaNs carried, large negative gates, and what they refuse. Skips,
// saying why, on a CPU without the AVX-512 they need.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "models/CpuRowOps.h"
#include "models/Layers.h"

namespace {

using vqa::models::cpuRmsNorm;
using vqa::models::cpuSiluGate;
using vqa::models::cpuVisionQkvRotary;

// The reference's spellings (transformers' Llama/Qwen RMSNorm, the gated MLP, and
// apply_rotary_pos_emb_vision on q or k [H, S, D] from a [S, 3, H, D] product).
torch::Tensor referenceRmsNorm(const torch::Tensor& x, const torch::Tensor& w, double eps) {
    auto h = x.to(torch::kFloat32);
    h = h * torch::rsqrt(h.pow(2).mean(-1, true) + eps);
    return w * h.to(x.scalar_type());
}

torch::Tensor referenceSiluGate(const torch::Tensor& gu, std::int64_t inter) {
    return at::silu(gu.narrow(-1, 0, inter)) * gu.narrow(-1, inter, inter);
}

torch::Tensor referenceRotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
    const auto half = x.size(-1) / 2;
    const auto xf = x.to(torch::kFloat32);
    const auto rotated = torch::cat({-xf.narrow(-1, half, half), xf.narrow(-1, 0, half)}, -1);
    return (xf * cos + rotated * sin).to(x.scalar_type());
}

bool supported() {
    return cpuRmsNorm(torch::ones({1, 16}), torch::ones({16}), 1e-6).has_value();
}

// got against want: float32 within `tolerance` (relative to want's largest magnitude); bfloat16
// equal in all but a few values, those one step apart. Non-finite values where want has them.
void expectClose(const torch::Tensor& got, const torch::Tensor& want, double tolerance, const char* what) {
    SCOPED_TRACE(what);
    ASSERT_EQ(got.sizes(), want.sizes());
    ASSERT_EQ(got.scalar_type(), want.scalar_type());
    const auto g = got.to(torch::kFloat64), w = want.to(torch::kFloat64);
    EXPECT_TRUE(torch::equal(g.isnan(), w.isnan())) << "NaNs where the reference has them";
    EXPECT_TRUE(torch::equal(g.isinf(), w.isinf())) << "infinities where the reference has them";
    const auto finite = w.isfinite() & g.isfinite();
    const auto diff = (g - w).abs().masked_fill(finite.logical_not(), 0);
    if (want.scalar_type() == torch::kFloat32) {
        const double scale = w.masked_fill(finite.logical_not(), 0).abs().max().item<double>();
        EXPECT_LE(diff.max().item<double>(), tolerance * std::max(scale, 1e-30));
        return;
    }
    // One bfloat16 step of the larger of the two, where they differ at all.
    const auto step = torch::pow(2.0, torch::floor(torch::log2(torch::max(g.abs(), w.abs()).clamp_min(1e-38))) - 7);
    EXPECT_LE((diff / step).masked_fill(finite.logical_not(), 0).max().item<double>(), 1.0 + 1e-9)
        << "at most one bfloat16 step apart";
    const double differing = (diff > 0).to(torch::kFloat64).mean().item<double>();
    EXPECT_LE(differing, 0.01) << "the same value but at rounding boundaries";
}

class CpuRowOps : public ::testing::TestWithParam<torch::ScalarType> {
  protected:
    void SetUp() override {
        if (!supported())
            GTEST_SKIP() << "this CPU lacks AVX512-F/BW/VL/DQ/BF16: the row ops are not used here";
    }
    torch::ScalarType dtype() const { return GetParam(); }
    double tolerance() const { return 2e-6; }
};

TEST_P(CpuRowOps, RmsNormIsTheReferences) {
    torch::manual_seed(1);
    // Widths with and without a tail of 16; rows of every scale, a zero row, one of huge values.
    for (std::int64_t n : {1, 15, 16, 17, 576, 1280, 2050}) {
        auto x = (torch::randn({9, n}) * torch::logspace(-3, 3, 9).unsqueeze(1)).to(dtype());
        x[4].zero_();
        x[5].fill_(1e30);
        const auto w = torch::randn({n}).to(dtype());
        const auto got = cpuRmsNorm(x, w, 1e-6);
        ASSERT_TRUE(got.has_value()) << n;
        expectClose(*got, referenceRmsNorm(x, w, 1e-6), tolerance(), ("width " + std::to_string(n)).c_str());
    }
    // Three dimensions, and a NaN and an infinity carried through their row.
    auto x = torch::randn({2, 3, 40}).to(dtype());
    x[0][1][7] = std::numeric_limits<float>::quiet_NaN();
    x[1][2][3] = std::numeric_limits<float>::infinity();
    const auto w = torch::randn({40}).to(dtype());
    expectClose(*cpuRmsNorm(x, w, 1e-5), referenceRmsNorm(x, w, 1e-5), tolerance(), "3-D with a NaN and an infinity");
    // Layers.h's rmsNorm takes this path and gives the same.
    EXPECT_TRUE(torch::equal(vqa::models::rmsNorm(x, w, 1e-5).isnan(), cpuRmsNorm(x, w, 1e-5)->isnan()));
}

TEST_P(CpuRowOps, SiluGateIsTheReferences) {
    torch::manual_seed(2);
    for (std::int64_t inter : {1, 7, 16, 33, 1536, 3420}) {
        auto gu = (torch::randn({5, 2 * inter}) * 4).to(dtype());
        gu[0].narrow(0, 0, inter).fill_(-200.0);  // far below zero: -0, not a NaN
        gu[1].narrow(0, 0, inter).fill_(90.0);    // e^-x tiny: x
        const auto got = cpuSiluGate(gu, inter);
        ASSERT_TRUE(got.has_value()) << inter;
        const auto want = referenceSiluGate(gu, inter);
        expectClose(*got, want, tolerance(), ("inter " + std::to_string(inter)).c_str());
        EXPECT_TRUE(torch::equal(got->isfinite(), want.isfinite()));
        EXPECT_TRUE(torch::equal(vqa::models::gatedActivation("silu", gu, inter), *got));
    }
    auto gu = torch::randn({3, 32}).to(dtype());
    gu[1][2] = std::numeric_limits<float>::quiet_NaN();
    gu[2][20] = -std::numeric_limits<float>::infinity();
    expectClose(*cpuSiluGate(gu, 16), referenceSiluGate(gu, 16), tolerance(), "a NaN gate, an infinite up");
}

TEST_P(CpuRowOps, VisionQkvRotaryIsTheReferences) {
    torch::manual_seed(3);
    for (const auto& [s, heads, d] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{7, 2, 16},
                                      {64, 16, 80}, {33, 4, 64}, {5, 3, 2}}) {
        const auto qkv = (torch::randn({s, 3 * heads * d}) * 3).to(dtype());
        const auto cos = torch::randn({s, d}), sin = torch::randn({s, d});
        const auto got = cpuVisionQkvRotary(qkv, heads, cos, sin);
        ASSERT_TRUE(got.has_value()) << s << " " << heads << " " << d;
        const auto split = qkv.view({s, 3, heads, d}).permute({1, 2, 0, 3});
        const std::string where = std::to_string(s) + " x " + std::to_string(heads) + " x " + std::to_string(d);
        expectClose((*got)[0], referenceRotary(split[0], cos, sin), tolerance(), ("q " + where).c_str());
        expectClose((*got)[1], referenceRotary(split[1], cos, sin), tolerance(), ("k " + where).c_str());
        EXPECT_TRUE(torch::equal((*got)[2], split[2])) << "v, as it is: " << where;
        for (const auto& t : *got)
            EXPECT_TRUE(t.is_contiguous());
    }
}

TEST_P(CpuRowOps, RefusesWhatItDoesNotCompute) {
    const auto x = torch::randn({4, 32}).to(dtype()), w = torch::randn({32}).to(dtype());
    EXPECT_FALSE(cpuRmsNorm(x.t(), torch::randn({4}).to(dtype()), 1e-6)) << "not contiguous";
    EXPECT_FALSE(cpuRmsNorm(x, w.to(torch::kFloat64), 1e-6)) << "another dtype";
    EXPECT_FALSE(cpuRmsNorm(x, torch::randn({31}).to(dtype()), 1e-6)) << "a weight of another width";
    EXPECT_FALSE(cpuRmsNorm(x.to(torch::kFloat64), w.to(torch::kFloat64), 1e-6)) << "float64";
    const auto tracked = x.to(torch::kFloat32).requires_grad_();
    EXPECT_FALSE(cpuRmsNorm(tracked, w.to(torch::kFloat32), 1e-6)) << "records gradients";
    EXPECT_FALSE(cpuSiluGate(tracked, 16)) << "records gradients";
    EXPECT_FALSE(cpuSiluGate(x, 15)) << "not gate and up of that width";
    // Through Layers.h, such tensors take the reference's spelling and keep their gradients.
    auto y = vqa::models::rmsNorm(tracked, w.to(torch::kFloat32), 1e-6);
    EXPECT_TRUE(y.requires_grad());
    const auto qkv = torch::randn({4, 3 * 2 * 8}).to(dtype());
    EXPECT_FALSE(cpuVisionQkvRotary(qkv, 2, torch::randn({4, 8}).to(torch::kBFloat16), torch::randn({4, 8})))
        << "cos not float32";
    EXPECT_FALSE(cpuVisionQkvRotary(qkv, 2, torch::randn({3, 8}), torch::randn({3, 8}))) << "cos of other rows";
    EXPECT_FALSE(cpuVisionQkvRotary(qkv, 5, torch::randn({4, 8}), torch::randn({4, 8}))) << "heads do not divide";
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CpuRowOps, ::testing::Values(torch::kFloat32, torch::kBFloat16),
                         [](const auto& info) { return info.param == torch::kFloat32 ? "Float" : "BFloat16"; });

} // namespace
