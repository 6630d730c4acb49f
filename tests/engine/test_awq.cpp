// An AWQ checkpoint in the engine (the reader: test_awq_reader.cpp): a small Qwen2.5-VL AWQ
// checkpoint (tests/reference/make_awq.py) answering and scoring as transformers does with the
// weights AutoAWQ reads from it; the precisions it takes; clear messages for what cannot load.
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/Device.h"
#include "engine/Engine.h"
#include "engine/LoadPlan.h"
#include "engine/io/Checkpoint.h"
#include "models/QuantizedLinear.h"
#include "models/base/Error.h"
#include "tests/common/ErrorText.h"
#include "tests/common/ParityHelpers.h"
#include "tests/common/TestPaths.h"
#include "tests/engine/test_safetensors_util.h"

namespace fs = std::filesystem;
using namespace vqa;

namespace {

const fs::path kAwqDir = test::referenceDir("awq");
const char* const kRun = "run tests/reference/make_awq.py (ctest: reference.awq)";

using test::errorOf;

LoadOptions cpuWith(const std::string& dtype) {
    LoadOptions o;
    o.device = DevicePreference::Cpu;
    o.dtype = dtype;
    return o;
}

class AwqEngine : public ::testing::Test {
  protected:
    void SetUp() override {
        case_ = kAwqDir / "engine";
        if (!fs::exists(case_ / "model"))
            GTEST_SKIP() << case_ << ": " << kRun;
        ref_ = Checkpoint::open((case_).string());
        request_.images = {std::make_shared<const RgbImage>(loadImageFile((case_ / "image0.png").string())),
                           std::make_shared<const RgbImage>(loadImageFile((case_ / "image1.png").string()))};
        request_.image_keys = {"image0", "image1"};
        request_.conversation.push_back({Role::User,
                                         {{ContentPart::Kind::Image, {}},
                                          {ContentPart::Kind::Text, "Compare"},
                                          {ContentPart::Kind::Image, {}},
                                          {ContentPart::Kind::Text, "What differs between these two?"}}});
        request_.generation.max_new_tokens = 20;
        request_.generation.ignore_eos = true;
    }
    std::vector<std::int32_t> reference(const std::string& name) const {
        const auto t = ref_->get(name).to(torch::kInt64).contiguous();
        return {t.data_ptr<std::int64_t>(), t.data_ptr<std::int64_t>() + t.numel()};
    }
    fs::path case_;
    std::unique_ptr<Checkpoint> ref_;
    Request request_;
};

// float32 asked: everything but the AWQ linears (and the q8_0 embeddings) in float32, which is
// how transformers ran the reference; the prompt is the reference's, the answer scores within
// what 8-bit embeddings add, and greedy tokens follow the reference's.
TEST_F(AwqEngine, AnswersAndScoresAsTheReferenceDoes) {
    // The prefill's activations as floats, whatever this CPU measured faster: int8 activations
    // (QuantPrefill::Integer) add an error of their own (largest 0.096 here against 0.075),
    // which this test, about the weights, does not weigh.
    const auto prefill = vqa::models::quantPrefill();
    vqa::models::setQuantPrefill(vqa::models::QuantPrefill::Float);
    struct Restore {
        vqa::models::QuantPrefill prefill;
        ~Restore() { vqa::models::setQuantPrefill(prefill); }
    } restore{prefill};
    Engine engine, floats, own;
    const auto info = engine.load((case_ / "model").string(), cpuWith("float32"));
    const auto float_info = floats.load((case_ / "float_model").string(), cpuWith("float32"));
    own.load((case_ / "float_model").string(), cpuWith("q4_1"));  // quantized here, from the floats
    EXPECT_EQ(info.quantization, "q4_1");
    EXPECT_EQ(info.quantized_by, "awq");
    EXPECT_EQ(info.dtype, "float32");
    EXPECT_EQ(info.vision_dtype, "float32");
    EXPECT_EQ(info.parameters, float_info.parameters) << "every packed weight counts once";
    EXPECT_LT(info.weight_bytes, float_info.weight_bytes);

    const auto prompt = engine.promptTokens(request_);
    EXPECT_EQ(prompt, reference("input_ids"));
    const auto answer_ids = reference("generated");
    const auto scored = engine.scoreAnswer(request_, answer_ids);
    const auto scored_float = floats.scoreAnswer(request_, answer_ids);
    const auto scored_own = own.scoreAnswer(request_, answer_ids);
    ASSERT_TRUE(scored && scored_float && scored_own);
    const auto want = ref_->get("answer_log_probs").to(torch::kFloat32).contiguous();
    double worst = 0, worst_float = 0, worst_own = 0;
    for (std::size_t i = 0; i < answer_ids.size(); ++i) {
        const double w = want[static_cast<std::int64_t>(i)].item<float>();
        worst = std::max(worst, std::abs((*scored)[i] - w));
        worst_float = std::max(worst_float, std::abs((*scored_float)[i] - w));
        worst_own = std::max(worst_own, std::abs((*scored_own)[i] - w));
    }
    std::cout << "[ awq      ] answer log-probs, largest difference from the reference's: AWQ checkpoint " << worst
              << ", its float twin " << worst_float << ", the float twin quantized here to q4_1 " << worst_own << "\n";
    EXPECT_LT(worst_float, 1e-4) << "the float twin is the reference's model";
    // The AWQ weights are the reference's to float16 rounding; what remains is how the
    // quantized decoder runs (8-bit embeddings; a prefill's activations in bfloat16 on CPUs
    // whose bfloat16 GEMM is fast): far less than quantizing the weights again adds.
    EXPECT_LT(worst, 0.15);
    EXPECT_LT(worst, 0.5 * worst_own);

    const auto result = engine.generate(request_);
    ASSERT_NE(result.stop, StopReason::Error) << result.error;
    int same = 0;
    while (same < static_cast<int>(answer_ids.size()) && result.token_ids[same] == answer_ids[same])
        ++same;
    std::cout << "[ awq      ] " << same << " of " << answer_ids.size() << " greedy tokens as the reference's\n";
    EXPECT_GE(same, 4);

    // A second turn reuses the prefix; heatmaps are drawn.
    Request two = request_;
    two.conversation.push_back({Role::Assistant, {{ContentPart::Kind::Text, result.text}}});
    two.conversation.push_back({Role::User, {{ContentPart::Kind::Text, "And the colours?"}}});
    const auto second = engine.generate(two);
    ASSERT_NE(second.stop, StopReason::Error) << second.error;
    EXPECT_GT(second.timings.cached_tokens, 0);
    const auto grids = test::firstTokenAttention(engine, request_);
    ASSERT_FALSE(grids.empty());
    for (const auto& g : grids)
        for (float v : g.values)
            EXPECT_TRUE(std::isfinite(v));
}

// On a GPU (tests/gpu/run.sh runs it when one is lent): the AWQ weights dequantized per call
// to bfloat16 with tensor operations, the answer scored as the reference scores it within
// what bfloat16 allows, and an answer generated.
TEST_F(AwqEngine, AnswersOnAGpuAsOnTheCpu) {
    if (!cudaAvailable())
        GTEST_SKIP() << "skipped: no CUDA device (" << cudaUnavailableReason() << ")";
    LoadOptions cuda;
    cuda.device = DevicePreference::Cuda;
    Engine engine;
    const auto info = engine.load((case_ / "model").string(), cuda);
    EXPECT_EQ(info.device, "cuda");
    EXPECT_EQ(info.quantized_by, "awq");
    const auto answer_ids = reference("generated");
    const auto scored = engine.scoreAnswer(request_, answer_ids);
    ASSERT_TRUE(scored);
    const auto want = ref_->get("answer_log_probs").to(torch::kFloat32).contiguous();
    double worst = 0;
    for (std::size_t i = 0; i < answer_ids.size(); ++i)
        worst = std::max(worst, static_cast<double>(std::abs((*scored)[i] - want[static_cast<std::int64_t>(i)].item<float>())));
    std::cout << "[ awq      ] on the GPU, answer log-probs within " << worst << " of the reference's\n";
    EXPECT_LT(worst, 0.5);
    const auto result = engine.generate(request_);
    ASSERT_NE(result.stop, StopReason::Error) << result.error;
    EXPECT_EQ(result.token_ids.size(), answer_ids.size());
}

// What each precision asked of an AWQ checkpoint means: its own 4 bits under auto and int4
// (vision in bfloat16, as with int4), a named dtype for the rest, int8 refused by name.
TEST_F(AwqEngine, PrecisionsOfAnAwqCheckpoint) {
    const auto dir = (case_ / "model").string();
    for (const std::string dtype : {"auto", "int4", "q4_1"}) {
        const auto plan = planLoad(dir, cpuWith(dtype));
        EXPECT_EQ(plan.quantization, "q4_1") << dtype;
        EXPECT_EQ(plan.dtype, "float32") << dtype;
        EXPECT_EQ(plan.vision_dtype, "bfloat16") << dtype;
        EXPECT_NE(plan.memory.message.find("q4_1 weights from AWQ's 4 bits"), std::string::npos) << plan.memory.message;
    }
    const auto bf16 = planLoad(dir, cpuWith("bfloat16"));
    EXPECT_EQ(bf16.dtype, "bfloat16");
    EXPECT_EQ(bf16.vision_dtype, "bfloat16");
    for (const std::string dtype : {"int8", "q8_0", "q4_0"}) {
        const auto message = errorOf([&] { planLoad(dir, cpuWith(dtype)); });
        EXPECT_NE(message.find("quantized to 4 bits by AWQ"), std::string::npos) << message;
        EXPECT_NE(message.find("'" + dtype + "'"), std::string::npos) << message;
    }
    // The float twin is a plain checkpoint: it quantizes to whatever is asked.
    EXPECT_EQ(planLoad((case_ / "float_model").string(), cpuWith("int8")).quantization, "q8_0");

    Engine engine;
    const auto info = engine.load(dir, cpuWith("auto"));
    EXPECT_EQ(info.vision_dtype, "bfloat16");
    auto r = request_;
    r.generation.max_new_tokens = 4;
    const auto answer = engine.generate(r);
    ASSERT_NE(answer.stop, StopReason::Error) << answer.error;
    EXPECT_EQ(answer.token_ids.size(), 4u);
}

// Checkpoints that say AWQ but are not what they say: refused with the reason, nothing loaded.
TEST_F(AwqEngine, LyingAwqCheckpointsAreRefusedClearly) {
    auto edited = [&](const fs::path& from, const char* name, const std::function<void(nlohmann::json&)>& edit) {
        const auto dir = test::freshDir(name);
        fs::copy(from, dir, fs::copy_options::recursive);
        auto config = nlohmann::json::parse(std::ifstream(dir / "config.json"));
        edit(config);
        std::ofstream(dir / "config.json") << config.dump();
        return dir;
    };
    const nlohmann::json awq = {{"quant_method", "awq"}, {"bits", 4}, {"group_size", 32}, {"version", "gemm"}};
    // Floats under an AWQ config.
    const auto floats = edited(case_ / "float_model", "awq-floats", [&](auto& c) { c["quantization_config"] = awq; });
    EXPECT_NE(errorOf([&] { planLoad(floats.string(), cpuWith("auto")); }).find("holds no AWQ linear"), std::string::npos);
    // Groups of 64 claimed for tensors packed in groups of 32.
    const auto groups = edited(case_ / "model", "awq-groups", [&](auto& c) { c["quantization_config"]["group_size"] = 64; });
    Engine engine;
    const auto message = errorOf([&] { engine.load(groups.string(), cpuWith("auto")); });
    EXPECT_NE(message.find("groups of 64"), std::string::npos) << message;
    EXPECT_NE(message.find("model.layers.0."), std::string::npos) << message;
    EXPECT_FALSE(engine.hasModel());
    // 8-bit AWQ is not read.
    const auto bits = edited(case_ / "model", "awq-bits", [&](auto& c) { c["quantization_config"]["bits"] = 8; });
    EXPECT_NE(errorOf([&] { engine.load(bits.string(), cpuWith("auto")); }).find("bits 8"), std::string::npos);
    for (const auto& d : {floats, groups, bits})
        fs::remove_all(d);
}

}  // namespace
