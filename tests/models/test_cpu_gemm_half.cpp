// The float16 GEMM for many bfloat16 rows (models/CpuGemmHalf.h) against the exact product
// (float64 over the same bfloat16 operands): within a stated bound on shapes that exercise
// every edge (rows not a multiple of the 6-row tile, columns not a multiple of the 64-column
// panel, odd k, k over several 128-value chunks), rows and columns of wildly different
// scales, what it refuses, the same bytes whatever the thread count, and from weights packed
// once (the "fast" prefill's panels kept by each Linear). Skips, saying why,
// on a CPU without AVX512-FP16.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cstdint>
#include <iostream>
#include <limits>

#include "models/CpuGemmHalf.h"
#include "models/CpuGemv.h"
#include "models/Layers.h"

namespace {

using vqa::models::Bf16Kernels;

#define SKIP_WITHOUT_FP16()                                                                    \
    do {                                                                                       \
        if (!vqa::models::cpuGemmHalfSupported()) {                                            \
            GTEST_SKIP() << "this CPU has no AVX512-FP16: the float16 GEMM does not run here"; \
        }                                                                                      \
    } while (false)

const std::uint16_t* bits(const torch::Tensor& t) {
    return static_cast<const std::uint16_t*>(t.data_ptr());
}

// y = x w^T + bias through the float16 GEMM; undefined when it refuses.
torch::Tensor half(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias = {}) {
    auto y = torch::full({x.size(0), w.size(0)}, 7.0, torch::TensorOptions().dtype(torch::kBFloat16));
    if (!vqa::models::cpuGemmHalfBf16(bits(x), x.size(0), bits(w), w.size(0), w.size(1),
                                      bias.defined() ? bits(bias) : nullptr,
                                      static_cast<std::uint16_t*>(y.data_ptr())))
        return {};
    return y;
}

torch::Tensor exact(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias = {}) {
    auto y = torch::matmul(x.to(torch::kFloat64), w.to(torch::kFloat64).t());
    return bias.defined() ? y + bias.to(torch::kFloat64) : y;
}

double relativeRms(const torch::Tensor& got, const torch::Tensor& want) {
    const auto diff = got.to(torch::kFloat64) - want;
    return (diff.pow(2).mean() / want.pow(2).mean()).sqrt().item<double>();
}

torch::Tensor bf16Randn(std::vector<std::int64_t> shape, double scale = 1.0) {
    return (torch::randn(shape, torch::kFloat64) * scale).to(torch::kBFloat16);
}

TEST(CpuGemmHalf, EveryEdgeWithinAQuarterOfBfloat16sOwnRounding) {
    SKIP_WITHOUT_FP16();
    torch::manual_seed(5);
    struct Shape {
        std::int64_t m, n, k;
    };
    // One row; a tile and one more row; panels and a ragged one; odd k; k of several chunks;
    // rows enough (x over 1.5 MiB in float16) for blocks of rows against shared panels.
    for (const Shape& s : {Shape{1, 1, 1}, Shape{7, 65, 3}, Shape{16, 64, 128}, Shape{37, 100, 77},
                           Shape{97, 130, 300}, Shape{200, 192, 768}, Shape{61, 70, 1025},
                           Shape{1031, 70, 801}}) {
        SCOPED_TRACE(std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k));
        auto x = bf16Randn({s.m, s.k});
        auto w = bf16Randn({s.n, s.k}, 0.05);
        auto bias = bf16Randn({s.n}, 0.1);
        auto got = half(x, w, bias);
        ASSERT_TRUE(got.defined());
        const auto want = exact(x, w, bias);
        // What rounding the exact result to bfloat16 alone costs: the floor for any bfloat16 GEMM.
        const double floor = relativeRms(want.to(torch::kBFloat16), want);
        const double err = relativeRms(got, want);
        std::cout << "[ half     ] " << s.m << "x" << s.n << "x" << s.k << ": relative RMS error " << err
                  << " (bfloat16's rounding alone " << floor << ")\n";
        // Measured 0.20 % against 0.165 % on 768 and more; the bound leaves room for small k,
        // where one rounding weighs more.
        EXPECT_LT(err, 1.5 * floor + 1e-4);
        EXPECT_LT(err, 0.004);
    }
}

