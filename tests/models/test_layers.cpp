#include <gtest/gtest.h>

#include <iostream>

#include "models/CpuGemv.h"
#include "models/Layers.h"

TEST(Layers, RmsNormMatchesDefinition) {
    torch::manual_seed(0);
    auto x = torch::randn({3, 8});
    auto w = torch::randn({8});
    auto y = vqa::models::rmsNorm(x, w, 1e-5);
    for (int r = 0; r < 3; ++r) {
        double ms = 0;
        for (int c = 0; c < 8; ++c)
            ms += x[r][c].item<double>() * x[r][c].item<double>();
        ms /= 8;
        for (int c = 0; c < 8; ++c)
            EXPECT_NEAR(y[r][c].item<double>(),
                        x[r][c].item<double>() / std::sqrt(ms + 1e-5) * w[c].item<double>(), 1e-5);
    }
}

TEST(Layers, RotaryPairsDimensionIWithIPlusHalf) {
    // rotate_half: for position p and frequency f_i, (x_i, x_{i+D/2}) turns by the angle p f_i.
    const int d = 8;
    auto rot = vqa::models::Rotary::make(d, 10000.0, torch::kCPU);
    auto [cos, sin] = rot.cosSin(torch::tensor({std::int64_t(3)}), torch::kFloat32);
    auto x = torch::randn({1, d});
    auto y = vqa::models::applyRotary(x, cos, sin);
    for (int i = 0; i < d / 2; ++i) {
        const double angle = 3.0 / std::pow(10000.0, 2.0 * i / d);
        const double a = x[0][i].item<double>(), b = x[0][i + d / 2].item<double>();
        EXPECT_NEAR(y[0][i].item<double>(), a * std::cos(angle) - b * std::sin(angle), 1e-5);
        EXPECT_NEAR(y[0][i + d / 2].item<double>(), b * std::cos(angle) + a * std::sin(angle),
                    1e-5);
    }
}

TEST(Layers, GroupedQueryAttentionSharesEachKeyHeadAcrossItsGroup) {
    torch::manual_seed(1);
    auto q = torch::randn({1, 4, 5, 8}), k = torch::randn({1, 2, 5, 8}),
         v = torch::randn({1, 2, 5, 8});
    auto out = vqa::models::attention(q, k, v, torch::Tensor(), /*causal=*/true, 0.25);
    for (int h = 0; h < 4; ++h) {
        auto kh = k[0][h / 2], vh = v[0][h / 2]; // heads 0,1 -> kv 0; heads 2,3 -> kv 1
        auto scores = torch::matmul(q[0][h], kh.t()) * 0.25;
        scores = scores.masked_fill(torch::ones({5, 5}, torch::kBool).triu(1), -INFINITY);
        auto expected = torch::matmul(torch::softmax(scores, -1), vh);
        EXPECT_TRUE(torch::allclose(out[0][h], expected, 1e-5, 1e-6)) << "head " << h;
    }
}

