// The engine with quantized decoder weights (--dtype int8 / int4): the load plan's precision
// and memory, the model information, and answers, second turns and heatmaps on the tiny
// reference checkpoints of each family, next to the float model's.
#include <algorithm>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/Device.h"
#include "engine/Engine.h"
#include "engine/LoadPlan.h"
#include "models/CpuGemmHalf.h"
#include "models/CpuGemv.h"
#include "models/base/Error.h"
#include "tests/common/ParityHelpers.h"
#include "tests/common/TestPaths.h"
#include "tests/engine/test_safetensors_util.h"

namespace fs = std::filesystem;
using namespace vqa;

namespace {

struct Case {
    const char* folder;
    const char* name;
};
const Case kCases[] = {{"idefics3", "tiny_untied"}, {"idefics3", "tiny_tied"}, {"llava", "tiny"},
                       {"qwen2vl", "engine"},     {"qwen3vl", "engine"}};

fs::path modelDir(const Case& c) {
    return test::referenceDir(c.folder) / c.name / "model";
}

// The cases whose reference data is there (each missing one printed as skipped), with their
// folders.
std::vector<std::pair<Case, fs::path>> availableCases() {
    std::vector<std::pair<Case, fs::path>> out;
    for (const auto& c : kCases) {
        if (fs::exists(modelDir(c)))
            out.emplace_back(c, modelDir(c));
        else
            std::cout << "[ skipped  ] " << modelDir(c) << ": run tests/reference/make_" << c.folder << ".py\n";
    }
    return out;
}

LoadOptions cpuWith(const std::string& dtype) {
    LoadOptions o;
    o.device = DevicePreference::Cpu;
    o.dtype = dtype;
    return o;
}

// The decoder's sizes, from the model's config.json.
struct DecoderShape {
    std::int64_t hidden, inter, layers, heads, kv_heads, head_dim;
};
DecoderShape decoderShape(const fs::path& model_dir) {
    const auto text = nlohmann::json::parse(std::ifstream(model_dir / "config.json"))["text_config"];
    DecoderShape t{text["hidden_size"], text["intermediate_size"], text["num_hidden_layers"],
                   text["num_attention_heads"], 0, 0};
    t.kv_heads = text.value("num_key_value_heads", t.heads);
    t.head_dim = text.value("head_dim", t.hidden / t.heads);
    return t;
}

Request question(const fs::path& image) {
    Request r;
    r.images = {std::make_shared<const RgbImage>(loadImageFile(image.string()))};
    r.image_keys = {image.string()};
    r.conversation.push_back({Role::User, {{ContentPart::Kind::Image, {}}, {ContentPart::Kind::Text, "What is it?"}}});
    r.generation.max_new_tokens = 12;
    r.generation.ignore_eos = true;
    return r;
}

TEST(QuantizedEngine, PlanNamesThePrecisionAndShrinksTheWeights) {
    const auto dir = modelDir(kCases[0]);
    VQA_SKIP_UNLESS_EXISTS(dir, "run tests/reference/make_idefics3.py (ctest: reference.idefics3)");
    const auto f32 = planLoad(dir.string(), cpuWith("auto"));
    const auto int8 = planLoad(dir.string(), cpuWith("int8"));
    const auto int4 = planLoad(dir.string(), cpuWith("int4"));
    const auto q41 = planLoad(dir.string(), cpuWith("q4_1"));
    EXPECT_EQ(f32.quantization, "");
    EXPECT_EQ(int8.quantization, "q8_0");
    EXPECT_EQ(int4.quantization, "q4_0");
    EXPECT_EQ(q41.quantization, "q4_1");
    for (const auto* p : {&int8, &int4, &q41}) {
        EXPECT_EQ(p->dtype, "float32") << "the norms and activations keep the CPU's float type";
        EXPECT_EQ(p->vision_dtype, "bfloat16") << "the vision tower runs in bfloat16 beside quantized weights";
        EXPECT_EQ(p->embedding_quantization, "q8_0");
        EXPECT_NE(p->memory.message.find(p->quantization + " weights"), std::string::npos) << p->memory.message;
    }
    EXPECT_EQ(f32.vision_dtype, "float32");
    EXPECT_LT(int8.memory.weight_bytes, f32.memory.weight_bytes);
    // fast: the float32 decoder behind a bfloat16 vision tower, which counts half.
    const auto fast = planLoad(dir.string(), cpuWith("fast"));
    EXPECT_EQ(fast.dtype, "float32");
    EXPECT_EQ(fast.vision_dtype, "bfloat16");
    EXPECT_EQ(fast.quantization, "");
    EXPECT_LT(fast.memory.weight_bytes, f32.memory.weight_bytes);
    EXPECT_GT(fast.memory.weight_bytes, int8.memory.weight_bytes);
    EXPECT_NE(fast.memory.message.find("float32 (bfloat16 vision)"), std::string::npos) << fast.memory.message;
    // Where its prefill runs in float16 (AVX512-FP16), "fast" also counts the float16 panels its
    // decoder's seven projections keep: 2 bytes a weight; nothing elsewhere, nor for the others.
    const auto t = decoderShape(dir);
    using vqa::models::halfPackedBytes;
    const std::int64_t panels = t.layers * (halfPackedBytes(t.heads * t.head_dim, t.hidden) +
                                            2 * halfPackedBytes(t.kv_heads * t.head_dim, t.hidden) +
                                            halfPackedBytes(t.hidden, t.heads * t.head_dim) +
                                            2 * halfPackedBytes(t.inter, t.hidden) + halfPackedBytes(t.hidden, t.inter));
    EXPECT_EQ(fast.memory.prefill_panel_bytes, vqa::models::cpuGemmHalfSupported() ? panels : 0);
    EXPECT_EQ(fast.memory.needed_bytes - fast.memory.prefill_panel_bytes - (256ll << 20),
              fast.memory.weight_bytes + fast.memory.weight_bytes / 20);
    for (const auto* p : {&f32, &int8, &int4, &q41})
        EXPECT_EQ(p->memory.prefill_panel_bytes, 0);
    EXPECT_LT(int4.memory.weight_bytes, int8.memory.weight_bytes);
    EXPECT_LT(int4.memory.weight_bytes, q41.memory.weight_bytes);
    try {
        planLoad(dir.string(), cpuWith("int3"));
        ADD_FAILURE() << "int3 was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("int8 or int4"), std::string::npos) << e.what();
    }
}

// "fast" packs its decoder's float16 panels while loading, not in the first question, where its
// prefill runs in float16; loading again gives the first model's panels back before it packs.
TEST(QuantizedEngine, FastLoadPacksTheDecoderPanelsAhead) {
    const auto dir = modelDir(kCases[0]);
    VQA_SKIP_UNLESS_EXISTS(dir, "run tests/reference/make_idefics3.py (ctest: reference.idefics3)");
    const auto image = dir.parent_path() / "image0.png";
    VQA_SKIP_UNLESS_EXISTS(image, "run tests/reference/make_idefics3.py (ctest: reference.idefics3)");
    using vqa::models::Bf16Kernels;
    using vqa::models::HalfPanelsCache;
    const auto plan = planLoad(dir.string(), cpuWith("fast"));
    const std::int64_t before = HalfPanelsCache::bytesKept();
    Engine engine;
    engine.load(dir.string(), cpuWith("fast"));  // applies this machine's kernel choice, once
    const Bf16Kernels chosen = vqa::models::bf16Kernels();
    const bool half = vqa::models::cpuGemmHalfSupported();
    // The float16 GEMM wherever the CPU has it, whatever this machine measured.
    vqa::models::setBf16Kernels(half ? Bf16Kernels::Half : Bf16Kernels::Widened);
    engine.load(dir.string(), cpuWith("fast"));
    const std::int64_t packed = HalfPanelsCache::bytesKept() - before;
    if (half) {
        // The decoder's four products a layer, q/k/v and gate/up fused (the plan counts the
        // checkpoint's seven weights, each rounded up to 64 rows: a bound, exact at real sizes).
        const auto t = decoderShape(dir);
        using vqa::models::halfPackedBytes;
        EXPECT_EQ(packed, t.layers * (halfPackedBytes((t.heads + 2 * t.kv_heads) * t.head_dim, t.hidden) +
                                      halfPackedBytes(t.hidden, t.heads * t.head_dim) +
                                      halfPackedBytes(2 * t.inter, t.hidden) + halfPackedBytes(t.hidden, t.inter)))
            << "the first model's panels given back, the second's packed";
        EXPECT_LE(packed, plan.memory.prefill_panel_bytes);
        const auto answer = engine.generate(question(image));
        EXPECT_NE(answer.stop, StopReason::Error) << answer.error;
        EXPECT_EQ(HalfPanelsCache::bytesKept() - before, packed) << "the question packed nothing more";
    } else {
        EXPECT_EQ(packed, 0) << "no AVX512-FP16: the fast prefill keeps no panels";
    }
    // Another choice of kernels packs nothing, and the model before took its panels with it.
    vqa::models::setBf16Kernels(Bf16Kernels::Native);
    engine.load(dir.string(), cpuWith("fast"));
    EXPECT_EQ(HalfPanelsCache::bytesKept(), before);
    vqa::models::setBf16Kernels(chosen);
    if (!half)
        GTEST_SKIP() << "this CPU has no AVX512-FP16: nothing is packed ahead (checked), the packing not exercised";
}

// Every family answers, continues a conversation and draws heatmaps with 8- and 4-bit weights;
// the model information says which precision runs and counts the smaller weights.
TEST(QuantizedEngine, EveryFamilyAnswersAndExplainsWithQuantizedWeights) {
    for (const auto& [c, dir] : availableCases()) {
        const auto image = dir.parent_path() / "image0.png";
        Engine reference;
        const auto float_info = reference.load(dir.string(), cpuWith("auto"));
        const auto float_answer = reference.generate(question(image));
        ASSERT_NE(float_answer.stop, StopReason::Error) << float_answer.error;
        for (const std::string dtype : {"int8", "int4"}) {
            SCOPED_TRACE(std::string(c.folder) + "/" + c.name + " " + dtype);
            Engine engine;
            const auto info = engine.load(dir.string(), cpuWith(dtype));
            EXPECT_EQ(info.quantization, dtype == "int8" ? "q8_0" : "q4_0");
            EXPECT_EQ(info.dtype, "float32");
            EXPECT_LT(info.weight_bytes, float_info.weight_bytes);
            auto request = question(image);
            const auto answer = engine.generate(request);
            ASSERT_NE(answer.stop, StopReason::Error) << answer.error;
            ASSERT_EQ(answer.token_ids.size(), 12u);
            int same = 0;
            for (std::size_t i = 0; i < 12; ++i)
                same += answer.token_ids[i] == float_answer.token_ids[i];
            std::cout << "[ quant    ] " << c.folder << "/" << c.name << " " << dtype << ": " << same
                      << " of 12 greedy tokens as the float model's\n";
            request.conversation.push_back({Role::Assistant, {{ContentPart::Kind::Text, answer.text}}});
            request.conversation.push_back({Role::User, {{ContentPart::Kind::Text, "And then?"}}});
            const auto second = engine.generate(request);
            ASSERT_NE(second.stop, StopReason::Error) << second.error;
            EXPECT_GT(second.timings.cached_tokens, 0);
            const auto grids = test::firstTokenAttention(engine, question(image));
            ASSERT_FALSE(grids.empty());
            double sum = 0;
            for (const auto& g : grids)
                for (float v : g.values) {
                    EXPECT_TRUE(std::isfinite(v));
                    sum += v;
                }
            EXPECT_GT(sum, 0.0);
        }
    }
}

// On a GPU (tests/gpu/run.sh runs it when one is lent): 8- and 4-bit weights are chosen there
// too, dequantized per call in bfloat16, and answer (how many greedy tokens agree with the
// CPU's float32 run is printed: bfloat16 may turn a random model's close call).
TEST(QuantizedEngine, EveryFamilyAnswersOnAGpuWithQuantizedWeights) {
    if (!cudaAvailable())
        GTEST_SKIP() << "skipped: no CUDA device (" << cudaUnavailableReason() << ")";
    for (const auto& [c, dir] : availableCases()) {
        const auto image = dir.parent_path() / "image0.png";
        for (const std::string dtype : {"int8", "int4"}) {
            SCOPED_TRACE(std::string(c.folder) + "/" + c.name + " " + dtype);
            Engine cpu, gpu;
            cpu.load(dir.string(), cpuWith(dtype));
            LoadOptions cuda = cpuWith(dtype);
            cuda.device = DevicePreference::Cuda;
            const auto info = gpu.load(dir.string(), cuda);
            EXPECT_EQ(info.device, "cuda");
            EXPECT_EQ(info.quantization, dtype == "int8" ? "q8_0" : "q4_0");
            const auto on_cpu = cpu.generate(question(image));
            const auto on_gpu = gpu.generate(question(image));
            ASSERT_NE(on_gpu.stop, StopReason::Error) << on_gpu.error;
            ASSERT_EQ(on_gpu.token_ids.size(), 12u);
            int same = 0;
            for (std::size_t i = 0; i < 12 && on_gpu.token_ids[i] == on_cpu.token_ids[i]; ++i)
                ++same;
            std::cout << "[ quant    ] " << c.folder << "/" << c.name << " " << dtype << " on the GPU: " << same
                      << " of 12 greedy tokens as on the CPU\n";
        }
    }
}

// A checkpoint another tool quantized (GPTQ, bitsandbytes, ...) is refused by name, before
// any tensor is looked for, saying what this build loads instead (AWQ: test_awq.cpp).
TEST(QuantizedEngine, PrequantizedCheckpointsAreRefusedByName) {
    const auto src = modelDir(kCases[0]);
    VQA_SKIP_UNLESS_EXISTS(src, "run tests/reference/make_idefics3.py (ctest: reference.idefics3)");
    const auto dir = test::freshDir("gptq-checkpoint");
    fs::copy(src, dir, fs::copy_options::recursive);
    auto config = nlohmann::json::parse(std::ifstream(dir / "config.json"));
    config["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 4}, {"group_size", 128}};
    std::ofstream(dir / "config.json") << config.dump();
    for (const std::string dtype : {"auto", "int4"}) {
        try {
            planLoad(dir.string(), cpuWith(dtype));
            ADD_FAILURE() << "a GPTQ checkpoint was planned";
        } catch (const Error& e) {
            const std::string m = e.what();
            EXPECT_NE(m.find("quant_method 'gptq'"), std::string::npos) << m;
            EXPECT_NE(m.find("reads AWQ checkpoints"), std::string::npos) << m;
            EXPECT_NE(m.find("--dtype int8 or int4"), std::string::npos) << m;
        }
    }
    Engine engine;
    try {
        engine.load(dir.string(), cpuWith("auto"));
        ADD_FAILURE() << "a GPTQ checkpoint was loaded";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("gptq"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(engine.hasModel());
    fs::remove_all(dir);
}

// Quantizing is the long part of such a load: it shows as its own stage, in steps that rise.
TEST(QuantizedEngine, LoadShowsTheQuantizingStageAsItGoes) {
    const auto dir = modelDir(kCases[2]);
    VQA_SKIP_UNLESS_EXISTS(dir, "run tests/reference/make_llava.py (ctest: reference.llava)");
    Engine engine;
    std::vector<double> steps;
    engine.load(dir.string(), cpuWith("int4"), [&](const Progress& p) {
        if (p.stage == "building the model (quantizing to q4_0)")
            steps.push_back(p.fraction);
    });
    ASSERT_GE(steps.size(), 5u) << "the quantizing stage was not reported as it went";
    EXPECT_TRUE(std::is_sorted(steps.begin(), steps.end()));
    EXPECT_GE(steps.front(), 0.2);
    EXPECT_LE(steps.back(), 0.9);
    EXPECT_GT(steps.back() - steps.front(), 0.3);
}

}  // namespace