TEST(CpuGemmHalf, ScalesPerRowAndColumnKeepTinyAndHugeRowsExact) {
    SKIP_WITHOUT_FP16();
    torch::manual_seed(6);
    // Rows of x and of w far outside float16's range (1e-20, 1e20) and inside it side by side
    // (every product still a normal float32): each row's power-of-two scale brings it into
    // range, so each value of the result is as close, relative to its products, as one of
    // ordinary size.
    auto x = bf16Randn({12, 256});
    auto w = bf16Randn({70, 256}, 0.05);
    const std::vector<double> x_scale = {1e-20, 1e20, 1e-8, 1e8, 1.0, 65504.0};
    const std::vector<double> w_scale = {1e-6, 1e-6, 1e6, 1e-3, 1e3, 1e-1};
    for (std::size_t i = 0; i < x_scale.size(); ++i) {
        x[i].copy_(x[i].to(torch::kFloat64) * x_scale[i]);
        w[i * 7].copy_(w[i * 7].to(torch::kFloat64) * w_scale[i]);
    }
    auto got = half(x, w);
    ASSERT_TRUE(got.defined());
    const auto want = exact(x, w);
    ASSERT_TRUE(torch::isfinite(got).all().item<bool>());
    for (std::int64_t i = 0; i < x.size(0); ++i)
        for (std::int64_t j = 0; j < w.size(0); ++j) {
            // Relative to the products' own size, the scale the result's rounding is measured on.
            const double size =
                (x[i].to(torch::kFloat64).abs() * w[j].to(torch::kFloat64).abs()).sum().item<double>();
            const double diff = std::abs(got[i][j].item<double>() - want[i][j].item<double>());
            EXPECT_LT(diff, 0.01 * size) << "row " << i << ", column " << j;
        }
    // A row of zeros gives the bias exactly.
    auto zeros = torch::zeros({20, 256}, torch::kBFloat16);
    auto bias = bf16Randn({70});
    auto y = half(zeros, w, bias);
    ASSERT_TRUE(y.defined());
    EXPECT_TRUE(torch::equal(y, bias.expand({20, 70})));
}

TEST(CpuGemmHalf, RefusesInfinitiesAndNaNs) {
    SKIP_WITHOUT_FP16();
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    for (const float bad : {inf, -inf, nan}) {
        for (const bool in_x : {true, false}) {
            auto x = bf16Randn({20, 40});
            auto w = bf16Randn({30, 40});
            (in_x ? x : w)[3][17].fill_(bad);
            EXPECT_FALSE(half(x, w).defined()) << bad << (in_x ? " in x" : " in w");
            auto y = torch::full({20, 30}, 7.0, torch::TensorOptions().dtype(torch::kBFloat16));
            EXPECT_FALSE(vqa::models::cpuGemmHalfBf16(bits(x), 20, bits(w), 30, 40, nullptr,
                                                      static_cast<std::uint16_t*>(y.data_ptr())));
            if (in_x) { // x is read before anything is written; w as its panels are used
                EXPECT_TRUE(torch::equal(y, torch::full_like(y, 7.0)));
            }
            // Through a layer it falls back to the widened product, which carries them.
            const auto chosen = vqa::models::bf16Kernels();
            vqa::models::setBf16Kernels(Bf16Kernels::Half);
            auto through = vqa::models::linear(x, w, {});
            vqa::models::setBf16Kernels(Bf16Kernels::Widened);
            auto widened = vqa::models::linear(x, w, {});
            vqa::models::setBf16Kernels(chosen);
            EXPECT_TRUE(torch::equal(torch::isnan(through), torch::isnan(widened)));
            EXPECT_TRUE(torch::equal(torch::isinf(through), torch::isinf(widened)));
        }
    }
    // Nothing to multiply is not a product it makes.
    auto x = bf16Randn({4, 8});
    EXPECT_FALSE(vqa::models::cpuGemmHalfBf16(bits(x), 4, bits(x), 4, 0, nullptr, nullptr));
}

