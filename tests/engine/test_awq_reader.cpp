// AWQ checkpoints' reader (engine/io/AwqConfig.h, AwqWeights.h): which configurations load,
// and the packed tensors read as AutoAWQ's own dequantize_gemm reads them
// (tests/reference/make_awq.py). Also in the sanitizer build: it parses what a file says.
#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/io/AwqWeights.h"
#include "engine/io/Checkpoint.h"
#include "models/QuantizedLinear.h"
#include "models/base/Error.h"
#include "tests/common/ErrorText.h"
#include "tests/common/TestPaths.h"
#include "tests/engine/test_safetensors_util.h"

namespace fs = std::filesystem;
using namespace vqa;

namespace {

using test::errorOf;

std::string settingsError(const nlohmann::json& q) {
    return errorOf([&] { awqSettings({{"quantization_config", q}}, "config.json"); });
}

TEST(AwqConfig, ReadsWhatItCanAndNamesWhatItCannot) {
    EXPECT_FALSE(awqSettings({{"model_type", "qwen2_5_vl"}}, "config.json"));
    const nlohmann::json released = {{"quant_method", "awq"}, {"bits", 4},           {"group_size", 128},
                                     {"version", "gemm"},     {"zero_point", true}, {"modules_to_not_convert", {"visual"}}};
    const auto s = awqSettings({{"quantization_config", released}}, "config.json");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->bits, 4);
    EXPECT_EQ(s->group_size, 128);
    // In text_config, AutoAWQ's own key names, upper-case version, a whole row per group.
    const auto nested = awqSettings(
        {{"text_config", {{"quantization_config", {{"quant_method", "AWQ"}, {"w_bit", 4}, {"q_group_size", -1}, {"version", "GEMM"}}}}}},
        "config.json");
    ASSERT_TRUE(nested);
    EXPECT_EQ(nested->group_size, -1);

    auto with = [&](const char* key, nlohmann::json value) {
        auto q = released;
        q[key] = std::move(value);
        return settingsError(q);
    };
    for (const auto& [message, wants] : std::vector<std::pair<std::string, std::string>>{
             {with("bits", 8), "bits 8"},
             {with("version", "gemv"), "version 'gemv'"},
             {with("version", "exllama"), "version 'exllama'"},
             {with("zero_point", false), "zero_point false"},
             {with("group_size", 48), "group_size 48"},
             {with("group_size", 0), "group_size 0"},
             {with("quant_method", "gptq"), "quant_method 'gptq'"},
             {with("quant_method", "bitsandbytes"), "quant_method 'bitsandbytes'"}}) {
        EXPECT_NE(message.find(wants), std::string::npos) << message;
        // Every refusal says what does load.
        EXPECT_NE(message.find("bits 4, version 'gemm', zero_point true"), std::string::npos) << message;
    }
}

// The packed tensors as AutoAWQ reads them: as floats (get), and as the q4_1 blocks the
// decoder runs on, whose only rounding is the minimum's (-s z to float16).
TEST(AwqWeights, ReadTheTensorsAsAutoAwqDoes) {
    VQA_SKIP_UNLESS_EXISTS(test::referenceDir("awq") / "tensors.safetensors",
                           "run tests/reference/make_awq.py (ctest: reference.awq)");
    const auto dir = test::freshDir("awq-tensors");
    fs::copy(test::referenceDir("awq") / "tensors.safetensors", dir / "model.safetensors");
    const auto checkpoint = Checkpoint::open(dir.string());
    for (const auto& [name, group] : std::vector<std::pair<std::string, std::int64_t>>{{"g32", 32}, {"g128", 128}, {"row", -1}}) {
        SCOPED_TRACE(name);
        const AwqWeights awq(*checkpoint, {4, group}, dir.string());
        const auto want = checkpoint->get(name + ".dequant").to(torch::kFloat64);
        const std::int64_t rows = want.size(0), cols = want.size(1);
        ASSERT_TRUE(awq.contains(name + ".weight"));
        EXPECT_FALSE(awq.contains(name + ".bias"));
        // AutoAWQ rounds s (q - z) to float16; ours is exact: within half a float16 step.
        const auto floats = awq.get(name + ".weight").to(torch::kFloat64);
        ASSERT_EQ(floats.sizes(), want.sizes());
        EXPECT_TRUE(((floats - want).abs() <= want.abs() * std::ldexp(1.0, -11) + 1e-12).all().item<bool>())
            << "max diff " << (floats - want).abs().max().item<double>();

        auto m = models::QuantizedMatrix::empty(models::QuantFormat::Q4_1, rows + 8, cols);
        ASSERT_TRUE(awq.quantizedInto(name + ".weight", rows, m, 8));  // below 8 rows of something else
        const auto blocks = models::dequantize(m, torch::kFloat32).narrow(0, 8, rows).to(torch::kFloat64);
        const std::int64_t g = group == -1 ? cols : group;
        const auto s = checkpoint->get(name + ".scales").to(torch::kFloat64).t().repeat_interleave(g, 1);
        const auto bound = (want.abs() + 15 * s) * std::ldexp(1.0, -11) + 1e-12;
        EXPECT_TRUE(((blocks - want).abs() <= bound).all().item<bool>())
            << "max diff " << (blocks - want).abs().max().item<double>();

        auto q8 = models::QuantizedMatrix::empty(models::QuantFormat::Q8_0, rows, cols);
        EXPECT_NE(errorOf([&] { awq.quantizedInto(name + ".weight", rows, q8, 0); }).find("load as q4_1"), std::string::npos);
        auto wrong = models::QuantizedMatrix::empty(models::QuantFormat::Q4_1, rows + 8, cols);
        EXPECT_NE(errorOf([&] { awq.quantizedInto(name + ".weight", rows + 8, wrong, 0); }).find("should have qweight"),
                  std::string::npos);
    }
    fs::remove_all(dir);
}

}  // namespace
