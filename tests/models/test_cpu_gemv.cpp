#include <gtest/gtest.h>

#include "models/CpuGemv.h"
#include "models/Layers.h"

namespace {

// The reference: the same product in float64 from the same (rounded) inputs.
torch::Tensor exact(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    auto y = at::matmul(x.to(torch::kFloat64), w.to(torch::kFloat64).t());
    return b.defined() ? y + b.to(torch::kFloat64) : y;
}

class CpuGemv : public ::testing::TestWithParam<torch::ScalarType> {};

TEST_P(CpuGemv, MatchesTheProductForAwkwardShapes) {
    const auto dtype = GetParam();
    torch::manual_seed(3);
    // Widths with and without a partial last vector, row counts not a multiple of four.
    for (auto [rows, k] : {std::pair<int, int>{7, 576}, {1729, 37}, {3, 1}, {130, 2560}}) {
        auto w = torch::randn({rows, k}).to(dtype);
        auto x = torch::randn({1, 1, k}).to(dtype);
        auto b = torch::randn({rows}).to(dtype);
        if (!vqa::models::cpuGemvApplies(x, w))
            GTEST_SKIP() << "this CPU lacks the instructions for " << c10::toString(dtype);
        auto y = vqa::models::cpuGemv(x, w, b);
        ASSERT_EQ(y.sizes(), (std::vector<std::int64_t>{1, 1, rows}));
        ASSERT_EQ(y.scalar_type(), dtype);
        auto want = exact(x, w, b);
        // float32 accumulation; bfloat16 adds one rounding of the result (8 bits).
        const double rtol = dtype == torch::kBFloat16 ? 8e-3 : 1e-5;
        const double atol = (dtype == torch::kBFloat16 ? 1e-2 : 1e-4) * std::sqrt(double(k));
        EXPECT_TRUE(torch::allclose(y.to(torch::kFloat64), want, rtol, atol))
            << rows << "x" << k << " max diff "
            << (y.to(torch::kFloat64) - want).abs().max().item<double>();
    }
}

TEST_P(CpuGemv, SeveralBFloat16RowsReadTheWeightsOnceAndMatchTheProduct) {
    const auto dtype = GetParam();
    torch::manual_seed(5);
    if (dtype != torch::kBFloat16)
        GTEST_SKIP() << "several rows take the loops in bfloat16 only (float32: at::linear)";
    // 2..8 rows: groups of four inputs, a last group of 1-3; widths with a partial last vector;
    // weight rows not a multiple of four.
    for (std::int64_t m = 2; m <= vqa::models::kCpuGemvMaxRows; ++m) {
        for (auto [rows, k] : {std::pair<int, int>{7, 576}, {131, 37}, {64, 2560}}) {
            auto w = torch::randn({rows, k}).to(dtype);
            auto x = torch::randn({m, k}).to(dtype);
            auto b = torch::randn({rows}).to(dtype);
            if (!vqa::models::cpuGemvApplies(x, w))
                GTEST_SKIP() << "this CPU lacks the instructions for " << c10::toString(dtype);
            auto y = vqa::models::cpuGemv(x, w, b);
            ASSERT_EQ(y.sizes(), (std::vector<std::int64_t>{m, rows}));
            auto want = exact(x, w, b);
            EXPECT_TRUE(torch::allclose(y.to(torch::kFloat64), want, 8e-3, 1e-2 * std::sqrt(double(k))))
                << m << " rows, " << rows << "x" << k << " max diff "
                << (y.to(torch::kFloat64) - want).abs().max().item<double>();
            // Each row exactly as the one-row loops give it alone.
            for (std::int64_t j = 0; j < m; ++j)
                EXPECT_TRUE(torch::equal(y[j], vqa::models::cpuGemv(x[j], w, b))) << m << " rows, row " << j;
        }
    }
    EXPECT_FALSE(vqa::models::cpuGemvApplies(torch::randn({vqa::models::kCpuGemvMaxRows + 1, 37}).to(dtype),
                                             torch::randn({8, 37}).to(dtype)));
}

TEST_P(CpuGemv, LinearTakesItForOneRowAndAgreesWithAtLinear) {
    const auto dtype = GetParam();
    torch::manual_seed(4);
    auto w = torch::randn({64, 96}).to(dtype);
    auto one = torch::randn({1, 96}).to(dtype);
    if (!vqa::models::cpuGemvApplies(one, w))
        GTEST_SKIP() << "this CPU lacks the instructions for " << c10::toString(dtype);
    // Several rows: bfloat16 only (the rows of a batched decode step).
    EXPECT_EQ(vqa::models::cpuGemvApplies(torch::randn({2, 96}).to(dtype), w), dtype == torch::kBFloat16);
    EXPECT_FALSE(vqa::models::cpuGemvApplies(one.to(torch::kFloat64), w));
    EXPECT_FALSE(vqa::models::cpuGemvApplies(torch::randn({1, 96}, torch::requires_grad()),
                                             w.to(torch::kFloat32)));
    auto fast = vqa::models::linear(one, w);
    auto slow = at::linear(one, w);
    const double tol = dtype == torch::kBFloat16 ? 5e-2 : 1e-4;
    EXPECT_TRUE(torch::allclose(fast.to(torch::kFloat32), slow.to(torch::kFloat32), tol, tol));
    vqa::models::setCpuGemvDisabled(true);
    EXPECT_FALSE(vqa::models::cpuGemvApplies(one, w));
    vqa::models::setCpuGemvDisabled(false);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CpuGemv, ::testing::Values(torch::kFloat32, torch::kBFloat16),
                         [](const auto& info) { return std::string(c10::toString(info.param)); });

} // namespace