TEST(CpuGemmHalf, Float32RowsWithinBfloat16sRounding) {
    SKIP_WITHOUT_FP16();
    torch::manual_seed(8);
    struct Shape {
        std::int64_t m, n, k;
    };
    // Few rows and many, ragged panels, odd k; rows of very different sizes.
    for (const Shape& s : {Shape{16, 70, 77}, Shape{81, 200, 960}, Shape{1031, 70, 801}}) {
        SCOPED_TRACE(std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k));
        auto x = torch::randn({s.m, s.k}) * torch::exp(torch::randn({s.m, 1}) * 4);
        auto w = torch::randn({s.n, s.k}) * 0.05;
        auto bias = torch::randn({s.n}) * 0.1;
        auto y = torch::full({s.m, s.n}, 7.0f);
        ASSERT_TRUE(vqa::models::cpuGemmHalfF32(x.data_ptr<float>(), s.m, w.data_ptr<float>(), s.n, s.k,
                                                bias.data_ptr<float>(), y.data_ptr<float>()));
        const auto want = torch::matmul(x.to(torch::kFloat64), w.to(torch::kFloat64).t()) + bias.to(torch::kFloat64);
        // Row by row: rows of different sizes are each as exact as any.
        const auto err = ((y.to(torch::kFloat64) - want).pow(2).mean(1) / want.pow(2).mean(1)).sqrt().max().item<double>();
        std::cout << "[ half f32 ] " << s.m << "x" << s.n << "x" << s.k << ": worst row's relative RMS error " << err << "\n";
        // Measured 0.12-0.17 %: float16's rounding of x and w and of the partial sums of 128
        // products, about what rounding the result to bfloat16 would cost (0.165 %).
        EXPECT_LT(err, 2.5e-3);
    }
    for (const float bad : {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
        auto x = torch::randn({20, 40}), w = torch::randn({30, 40}), y = torch::empty({20, 30});
        x[5][9] = bad;
        EXPECT_FALSE(vqa::models::cpuGemmHalfF32(x.data_ptr<float>(), 20, w.data_ptr<float>(), 30, 40, nullptr,
                                                 y.data_ptr<float>()));
        x[5][9] = 0.0f;
        w[29][39] = bad;
        EXPECT_FALSE(vqa::models::cpuGemmHalfF32(x.data_ptr<float>(), 20, w.data_ptr<float>(), 30, 40, nullptr,
                                                 y.data_ptr<float>()));
    }
}

TEST(CpuGemmHalf, TheSameBytesOnOneThreadAsOnSeveral) {
    SKIP_WITHOUT_FP16();
    // Each value of the result is summed by one thread in one order, so splitting the rows
    // differently changes nothing.
    torch::manual_seed(7);
    // Few rows (each thread its own panels) and many (blocks of rows against shared panels).
    for (const std::int64_t rows : {301, 1031}) {
        auto x = bf16Randn({rows, 801});
        auto w = bf16Randn({150, 801}, 0.05);
        const int threads = at::get_num_threads();
        at::set_num_threads(1);
        auto one = half(x, w);
        at::set_num_threads(std::max(2, threads));
        auto several = half(x, w);
        at::set_num_threads(threads);
        ASSERT_TRUE(one.defined() && several.defined());
        EXPECT_TRUE(torch::equal(one, several)) << rows << " rows";
    }
}

