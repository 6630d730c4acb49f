// Weight quantization (models/quant, models/QuantizedLinear): the formats' bytes against the
// numpy reference and GGUF's own quantizer (tests/reference/make_quant.py), and every
// instruction set's matrix-vector loops against dequantize-then-multiply in float64.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <cstring>
#include <random>

#include <torch/torch.h>

#include "engine/io/SafetensorsFile.h"
#include "models/CpuGemv.h"
#include "models/QuantizedLinear.h"
#include "models/base/Error.h"
#include "models/quant/QuantKernels.h"
#include "tests/common/TestPaths.h"

namespace {

using vqa::models::QuantFormat;
using vqa::models::QuantIsa;

const QuantFormat kFormats[] = {QuantFormat::Q8_0, QuantFormat::Q4_0, QuantFormat::Q4_1};

std::vector<float> randomVector(std::int64_t n, std::mt19937& rng, float scale = 1.0f) {
    std::normal_distribution<float> normal(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v)
        x = normal(rng);
    return v;
}

std::vector<std::uint8_t> quantizeAll(QuantFormat f, const std::vector<float>& w, std::int64_t rows,
                                      std::int64_t k, QuantIsa isa = vqa::models::activeQuantIsa()) {
    const auto row_bytes = vqa::models::quantRowBytes(f, k);
    std::vector<std::uint8_t> q(rows * row_bytes);
    for (std::int64_t r = 0; r < rows; ++r)
        vqa::models::quantizeRow(isa, f, w.data() + r * k, k, q.data() + r * row_bytes);
    return q;
}

// Each block's scale magnitudes as the loops see them, per weight: what a float32 rounding
// error is relative to. Q8_0: |w|. Q4_0 sums d q and subtracts 8 d: 23 |d| at most. Q4_1: the
// 15 |d| of the codes plus |m|.
double errorScale(QuantFormat f, const std::uint8_t* block, float w) {
    const double d = std::fabs(static_cast<float>(c10::Half(*reinterpret_cast<const std::uint16_t*>(block), c10::Half::from_bits())));
    switch (f) {
    case QuantFormat::Q8_0: return std::fabs(w);
    case QuantFormat::Q4_0: return 23 * d;
    case QuantFormat::Q4_1: {
        const double m = std::fabs(static_cast<float>(
            c10::Half(*reinterpret_cast<const std::uint16_t*>(block + 2), c10::Half::from_bits())));
        return 15 * d + m;
    }
    case QuantFormat::None: break;
    }
    return 0;
}

TEST(Quant, FormatsHaveLlamaCppBlockSizes) {
    EXPECT_EQ(vqa::models::quantBlockBytes(QuantFormat::Q8_0), 34);
    EXPECT_EQ(vqa::models::quantBlockBytes(QuantFormat::Q4_0), 18);
    EXPECT_EQ(vqa::models::quantBlockBytes(QuantFormat::Q4_1), 20);
    EXPECT_EQ(vqa::models::quantRowBytes(QuantFormat::Q4_0, 100), 4 * 18);
    QuantFormat f;
    EXPECT_TRUE(vqa::models::parseQuantFormat("q4_1", f));
    EXPECT_EQ(f, QuantFormat::Q4_1);
    EXPECT_FALSE(vqa::models::parseQuantFormat("q5_k", f));
}

TEST(Quant, ThisCpuRunsThePortableLoopsAndSaysWhichOthers) {
    const auto isas = vqa::models::supportedQuantIsas();
    ASSERT_FALSE(isas.empty());
    EXPECT_EQ(isas.front(), QuantIsa::Portable);
    std::string names;
    for (auto isa : isas)
        names += std::string(" ") + vqa::models::quantIsaName(isa);
    std::cout << "[ quant    ] loops this CPU runs:" << names << "\n";
    if (std::getenv("VQA_QUANT_ISA") == nullptr) {
        EXPECT_EQ(vqa::models::activeQuantIsa(), isas.back());
    }
}

// The bytes of quantizeRow, with every instruction set's quantizer, equal the numpy
// reference's, and GGUF's own quantizer's where k is whole blocks; dequantizeRow equals the
// reference's dequantization exactly.
TEST(Quant, BytesMatchTheNumpyReferenceAndGguf) {
    const auto path = vqa::test::referenceDir("quant") / "quant.safetensors";
    VQA_SKIP_UNLESS_EXISTS(path, "written by tests/reference/make_quant.py");
    auto file = vqa::SafetensorsFile::open(path.string());
    int gguf_compared = 0;
    for (const std::string name : {"mixed", "uniform", "tail", "narrow"}) {
        auto input = file->tensor("input." + name).contiguous();
        const std::int64_t rows = input.size(0), k = input.size(1);
        std::vector<float> w(input.data_ptr<float>(), input.data_ptr<float>() + rows * k);
        for (auto f : kFormats)
          for (auto isa : vqa::models::supportedQuantIsas()) {
            const std::string fmt = vqa::models::quantFormatName(f);
            SCOPED_TRACE(fmt + " " + name + " " + vqa::models::quantIsaName(isa));
            const auto ours = quantizeAll(f, w, rows, k, isa);
            auto expected = file->tensor(fmt + "." + name).contiguous();
            ASSERT_EQ(static_cast<std::int64_t>(ours.size()), expected.numel());
            EXPECT_EQ(0, std::memcmp(ours.data(), expected.data_ptr(), ours.size()))
                << "quantized bytes differ from the numpy reference";
            if (file->contains("gguf." + fmt + "." + name)) {
                auto gguf = file->tensor("gguf." + fmt + "." + name).contiguous();
                ASSERT_EQ(gguf.numel(), expected.numel());
                EXPECT_EQ(0, std::memcmp(ours.data(), gguf.data_ptr(), ours.size()))
                    << "quantized bytes differ from gguf.quants";
                gguf_compared += isa == QuantIsa::Portable;
            }
            auto deq = file->tensor("dequant." + fmt + "." + name).contiguous();
            std::vector<float> back(k);
            const auto row_bytes = vqa::models::quantRowBytes(f, k);
            for (std::int64_t r = 0; r < rows; ++r) {
                vqa::models::dequantizeRow(f, ours.data() + r * row_bytes, k, back.data());
                for (std::int64_t i = 0; i < k; ++i)
                    ASSERT_EQ(back[i], deq.data_ptr<float>()[r * k + i]) << "row " << r << " col " << i;
            }
        }
    }
    if (gguf_compared == 0)
        std::cout << "[ quant    ] gguf.quants was not available to make_quant.py: compared with numpy only\n";
    else
        EXPECT_EQ(gguf_compared, 6);
}

// Each instruction set's quantizer writes the portable quantizer's bytes on many blocks:
// normal values, ties, zeros of either sign, constant blocks, a padded last block.
TEST(Quant, EveryQuantizerWritesThePortableBytes) {
    std::mt19937 rng(11);
    const std::int64_t rows = 64, k = 32 * 40 + 13;
    auto w = randomVector(rows * k, rng, 0.05f);
    std::uniform_int_distribution<int> ints(-127, 127);
    for (std::int64_t i = 0; i < 32 * 8; ++i)
        w[i] = static_cast<float>(ints(rng));           // integers: exact products, no rounding left
    for (std::int64_t i = 32 * 8; i < 32 * 12; ++i)
        w[i] = 0.5f * static_cast<float>(ints(rng));    // halves: ties
    for (std::int64_t i = 32 * 12; i < 32 * 13; ++i)
        w[i] = (i % 2) ? 0.0f : -0.0f;                  // zeros of both signs
    for (std::int64_t i = 32 * 13; i < 32 * 14; ++i)
        w[i] = -0.75f;                                  // constant
    for (std::int64_t i = 32 * 14; i < 32 * 15; ++i)
        w[i] = (i % 3 == 0) ? 2.0f : ((i % 3 == 1) ? -2.0f : 0.1f);  // equal magnitudes, both signs
    for (auto f : kFormats) {
        const auto reference = quantizeAll(f, w, rows, k, QuantIsa::Portable);
        for (auto isa : vqa::models::supportedQuantIsas()) {
            const auto bytes = quantizeAll(f, w, rows, k, isa);
            EXPECT_EQ(bytes, reference) << vqa::models::quantFormatName(f) << " " << vqa::models::quantIsaName(isa);
        }
    }
}

// Every instruction set the CPU runs, on shapes that are not whole blocks or vectors: the
// loops equal the float64 product of the dequantized weights and the dequantized int8
// activation within float32 rounding (1e-5 of the sum of the magnitudes they add up).
// Dequantizing (what a prefill does to slices of weight rows): every instruction set gives the
// portable loop's floats bit for bit, and as bfloat16 those floats rounded as c10 rounds them;
// rows that end in a partial block, large and small scales, a NaN scale.
TEST(Quant, EveryDequantizerGivesThePortableFloats) {
    std::mt19937 rng(11);
    for (const std::int64_t k : {std::int64_t{32}, std::int64_t{77}, std::int64_t{4096 + 13}}) {
        const std::int64_t rows = 5;
        auto w = randomVector(rows * k, rng);
        for (std::int64_t j = 0; j < k; ++j)
            w[j] *= 3e4f;  // a row of large weights: large scales
        for (auto f : kFormats) {
            auto q = quantizeAll(f, w, rows, k);
            const auto row_bytes = vqa::models::quantRowBytes(f, k);
            const std::uint16_t nan = 0x7E00;  // a float16 NaN as the last row's first scale
            std::memcpy(q.data() + (rows - 1) * row_bytes, &nan, 2);
            for (std::int64_t r = 0; r < rows; ++r) {
                const std::uint8_t* row = q.data() + r * row_bytes;
                std::vector<float> want(k), got(k);
                std::vector<std::uint16_t> bf16(k);
                vqa::models::dequantizeRow(QuantIsa::Portable, f, row, k, want.data());
                for (auto isa : vqa::models::supportedQuantIsas()) {
                    SCOPED_TRACE(std::string(vqa::models::quantIsaName(isa)) + " " + vqa::models::quantFormatName(f) +
                                 " k=" + std::to_string(k) + " row " + std::to_string(r));
                    vqa::models::dequantizeRow(isa, f, row, k, got.data());
                    vqa::models::dequantizeRowBf16(isa, f, row, k, bf16.data());
                    for (std::int64_t j = 0; j < k; ++j) {
                        ASSERT_TRUE(std::memcmp(&got[j], &want[j], 4) == 0 || (std::isnan(got[j]) && std::isnan(want[j])))
                            << "weight " << j << ": " << got[j] << " vs " << want[j];
                        ASSERT_EQ(bf16[j], c10::BFloat16(want[j]).x) << "weight " << j;
                    }
                }
            }
        }
    }
}

TEST(Quant, EveryInstructionSetEqualsDequantizeThenMultiply) {
    std::mt19937 rng(7);
    for (auto isa : vqa::models::supportedQuantIsas())
        for (auto f : kFormats)
            for (auto [rows, k] : {std::pair<std::int64_t, std::int64_t>{1, 7}, {3, 32}, {5, 33},
                                   {7, 100}, {13, 256}, {4, 1000}, {2, 4096 + 96}, {21, 64}}) {
                SCOPED_TRACE(std::string(vqa::models::quantIsaName(isa)) + " " +
                             vqa::models::quantFormatName(f) + " " + std::to_string(rows) + "x" +
                             std::to_string(k));
                auto w = randomVector(rows * k, rng, 0.02f);
                for (std::int64_t i = 0; i < k; i += 9)
                    w[i] += 0.05f; // rows with an offset, where Q4_1's minimum matters
                const auto q = quantizeAll(f, w, rows, k);
                const auto row_bytes = vqa::models::quantRowBytes(f, k);
                // Seven activations: the interleaved loops take them 4 and then 3 at a time.
                constexpr std::int64_t n = 7;
                std::vector<vqa::models::Q8Vector> xq(n);
                for (auto& v : xq) {
                    const auto x = randomVector(k, rng);
                    vqa::models::quantizeActivation(x.data(), k, v);
                }
                std::vector<float> y(rows, NAN);
                vqa::models::quantDotRows(isa, f, q.data(), k, xq[0], y.data(), 0, rows);
                // The same rows interleaved (QuantFormat.h), through this instruction set's
                // loops for that layout: all seven activations at once, and the first alone.
                const std::int64_t groups = vqa::models::interleavedGroups(rows);
                const std::int64_t ld = groups * vqa::models::kInterleaveRows;
                std::vector<std::uint8_t> tiles(ld * row_bytes);
                for (std::int64_t g = 0; g < groups; ++g)
                    vqa::models::interleaveGroup(f, q.data(), rows, k, g,
                                                 tiles.data() + g * vqa::models::kInterleaveRows * row_bytes);
                std::vector<float> yi(n * ld, -1.0f), y1(ld, -1.0f);
                vqa::models::quantDotGroups(isa, f, tiles.data(), k, xq.data(), n, yi.data(), ld, rows, 0, groups);
                vqa::models::quantDotGroups(isa, f, tiles.data(), k, xq.data(), 1, y1.data(), ld, rows, 0, groups);
                for (std::int64_t j = 0; j < n; ++j)
                    for (std::int64_t r = rows; r < ld; ++r)
                        EXPECT_EQ(yi[j * ld + r], -1.0f) << "row " << r << " past the matrix was written";
                std::vector<float> wd(k);
                for (std::int64_t j = 0; j < n; ++j) {
                    const auto xd = vqa::models::dequantizeActivation(xq[j], k);
                    for (std::int64_t r = 0; r < rows; ++r) {
                        const std::uint8_t* row = q.data() + r * row_bytes;
                        vqa::models::dequantizeRow(f, row, k, wd.data());
                        double expected = 0, magnitude = 0;
                        for (std::int64_t i = 0; i < k; ++i) {
                            expected += double(wd[i]) * xd[i];
                            const auto* block = row + i / 32 * vqa::models::quantBlockBytes(f);
                            magnitude += errorScale(f, block, wd[i]) * std::fabs(xd[i]);
                        }
                        const double bound = 1e-5 * magnitude + 1e-30;
                        EXPECT_NEAR(yi[j * ld + r], expected, bound) << "activation " << j << ", interleaved row " << r;
                        if (j == 0) {
                            EXPECT_NEAR(y[r], expected, bound) << "row " << r;
                            EXPECT_EQ(y1[r], yi[r]) << "alone and among others, row " << r;
                        }
                    }
                }
            }
}

// The tensor-level product: one row through the matrix-vector loops, several rows through
// dequantized slices and a float32 or bfloat16 GEMM, a bias, bfloat16 input; and the dequantization in
// tensor operations (the path for CUDA) equals the loops'.
TEST(Quant, QuantizedLinearEqualsLinearOverTheDequantizedWeight) {
    torch::manual_seed(3);
    for (auto f : kFormats) {
        SCOPED_TRACE(vqa::models::quantFormatName(f));
        auto w = torch::randn({37, 100}) * 0.05;
        auto bias = torch::randn({37});
        const auto q = vqa::models::quantizeMatrix(w.to(torch::kBFloat16), f);
        const auto wd = vqa::models::dequantize(q, torch::kFloat64);
        EXPECT_EQ(0, vqa::models::dequantizeWithTensorOps(q).to(torch::kFloat64).sub(wd).abs().max().item<double>());

        // Several rows: float activations, a float32 GEMM or a bfloat16 one (operands and
        // products rounded to bfloat16: 2^-9 relative each).
        auto x = torch::randn({2, 5, 100});
        auto expected = at::linear(x.to(torch::kFloat64), wd, bias.to(torch::kFloat64));
        vqa::models::setBf16Kernels(vqa::models::Bf16Kernels::Widened);
        auto y = vqa::models::quantizedLinear(x, q, bias);
        ASSERT_EQ(y.sizes(), expected.sizes());
        EXPECT_LT((y.to(torch::kFloat64) - expected).abs().max().item<double>(), 1e-4);
        vqa::models::setBf16Kernels(vqa::models::Bf16Kernels::Native);
        auto y16 = vqa::models::quantizedLinear(x, q, bias);
        vqa::models::setBf16Kernels(vqa::models::Bf16Kernels::Auto);
        EXPECT_EQ(y16.scalar_type(), torch::kFloat32);
        const double rel16 = ((y16.to(torch::kFloat64) - expected).norm() / expected.norm()).item<double>();
        EXPECT_LT(rel16, 4e-3);
        EXPECT_GT(rel16, 0) << "the bfloat16 GEMM ran in float32";

        // One row: int8 activations (about 1/254 of each block's largest value off).
        auto x1 = torch::randn({1, 100});
        auto y1 = vqa::models::quantizedLinear(x1, q, bias);
        auto e1 = at::linear(x1.to(torch::kFloat64), wd, bias.to(torch::kFloat64));
        const double scale = e1.abs().max().item<double>();
        EXPECT_LT((y1.to(torch::kFloat64) - e1).abs().max().item<double>(), 0.02 * scale);

        // bfloat16 in, bfloat16 out.
        auto yb = vqa::models::quantizedLinear(x.to(torch::kBFloat16), q, bias.to(torch::kBFloat16));
        EXPECT_EQ(yb.scalar_type(), torch::kBFloat16);
        EXPECT_LT((yb.to(torch::kFloat64) - expected).abs().max().item<double>(), 0.05 * expected.abs().max().item<double>());

        // Under autograd: the dequantized weight, differentiable in x.
        auto xg = x.clone().requires_grad_(true);
        auto yg = vqa::models::quantizedLinear(xg, q, bias);
        yg.sum().backward();
        EXPECT_LT((xg.grad().to(torch::kFloat64) - wd.sum(0).expand({2, 5, 100})).abs().max().item<double>(), 1e-4);
    }
}

// The interleaved layout holds the same blocks: back in rows it is byte for byte what was
// interleaved (rows not a multiple of 16, columns not of 32), and every reader (the one-row
// loops, the sliced GEMM, the embedding lookup, the tensor operations) gives what it gives
// for the rows.
TEST(Quant, TheInterleavedLayoutReadsAsTheRows) {
    using vqa::models::QuantLayout;
    torch::manual_seed(5);
    for (auto f : kFormats)
        for (auto [rows, k] : {std::pair<std::int64_t, std::int64_t>{1, 7}, {15, 32}, {16, 100}, {37, 70}, {48, 40}}) {
            SCOPED_TRACE(std::string(vqa::models::quantFormatName(f)) + " " + std::to_string(rows) + "x" +
                         std::to_string(k));
            const auto q = vqa::models::quantizeMatrix(torch::randn({rows, k}) * 0.05, f);
            auto tiles = vqa::models::withLayout(q, QuantLayout::Interleaved16);
            // Placed on a CPU that interleaves: where it lies when nothing else holds its bytes
            // (whole groups only), a copy otherwise; the same bytes either way, and the
            // caller's matrix untouched when it is shared.
            if (vqa::models::cpuQuantLayout() == QuantLayout::Interleaved16) {
                auto own = vqa::models::quantizeMatrix(torch::randn({rows, k}), f);
                const auto expected = vqa::models::withLayout(own, QuantLayout::Interleaved16).data;
                const auto* before = own.data.data_ptr<std::uint8_t>();
                auto placed = vqa::models::placeQuantized(std::move(own), torch::kCPU);
                EXPECT_EQ(placed.layout, QuantLayout::Interleaved16);
                EXPECT_TRUE(torch::equal(placed.data, expected));
                EXPECT_EQ(placed.data.data_ptr<std::uint8_t>() == before, rows % 16 == 0) << "in place";
                const auto kept = q.data.clone();
                const auto shared = vqa::models::placeQuantized(q, torch::kCPU);
                EXPECT_TRUE(torch::equal(shared.data, tiles.data));
                EXPECT_TRUE(torch::equal(q.data, kept)) << "a shared matrix was rearranged";
            }
            ASSERT_EQ(tiles.layout, QuantLayout::Interleaved16);
            EXPECT_EQ(tiles.data.size(0), (rows + 15) / 16 * 16);
            EXPECT_FALSE(torch::equal(tiles.data.narrow(0, 0, rows), q.data)) << "nothing was interleaved";
            EXPECT_TRUE(torch::equal(vqa::models::withLayout(tiles, QuantLayout::Rows).data, q.data));

            const auto wd = vqa::models::dequantize(q, torch::kFloat32);
            EXPECT_TRUE(torch::equal(vqa::models::dequantize(tiles, torch::kFloat32), wd));
            EXPECT_TRUE(torch::equal(vqa::models::dequantizeWithTensorOps(tiles), vqa::models::dequantizeWithTensorOps(q)));
            auto ids = torch::tensor({rows - 1, std::int64_t(0), rows / 2}, torch::kInt64);
            EXPECT_TRUE(torch::equal(vqa::models::dequantizeRows(tiles, ids, torch::kFloat32),
                                     vqa::models::dequantizeRows(q, ids, torch::kFloat32)));
            // Several rows: with float prefill, the GEMM over the same dequantized slices; with
            // integer prefill, int8 activations (as one row has them, tested below).
            auto x = torch::randn({6, k});
            vqa::models::setQuantPrefill(vqa::models::QuantPrefill::Float);
            EXPECT_TRUE(torch::equal(vqa::models::quantizedLinear(x, tiles, {}), vqa::models::quantizedLinear(x, q, {})));
            vqa::models::setQuantPrefill(vqa::models::QuantPrefill::Integer);
            const auto integer = vqa::models::quantizedLinear(x, tiles, {});
            vqa::models::setQuantPrefill(vqa::models::QuantPrefill::Auto);
            for (std::int64_t j = 0; j < 6; ++j)
                EXPECT_TRUE(torch::equal(integer[j], vqa::models::quantizedLinear(x[j].unsqueeze(0), tiles, {})[0]))
                    << "integer prefill row " << j << " is not what it is alone";
            auto x1 = torch::randn({1, k});
            const auto y = vqa::models::quantizedLinear(x1, q, {}), yi = vqa::models::quantizedLinear(x1, tiles, {});
            EXPECT_LT((y - yi).abs().max().item<double>(), 1e-5 * (1 + y.abs().max().item<double>()));
            EXPECT_THROW(vqa::models::quantizeRowsInto(torch::zeros({1, k}), tiles, 0), vqa::Error);
        }
}

// The prefill's kernels are chosen by measuring both (no rule: it depends on the CPU's integer
// and float rates); the choice is made once and kept.
TEST(Quant, ThePrefillKernelsAreChosenByMeasuringThem) {
    using vqa::models::QuantPrefill;
    vqa::models::measureQuantPrefill();  // the first also starts the GEMM library and the threads
    const auto start = std::chrono::steady_clock::now();
    const auto t = vqa::models::measureQuantPrefill();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::cout << "[ quant    ] prefill of 32 rows through a 2048x2048 Q4_0 matrix: integer " << t.integer_ms
              << " ms, float " << t.float_ms << " ms (measured in " << ms << " ms)\n";
    EXPECT_GT(t.integer_ms, 0);
    EXPECT_GT(t.float_ms, 0);
    vqa::models::setQuantPrefill(QuantPrefill::Auto);
    const auto chosen = vqa::models::quantPrefill();
    EXPECT_NE(chosen, QuantPrefill::Auto);
    EXPECT_EQ(vqa::models::quantPrefill(), chosen);
    vqa::models::setQuantPrefill(QuantPrefill::Auto);
}

TEST(Quant, EmbeddingRowsAreTheDequantizedRows) {
    auto w = torch::randn({50, 64});
    const auto q = vqa::models::quantizeMatrix(w, QuantFormat::Q8_0);
    auto ids = torch::tensor({3, 0, 49, 3}, torch::kInt64).view({2, 2});
    auto rows = vqa::models::dequantizeRows(q, ids, torch::kFloat32);
    ASSERT_EQ(rows.sizes(), (std::vector<std::int64_t>{2, 2, 64}));
    auto all = vqa::models::dequantize(q, torch::kFloat32);
    EXPECT_TRUE(torch::equal(rows[1][0], all[49]));
    EXPECT_TRUE(torch::equal(rows[0][0], rows[1][1]));
    EXPECT_THROW(vqa::models::dequantizeRows(q, torch::tensor({50}, torch::kInt64), torch::kFloat32),
                 vqa::Error);
}

TEST(Quant, RefusesWhatItCannotQuantize) {
    EXPECT_THROW(vqa::models::quantizeMatrix(torch::zeros({4, 4}, torch::kInt32), QuantFormat::Q8_0), vqa::Error);
    EXPECT_THROW(vqa::models::quantizeMatrix(torch::zeros({4}), QuantFormat::Q8_0), vqa::Error);
    EXPECT_THROW(vqa::models::quantizeMatrix(torch::zeros({4, 4}), QuantFormat::None), vqa::Error);
    auto q = vqa::models::quantizeMatrix(torch::zeros({4, 40}), QuantFormat::Q4_0);
    EXPECT_THROW(vqa::models::quantizedLinear(torch::zeros({1, 39}), q, {}), vqa::Error);
}

}  // namespace