TEST(Layers, FusedLinearEqualsItsParts) {
    torch::manual_seed(2);
    vqa::models::Linear a{torch::randn({3, 4}), torch::randn({3}), nullptr},
        b{torch::randn({2, 4}), torch::Tensor(), nullptr};
    auto fused = vqa::models::fuseLinears({a, b});
    auto x = torch::randn({5, 4});
    auto y = fused(x);
    EXPECT_TRUE(torch::allclose(y.narrow(1, 0, 3), a(x), 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(y.narrow(1, 3, 2), b(x), 1e-5, 1e-6));
}

TEST(Layers, Bfloat16KernelsAreMeasuredNotAssumed) {
    // Auto measures both ways on this CPU at first use and settles on one; a choice set stays.
    const auto chosen = vqa::models::bf16Kernels();
    const auto t = vqa::models::measureBf16Kernels();
    std::cout << "bfloat16 products of 256 rows: LibTorch's kernels " << t.native_ms << " ms, widened to float32 "
              << t.widened_ms << " ms, float16 GEMM " << t.half_ms << " ms (0: no AVX512-FP16)\n";
    EXPECT_GT(t.native_ms, 0.0);
    EXPECT_GT(t.widened_ms, 0.0);
    vqa::models::setBf16Kernels(vqa::models::Bf16Kernels::Auto);
    const auto measured = vqa::models::bf16Kernels();
    EXPECT_NE(measured, vqa::models::Bf16Kernels::Auto);
    vqa::models::setBf16Kernels(vqa::models::Bf16Kernels::Native);
    EXPECT_EQ(vqa::models::bf16Kernels(), vqa::models::Bf16Kernels::Native);
    EXPECT_FALSE(vqa::models::cpuBf16RowsApply(torch::ones({32, 8}, torch::kBFloat16), torch::ones({4, 8}, torch::kBFloat16)));
    vqa::models::setBf16Kernels(vqa::models::Bf16Kernels::Half);
    EXPECT_TRUE(vqa::models::cpuBf16RowsApply(torch::ones({32, 8}, torch::kBFloat16), torch::ones({4, 8}, torch::kBFloat16)));
    vqa::models::setBf16Kernels(chosen);
}

TEST(Layers, ManyBfloat16QueriesOnTheCpuAttendInFloat32) {
    // With widened kernels (chosen where they are faster, CpuGemv.h), an image's patches in
    // bfloat16 attend through the float32 kernel on widened inputs: the output is bfloat16, of
    // the same shape, and at least as close to the float32 attention as LibTorch's bfloat16
    // kernel, for plain, masked, causal and grouped-query attention. Forced here, whatever
    // this CPU chose.
    const auto chosen = vqa::models::bf16Kernels();
    torch::manual_seed(2);
    auto q = torch::randn({2, 4, 64, 32}).to(torch::kBFloat16);
    auto k = torch::randn({2, 2, 64, 32}).to(torch::kBFloat16);
    auto v = torch::randn({2, 2, 64, 32}).to(torch::kBFloat16);
    auto keep = torch::rand({2, 1, 1, 64}) > 0.2;
    keep.select(3, 0).fill_(true); // every query sees a key
    struct Case {
        const char* name;
        torch::Tensor q, k, v, mask;
        bool causal;
    };
    auto kk = k.repeat_interleave(2, 1), vv = v.repeat_interleave(2, 1);
    for (const Case& c : {Case{"plain", q, kk, vv, {}, false}, Case{"masked", q, kk, vv, keep, false},
                          Case{"causal", q, kk, vv, {}, true}, Case{"grouped", q, k, v, {}, true}}) {
        SCOPED_TRACE(c.name);
        auto exact = vqa::models::attention(c.q.to(torch::kFloat32), c.k.to(torch::kFloat32),
                                            c.v.to(torch::kFloat32), c.mask, c.causal, 0.2);
        vqa::models::setBf16Kernels(vqa::models::Bf16Kernels::Widened);
        auto widened = vqa::models::attention(c.q, c.k, c.v, c.mask, c.causal, 0.2);
        vqa::models::setBf16Kernels(vqa::models::Bf16Kernels::Native);
        auto plain = vqa::models::attention(c.q, c.k, c.v, c.mask, c.causal, 0.2);
        vqa::models::setBf16Kernels(chosen);
        ASSERT_EQ(widened.scalar_type(), torch::kBFloat16);
        ASSERT_EQ(widened.sizes(), plain.sizes());
        const double to_widened = (widened.to(torch::kFloat32) - exact).abs().max().item<double>();
        const double to_plain = (plain.to(torch::kFloat32) - exact).abs().max().item<double>();
        std::cout << c.name << ": largest difference to float32, widened " << to_widened
                  << ", bfloat16 kernel " << to_plain << "\n";
        EXPECT_LE(to_widened, to_plain + 1e-6) << "widened " << to_widened << ", bfloat16 kernel " << to_plain;
        EXPECT_LT(to_widened, 0.02); // one bfloat16 rounding of values of order 1
    }
}