TEST(CpuGemmHalf, ALinearLayerOfManyRowsTakesItWhenChosen) {
    SKIP_WITHOUT_FP16();
    // A layer's input of any leading shape, with a bias: the float16 GEMM's result has its
    // shape and dtype and is within the bound of the widened product; below 16 rows the
    // layer keeps its own paths.
    torch::manual_seed(8);
    auto x = bf16Randn({3, 40, 96});
    auto w = bf16Randn({80, 96}, 0.05);
    auto bias = bf16Randn({80}, 0.1);
    const auto chosen = vqa::models::bf16Kernels();
    vqa::models::setBf16Kernels(Bf16Kernels::Half);
    auto y = vqa::models::linear(x, w, bias);
    vqa::models::setBf16Kernels(chosen);
    EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
    ASSERT_EQ(y.sizes(), (std::vector<std::int64_t>{3, 40, 80}));
    const auto want = exact(x.reshape({-1, 96}), w, bias).reshape({3, 40, 80});
    EXPECT_LT(relativeRms(y, want), 1.5 * relativeRms(want.to(torch::kBFloat16), want) + 1e-4);
    auto direct = half(x.reshape({-1, 96}), w, bias);
    EXPECT_TRUE(torch::equal(y.reshape({-1, 80}), direct));
}

TEST(CpuGemmHalf, Float32LayersTakeItOnlyUnderTheFastPrecisionsScope) {
    SKIP_WITHOUT_FP16();
    // Float32 products stay float32 (the parity mode) unless a HalfFloat32Rows is on, and then
    // only from 16 rows (a prefill; a decode step stays exact) and only where Half is chosen.
    torch::manual_seed(9);
    auto x = torch::randn({2, 24, 96});
    auto w = torch::randn({80, 96}) * 0.05;
    auto bias = torch::randn({80}) * 0.1;
    const auto reference = at::linear(x, w, bias);
    const auto chosen = vqa::models::bf16Kernels();
    vqa::models::setBf16Kernels(Bf16Kernels::Half);
    const auto outside = vqa::models::linear(x, w, bias);
    torch::Tensor inside, few, widened;
    {
        vqa::models::HalfFloat32Rows fast(true);
        inside = vqa::models::linear(x, w, bias);
        few = vqa::models::linear(x.narrow(1, 0, 7), w, bias);
        vqa::models::setBf16Kernels(Bf16Kernels::Widened);
        widened = vqa::models::linear(x, w, bias);
        vqa::models::setBf16Kernels(Bf16Kernels::Half);
    }
    const auto after = vqa::models::linear(x, w, bias);
    vqa::models::setBf16Kernels(chosen);
    EXPECT_TRUE(torch::allclose(outside, reference, 1e-5, 1e-6)) << "float32 outside the scope";
    EXPECT_TRUE(torch::allclose(after, reference, 1e-5, 1e-6)) << "float32 again once the scope ends";
    EXPECT_TRUE(torch::allclose(widened, reference, 1e-5, 1e-6)) << "float32 where Half is not the choice";
    EXPECT_TRUE(torch::allclose(few, reference.narrow(1, 0, 7), 1e-5, 1e-6)) << "float32 for fewer than 16 rows";
    ASSERT_EQ(inside.sizes(), reference.sizes());
    EXPECT_EQ(inside.scalar_type(), torch::kFloat32);
    const double err = relativeRms(inside, reference.to(torch::kFloat64));
    EXPECT_GT(err, 1e-5) << "the float16 GEMM did not run";
    EXPECT_LT(err, 2.5e-3);
}

