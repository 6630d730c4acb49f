// The float32 product of a few rows (models/CpuGemmF32.h) against the exact product (float64)
// and LibTorch's: every tile shape and tail (rows of x 2..13 and a prompt's, weight rows not a
// multiple of 4, k not a multiple of 16 and shorter than one vector), a bias, NaN and infinity
// carried to their rows only, what linear() hands it and what it refuses. Skips, saying why, on
// a CPU without AVX-512.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "models/CpuGemmF32.h"
#include "models/Layers.h"

namespace {

using vqa::models::cpuF32RowsLinear;
using vqa::models::cpuGemmF32;
using vqa::models::F32Rows;

#define SKIP_WITHOUT_AVX512()                                                                                   \
    if (!vqa::models::cpuGemmF32Supported())                                                                    \
    GTEST_SKIP() << "this CPU has no AVX-512: the float32 product of a few rows is LibTorch's here"

// Sets the choice for one test and puts back measuring at first use.
struct Choice {
    explicit Choice(F32Rows rows) { vqa::models::setF32Rows(rows); }
    ~Choice() { vqa::models::setF32Rows(F32Rows::Auto); }
};

torch::Tensor ours(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    auto y = torch::full({x.size(0), w.size(0)}, 12345.0f);
    EXPECT_TRUE(cpuGemmF32(x.data_ptr<float>(), x.size(0), w.data_ptr<float>(), w.size(0), w.size(1),
                           b.defined() ? b.data_ptr<float>() : nullptr, y.data_ptr<float>()));
    return y;
}

// Within float32's rounding of a sum of k products of this size, against the exact product.
void expectExact(const torch::Tensor& y, const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                 const std::string& what) {
    auto exact = at::matmul(x.to(torch::kFloat64), w.to(torch::kFloat64).t());
    if (b.defined())
        exact = exact + b.to(torch::kFloat64);
    const double k = double(std::max<std::int64_t>(1, x.size(1)));
    const double tol = 4e-7 * std::sqrt(k) * (1.0 + x.abs().max().item<double>() * w.abs().max().item<double>());
    const double err = (y.to(torch::kFloat64) - exact).abs().max().item<double>();
    EXPECT_LE(err, tol) << what;
}

TEST(CpuGemmF32, EveryTileAndTail) {
    SKIP_WITHOUT_AVX512();
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    const auto f = torch::TensorOptions().dtype(torch::kFloat32);
    for (std::int64_t m : {2, 3, 4, 5, 6, 7, 8, 12, 13, 86, 256})
        for (std::int64_t n : {1, 3, 4, 5, 16, 17, 37, 100})
            for (std::int64_t k : {1, 15, 16, 17, 64, 200}) {
                auto x = at::randn({m, k}, gen, f), w = at::randn({n, k}, gen, f), b = at::randn({n}, gen, f);
                const auto what = "m " + std::to_string(m) + ", n " + std::to_string(n) + ", k " + std::to_string(k);
                expectExact(ours(x, w, {}), x, w, {}, what);
                expectExact(ours(x, w, b), x, w, b, what + ", bias");
            }
}

TEST(CpuGemmF32, DecoderShapesMatchLibTorch) {
    SKIP_WITHOUT_AVX512();
    // SmolVLM-256M's and -500M's products at a prompt's 86 rows, and a follow-up's 20: within a
    // reordered float32 sum of LibTorch's result.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
    const auto f = torch::TensorOptions().dtype(torch::kFloat32);
    for (std::int64_t m : {20, 86})
        for (auto [n, k] : {std::pair<std::int64_t, std::int64_t>{960, 576}, {3072, 576}, {576, 1536}, {1600, 960},
                            {960, 2560}}) {
            auto x = at::randn({m, k}, gen, f), w = at::randn({n, k}, gen, f) * 0.05;
            auto y = ours(x, w, {});
            expectExact(y, x, w, {}, "m " + std::to_string(m) + ", " + std::to_string(n) + " x " + std::to_string(k));
            EXPECT_TRUE(torch::allclose(y, at::linear(x, w), 1e-5, 1e-5));
        }
}

TEST(CpuGemmF32, NanAndInfinityStayInTheirRows) {
    SKIP_WITHOUT_AVX512();
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    const auto f = torch::TensorOptions().dtype(torch::kFloat32);
    auto x = at::randn({9, 40}, gen, f), w = at::randn({11, 40}, gen, f);
    x[2][33] = std::numeric_limits<float>::quiet_NaN();
    x[7][3] = std::numeric_limits<float>::infinity();
    auto y = ours(x, w, {});
    EXPECT_TRUE(y[2].isnan().all().item<bool>());
    EXPECT_TRUE((y[7].isinf() | y[7].isnan()).all().item<bool>()); // +-inf, or NaN where a weight is 0
    auto rest = torch::cat({y.narrow(0, 0, 2), y.narrow(0, 3, 4), y.narrow(0, 8, 1)});
    EXPECT_TRUE(rest.isfinite().all().item<bool>());
    expectExact(rest, torch::cat({x.narrow(0, 0, 2), x.narrow(0, 3, 4), x.narrow(0, 8, 1)}), w, {}, "finite rows");
}

TEST(CpuGemmF32, EmptyProducts) {
    SKIP_WITHOUT_AVX512();
    auto b = torch::tensor({1.5f, -2.0f, 0.25f});
    auto y = torch::full({2, 3}, 7.0f);
    float none = 0;
    EXPECT_TRUE(cpuGemmF32(&none, 2, &none, 3, 0, b.data_ptr<float>(), y.data_ptr<float>()));
    EXPECT_TRUE(torch::equal(y, b.expand({2, 3})));
    EXPECT_TRUE(cpuGemmF32(&none, 2, &none, 3, 0, nullptr, y.data_ptr<float>()));
    EXPECT_TRUE(torch::equal(y, torch::zeros({2, 3})));
}

TEST(CpuGemmF32, LinearTakesItWhereItApplies) {
    SKIP_WITHOUT_AVX512();
    Choice choice(F32Rows::Ours);
    torch::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
    const auto f = torch::TensorOptions().dtype(torch::kFloat32);
    auto w = at::randn({24, 50}, gen, f), b = at::randn({24}, gen, f);
    // Any leading shape, the bias added; through linear() as the models call it.
    auto x = at::randn({2, 5, 50}, gen, f);
    auto y = cpuF32RowsLinear(x, w, b);
    ASSERT_TRUE(y.defined());
    EXPECT_EQ(y.sizes(), (std::vector<std::int64_t>{2, 5, 24}));
    expectExact(y.reshape({10, 24}), x.reshape({10, 50}), w, b, "leading shape");
    EXPECT_TRUE(torch::allclose(vqa::models::linear(x, w, b), at::linear(x, w, b), 1e-5, 1e-5));
    // A transposed x is read as its values, not its memory.
    auto xt = at::randn({50, 6}, gen, f).t();
    expectExact(cpuF32RowsLinear(xt, w, {}), xt.contiguous(), w, {}, "transposed x");
    // Refused: one row (the decode's own loops), more than kCpuGemmF32MaxRows, bfloat16, a
    // weight that is not contiguous, a bias of another size, gradients.
    EXPECT_FALSE(cpuF32RowsLinear(x[0][0], w, b).defined());
    EXPECT_FALSE(cpuF32RowsLinear(at::randn({vqa::models::kCpuGemmF32MaxRows + 1, 50}, gen, f), w, b).defined());
    EXPECT_TRUE(cpuF32RowsLinear(at::randn({vqa::models::kCpuGemmF32MaxRows, 50}, gen, f), w, b).defined());
    EXPECT_FALSE(cpuF32RowsLinear(x.to(torch::kBFloat16), w.to(torch::kBFloat16), {}).defined());
    EXPECT_FALSE(cpuF32RowsLinear(x, at::randn({50, 24}, gen, f).t(), {}).defined());
    EXPECT_FALSE(cpuF32RowsLinear(x, w, at::randn({23}, gen, f)).defined());
    {
        torch::AutoGradMode grad(true);
        auto xg = x.clone().requires_grad_(true);
        EXPECT_FALSE(cpuF32RowsLinear(xg, w, b).defined());
        // linear() then takes LibTorch's way, gradients included.
        vqa::models::linear(xg, w, b).sum().backward();
        EXPECT_TRUE(xg.grad().defined());
    }
}

TEST(CpuGemmF32, NativeChoiceLeavesItToLibTorch) {
    Choice choice(F32Rows::Native);
    auto x = torch::randn({8, 32}), w = torch::randn({16, 32});
    EXPECT_FALSE(cpuF32RowsLinear(x, w, {}).defined());
}

TEST(CpuGemmF32, MeasuredBothWays) {
    const auto t = vqa::models::measureF32Rows();
    EXPECT_GT(t.native_ms, 0.0);
    if (vqa::models::cpuGemmF32Supported())
        EXPECT_GT(t.ours_ms, 0.0);
    else
        EXPECT_EQ(t.ours_ms, 0.0);
    EXPECT_EQ((vqa::models::F32RowsTimes{2.0, 1.0}).fastest(), F32Rows::Ours);
    EXPECT_EQ((vqa::models::F32RowsTimes{1.0, 2.0}).fastest(), F32Rows::Native);
    EXPECT_EQ((vqa::models::F32RowsTimes{1.0, 0.0}).fastest(), F32Rows::Native); // ours cannot run
}

} // namespace
