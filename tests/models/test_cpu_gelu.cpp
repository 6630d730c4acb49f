// Our GELUs (the tanh approximation, and the quick one) over bfloat16 (models/CpuGelu.h) on every one of bfloat16's
// 65,536 bit patterns: within half a bfloat16 step of the exact function (float64) where the
// result is a normal number, never further from it than LibTorch's kernel, the same value as
// that kernel where it is exact but at rounding boundaries, infinities and NaNs as LibTorch
// gives them; every
// length's tail; what it refuses. Skips, saying why, on a CPU without the AVX-512 it needs.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <iostream>

#include "models/CpuGelu.h"

namespace {

torch::Tensor everyBfloat16() {
    return torch::arange(0, 65536, torch::kInt32).to(torch::kInt16).view(torch::kBFloat16);
}

// Ours (got) and LibTorch's (theirs) for every bfloat16 x against the exact function (float64).
void expectEveryBfloat16(const torch::Tensor& x, const torch::Tensor& got, const torch::Tensor& theirs,
                         const torch::Tensor& exact, const char* name) {
    SCOPED_TRACE(name);
    const auto xd = x.to(torch::kFloat64);
    const auto g = got.to(torch::kFloat64), t = theirs.to(torch::kFloat64);
    // Where the exact result is finite and a normal bfloat16 number: half a step, and a little
    // for float32's own rounding before bfloat16's.
    const auto normal = exact.isfinite() & (exact.abs() >= 1.2e-38) & (exact.abs() < 3.3e38);
    const auto step = torch::pow(2.0, torch::floor(torch::log2(exact.abs())) - 7);
    const auto off = ((g - exact).abs() / step).masked_fill(normal.logical_not(), 0);
    EXPECT_LE(off.max().item<double>(), 0.5 + 1e-3)
        << "in bfloat16 steps, worst at x = " << xd[off.argmax()].item<double>() << ": "
        << g[off.argmax()].item<double>() << " for " << exact[off.argmax()].item<double>();
    // Against LibTorch's: never further from the exact function than it, and where it is within
    // half a step (exact), the same value but where the two straddle a rounding boundary (then
    // one step apart).
    const auto theirs_off = ((t - exact).abs() / step).masked_fill(normal.logical_not(), 0);
    EXPECT_TRUE((off <= theirs_off + 1.0 + 1e-9).all().item<bool>());
    const auto both = normal & (theirs_off <= 0.5 + 1e-3);
    const auto apart = ((g - t).abs() / step).masked_fill(both.logical_not(), 0);
    EXPECT_LE(apart.max().item<double>(), 1.0 + 1e-9);
    const auto differ = (apart > 0).sum().item<std::int64_t>();
    std::cout << "[ " << name << " ] " << differ << " of " << both.sum().item<std::int64_t>()
              << " values LibTorch rounds exactly round to its neighbour here; LibTorch is further than half a step "
              << "from the exact value for " << (normal & (theirs_off > 0.5 + 1e-3)).sum().item<std::int64_t>() << "\n";
    EXPECT_LT(differ, both.sum().item<std::int64_t>() / 100) << "more than 1 % off LibTorch's rounding";
    // Infinities and NaNs in: what LibTorch's gives (+inf -> +inf, -inf -> NaN, NaN -> NaN).
    const auto special = xd.isfinite().logical_not();
    EXPECT_TRUE(torch::equal(g.isnan() & special, t.isnan() & special));
    EXPECT_TRUE(torch::equal(g.masked_select(special & t.isnan().logical_not()),
                             t.masked_select(special & t.isnan().logical_not())));
}

TEST(CpuGelu, EveryBfloat16WithinHalfAStepOfTheExactFunction) {
    const auto x = everyBfloat16();
    const auto got = vqa::models::cpuGeluTanhBf16(x);
    if (!got)
        GTEST_SKIP() << "this CPU lacks AVX512-F/BW/VL/BF16: our GELU does not run here";
    const auto xd = x.to(torch::kFloat64);
    // 0.5 x (1 + tanh u) as x / (1 + e^-2u): equal, but 1 + tanh u cancels even in float64
    // once x is below -7 (and LibTorch's loses digits below x = -4).
    const auto exact = xd / (1 + torch::exp(-2 * std::sqrt(2.0 / M_PI) * (xd + 0.044715 * xd.pow(3))));
    expectEveryBfloat16(x, *got, at::gelu(x, "tanh"), exact, "gelu");
}

TEST(CpuGelu, QuickGeluOnEveryBfloat16) {
    const auto x = everyBfloat16();
    const auto got = vqa::models::cpuQuickGeluBf16(x);
    if (!got)
        GTEST_SKIP() << "this CPU lacks AVX512-F/BW/VL/BF16: our GELU does not run here";
    const auto xd = x.to(torch::kFloat64);
    // What the reference runs in bfloat16: three operations, each rounded.
    const auto theirs = x * torch::sigmoid(1.702 * x);
    expectEveryBfloat16(x, *got, theirs, xd / (1 + torch::exp(-1.702 * xd)), "quick gelu");
}

TEST(CpuGelu, EveryTailAndShape) {
    torch::manual_seed(5);
    for (std::int64_t n : {1, 15, 16, 17, 100003}) {
        const auto x = (torch::randn({n}) * 3).to(torch::kBFloat16);
        const auto got = vqa::models::cpuGeluTanhBf16(x);
        if (!got)
            GTEST_SKIP() << "this CPU lacks AVX512-F/BW/VL/BF16: our GELU does not run here";
        const auto diff = (got->to(torch::kFloat32) - at::gelu(x, "tanh").to(torch::kFloat32)).abs();
        EXPECT_LE(diff.max().item<float>(), 2.0f * std::ldexp(1.0f, -7) * 3 * 5) << n << " values";
        EXPECT_EQ(got->sizes(), x.sizes());
    }
    const auto m = torch::randn({4, 7, 33}).to(torch::kBFloat16);
    const auto got = vqa::models::cpuGeluTanhBf16(m);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->sizes(), m.sizes());
    const auto quick = vqa::models::cpuQuickGeluBf16(m);
    ASSERT_TRUE(quick.has_value());
    EXPECT_EQ(quick->sizes(), m.sizes());
    const auto diff = (quick->to(torch::kFloat32) - (m * torch::sigmoid(1.702 * m)).to(torch::kFloat32)).abs();
    EXPECT_LE(diff.max().item<float>(), 2.0f * std::ldexp(1.0f, -7) * 5);
}

TEST(CpuGelu, RefusesOtherTensors) {
    const auto x = torch::randn({8, 16});
    EXPECT_FALSE(vqa::models::cpuGeluTanhBf16(x)) << "float32";
    EXPECT_FALSE(vqa::models::cpuGeluTanhBf16(x.to(torch::kBFloat16).t())) << "not contiguous";
    EXPECT_FALSE(vqa::models::cpuQuickGeluBf16(x)) << "float32";
    EXPECT_FALSE(vqa::models::cpuQuickGeluBf16(x.to(torch::kBFloat16).t())) << "not contiguous";
}

} // namespace