TEST(CpuGemmHalf, AWeightPackedOnceGivesTheSameBytes) {
    SKIP_WITHOUT_FP16();
    // The panels packed beforehand are the ones the product packs for itself: the same bytes,
    // few rows (each panel passing every row) and many (blocks of rows), odd k, ragged panels.
    torch::manual_seed(10);
    for (const std::int64_t rows : {16, 81, 1031}) {
        SCOPED_TRACE(std::to_string(rows) + " rows");
        auto x = torch::randn({rows, 801}), w = torch::randn({150, 801}) * 0.05, bias = torch::randn({150});
        vqa::models::HalfPackedWeight packed;
        ASSERT_TRUE(vqa::models::cpuGemmHalfPackF32(w.data_ptr<float>(), 150, 801, &packed));
        EXPECT_EQ(packed.n, 150);
        EXPECT_EQ(packed.k, 801);
        EXPECT_EQ(packed.bytes(), std::size_t(192 * 401 * 4 + 192 * 4)) << "3 panels of 64 rows, 401 pairs";
        EXPECT_EQ(std::int64_t(packed.bytes()), vqa::models::halfPackedBytes(150, 801));
        auto direct = torch::full({rows, 150}, 7.0f), from_packed = torch::full({rows, 150}, 7.0f);
        ASSERT_TRUE(vqa::models::cpuGemmHalfF32(x.data_ptr<float>(), rows, w.data_ptr<float>(), 150, 801,
                                                bias.data_ptr<float>(), direct.data_ptr<float>()));
        ASSERT_TRUE(vqa::models::cpuGemmHalfPackedF32(x.data_ptr<float>(), rows, packed, bias.data_ptr<float>(),
                                                      from_packed.data_ptr<float>()));
        EXPECT_TRUE(torch::equal(direct, from_packed));
        // An infinity in x is refused as before; in w, the packing refuses it.
        x[rows - 1][3] = std::numeric_limits<float>::infinity();
        EXPECT_FALSE(vqa::models::cpuGemmHalfPackedF32(x.data_ptr<float>(), rows, packed, nullptr,
                                                       from_packed.data_ptr<float>()));
    }
    auto w = torch::randn({70, 40});
    w[69][39] = std::numeric_limits<float>::quiet_NaN();
    vqa::models::HalfPackedWeight packed;
    EXPECT_FALSE(vqa::models::cpuGemmHalfPackF32(w.data_ptr<float>(), 70, 40, &packed));
    EXPECT_TRUE(packed.panels.empty());
}

TEST(CpuGemmHalf, ALinearKeepsItsPackedPanelsUnderTheFastPrecision) {
    SKIP_WITHOUT_FP16();
    // A float32 Linear under HalfFloat32Rows packs its weight at its first product of many rows
    // and reuses the panels: the same bytes as packing each time, the bytes counted while the
    // Linear lives; another weight is never served from them; one row packs nothing.
    torch::manual_seed(11);
    const auto chosen = vqa::models::bf16Kernels();
    vqa::models::setBf16Kernels(Bf16Kernels::Half);
    auto x = torch::randn({2, 30, 96});
    const std::int64_t before = vqa::models::HalfPanelsCache::bytesKept();
    ASSERT_GT(vqa::models::HalfPanelsCache::budget(), 0);
    torch::Tensor uncached, first, second, other, other_uncached, one_row;
    std::int64_t while_alive = 0;
    {
        vqa::models::Linear layer;
        layer.weight = torch::randn({80, 96}) * 0.05;
        layer.bias = torch::randn({80}) * 0.1;
        vqa::models::HalfFloat32Rows fast(true);
        one_row = layer(x.narrow(1, 0, 1));
        EXPECT_EQ(vqa::models::HalfPanelsCache::bytesKept(), before) << "one row takes the float32 loops";
        uncached = vqa::models::linear(x, layer.weight, layer.bias);
        EXPECT_EQ(vqa::models::HalfPanelsCache::bytesKept(), before) << "no cache, nothing kept";
        first = layer(x);
        while_alive = vqa::models::HalfPanelsCache::bytesKept() - before;
        second = layer(x);
        // A copy shares the cache; with another weight it must not use the panels.
        vqa::models::Linear copy = layer;
        copy.weight = layer.weight * 2;
        other = copy(x);
        other_uncached = vqa::models::linear(x, copy.weight, copy.bias);
        EXPECT_EQ(vqa::models::HalfPanelsCache::bytesKept() - before, while_alive);
    }
    vqa::models::setBf16Kernels(chosen);
    EXPECT_EQ(while_alive, 128 * 48 * 4 + 128 * 4) << "two panels of 64 rows, 48 pairs, and their scales";
    EXPECT_EQ(vqa::models::HalfPanelsCache::bytesKept(), before) << "given back with the Linear";
    EXPECT_TRUE(torch::equal(first, uncached));
    EXPECT_TRUE(torch::equal(second, uncached));
    EXPECT_TRUE(torch::equal(other, other_uncached)) << "the other weight's own product";
    EXPECT_FALSE(torch::equal(other, uncached));
}

} // namespace
