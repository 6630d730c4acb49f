// The LLaVA-1.5 family through the whole engine, against the reference: config parsing, the
// CLIP image processor's pixel values, prompt ids (chat template, SentencePiece with the added
// <image> token, image-token expansion), greedy answers over two turns, attention rows, the
// layout of heatmaps through crop and padding, and the memory estimate. Data:
// tests/reference/make_llava.py (ctest: reference.llava).
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "engine/Engine.h"
#include "engine/LoadPlan.h"
#include "models/base/Error.h"
#include "engine/explain/Heatmap.h"
#include "engine/families/Families.h"
#include "engine/families/llava/ClipImageProcessor.h"
#include "engine/families/llava/LlavaConfig.h"
#include "engine/families/llava/LlavaRuntime.h"
#include "engine/io/SafetensorsFile.h"
#include "engine/text/ChatFormat.h"
#include "engine/text/StreamingDetokenizer.h"
#include "engine/text/Tokenizer.h"
#include "tests/common/ErrorText.h"
#include "tests/common/ParityHelpers.h"
#include "tests/common/TestPaths.h"
#include "tests/engine/test_safetensors_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace vqa;

namespace {

const char* kWhy = "run tests/reference/make_llava.py (ctest: reference.llava)";

using test::errorOf;

std::vector<std::int32_t> ids(const SafetensorsFile& ref, const std::string& name) {
    auto t = ref.tensor(name).to(torch::kInt64).contiguous();
    return {t.data_ptr<std::int64_t>(), t.data_ptr<std::int64_t>() + t.numel()};
}

Turn turnFrom(Role role, const json& content) {
    Turn turn{role, {}};
    for (const auto& part : content) {
        if (part["type"] == "image")
            turn.content.push_back({ContentPart::Kind::Image, {}});
        else
            turn.content.push_back({ContentPart::Kind::Text, part["text"].get<std::string>()});
    }
    return turn;
}

// ---- config ------------------------------------------------------------------------------

TEST(LlavaConfig, DefaultsAreLlava15WithClipL336) {
    auto c = parseLlavaConfig(json::parse(R"({"model_type": "llava", "text_config": {"vocab_size": 32064}})"),
                              "config.json");
    EXPECT_EQ(c.vision.hidden_size, 1024);
    EXPECT_EQ(c.vision.num_hidden_layers, 24);
    EXPECT_EQ(c.vision.image_size, 336);
    EXPECT_EQ(c.vision.patch_size, 14);
    EXPECT_EQ(c.vision.hidden_act, "quick_gelu");
    EXPECT_DOUBLE_EQ(c.vision.layer_norm_eps, 1e-5);
    EXPECT_EQ(c.feature_layers, std::vector<int>{-2});
    EXPECT_TRUE(c.drop_cls);
    EXPECT_EQ(c.image_token_id, 32000);
    EXPECT_EQ(c.text.hidden_size, 4096);
    EXPECT_FALSE(c.text.tie_word_embeddings);
    EXPECT_EQ(detectFamily(json::parse(R"({"architectures": ["LlavaForConditionalGeneration"]})"), "c").name, "llava");
}

// llava-hf/llava-1.5-7b-hf's config.json (its keys, as published): the Vicuna text config gives
// little beyond vocab_size, the rest are Llama's defaults.
TEST(LlavaConfig, ReadsLlavaHfConfig) {
    auto c = parseLlavaConfig(json::parse(R"({
        "architectures": ["LlavaForConditionalGeneration"], "ignore_index": -100, "image_token_index": 32000,
        "model_type": "llava", "pad_token_id": 32001, "projector_hidden_act": "gelu",
        "text_config": {"_name_or_path": "lmsys/vicuna-7b-v1.5", "architectures": ["LlamaForCausalLM"],
                        "max_position_embeddings": 4096, "model_type": "llama", "rms_norm_eps": 1e-05,
                        "torch_dtype": "float16", "vocab_size": 32064},
        "tie_word_embeddings": false, "torch_dtype": "float16", "vision_config": {"hidden_size": 1024,
            "image_size": 336, "intermediate_size": 4096, "model_type": "clip_vision_model", "num_attention_heads": 16,
            "num_hidden_layers": 24, "patch_size": 14, "projection_dim": 768, "vocab_size": 32000},
        "vision_feature_layer": -2, "vision_feature_select_strategy": "default"})"),
                              "config.json");
    EXPECT_EQ(detectFamily(json::parse(R"({"model_type": "llava"})"), "config.json").name, "llava");
    EXPECT_EQ(c.text.vocab_size, 32064);
    EXPECT_EQ(c.text.hidden_size, 4096);
    EXPECT_EQ(c.text.intermediate_size, 11008);
    EXPECT_EQ(c.text.num_hidden_layers, 32);
    EXPECT_EQ(c.text.num_attention_heads, 32);
    EXPECT_EQ(c.text.num_key_value_heads, 32);
    EXPECT_EQ(c.text.head_dim, 128);
    EXPECT_EQ(c.text.max_position_embeddings, 4096);
    EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-5);
    EXPECT_DOUBLE_EQ(c.text.rope_theta, 10000.0);
    EXPECT_FALSE(c.text.tie_word_embeddings);
    EXPECT_EQ(c.vision.num_attention_heads, 16);
    EXPECT_EQ(c.vision.intermediate_size, 4096);
    EXPECT_EQ(c.vision.hidden_act, "quick_gelu");
    EXPECT_EQ(c.feature_layers, std::vector<int>{-2});
    EXPECT_TRUE(c.drop_cls);
    EXPECT_TRUE(c.projector_bias);
    EXPECT_EQ(c.image_token_id, 32000);
}

TEST(LlavaConfig, ListsStrategiesAndErrors) {
    auto c = parseLlavaConfig(json::parse(R"({"vision_feature_layer": [-3, -1], "vision_feature_select_strategy": "full",
        "image_token_id": 7, "text_config": {"vocab_size": 100, "tie_word_embeddings": true},
        "vision_config": {"num_hidden_layers": 4}})"),
                              "config.json");
    EXPECT_EQ(c.feature_layers, (std::vector<int>{-3, -1}));
    EXPECT_FALSE(c.drop_cls);
    EXPECT_EQ(c.image_token_id, 7);
    EXPECT_TRUE(c.text.tie_word_embeddings);
    EXPECT_NE(errorOf([] { parseLlavaConfig(json::parse(R"({"vision_feature_select_strategy": "cls"})"), "c.json"); })
                  .find("vision_feature_select_strategy is 'cls'"),
              std::string::npos);
    EXPECT_NE(errorOf([] {
                  parseLlavaConfig(json::parse(R"({"vision_feature_layer": 30, "vision_config": {"num_hidden_layers": 4}})"),
                                   "c.json");
              }).find("vision_feature_layer 30"),
              std::string::npos);
    EXPECT_NE(errorOf([] { parseLlavaConfig(json::parse(R"({"vision_feature_layer": "last"})"), "c.json"); })
                  .find("integer or a list"),
              std::string::npos);
    EXPECT_NE(errorOf([] {
                  parseLlavaConfig(json::parse(R"({"vision_config": {"model_type": "siglip_vision_model"}})"), "c.json");
              }).find("CLIP"),
              std::string::npos);
    EXPECT_NE(errorOf([] { parseLlavaConfig(json::parse(R"({"image_token_index": 32000, "text_config": {"vocab_size": 100}})"), "c.json"); })
                  .find("outside the vocabulary"),
              std::string::npos);
}

// ---- processor ---------------------------------------------------------------------------

class LlavaCase : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        dir_ = test::referenceDir("llava") / GetParam();
        VQA_SKIP_UNLESS_EXISTS(dir_ / "conversation.json", kWhy);
        ref_ = SafetensorsFile::open((dir_ / "reference.safetensors").string());
        conversation_ = json::parse(std::ifstream(dir_ / "conversation.json"));
        for (int i = 0; fs::exists(dir_ / ("image" + std::to_string(i) + ".png")); ++i)
            images_.push_back(loadImageFile((dir_ / ("image" + std::to_string(i) + ".png")).string()));
    }
    Request request() const {
        Request r;
        for (std::size_t i = 0; i < images_.size(); ++i) {
            r.images.push_back(std::make_shared<const RgbImage>(images_[i]));
            r.image_keys.push_back((dir_ / ("image" + std::to_string(i) + ".png")).string());
        }
        r.conversation.push_back(turnFrom(Role::User, conversation_["turns"][0]));
        return r;
    }
    fs::path dir_;
    std::shared_ptr<SafetensorsFile> ref_;
    json conversation_;
    std::vector<RgbImage> images_;
};

TEST_P(LlavaCase, PixelValuesEqualTheReference) {
    ClipImageProcessor processor(ClipProcessorConfig::load((dir_ / "model").string()));
    auto expected = ref_->tensor("pixel_values");
    ASSERT_EQ(expected.size(0), static_cast<std::int64_t>(images_.size()));
    for (std::size_t i = 0; i < images_.size(); ++i) {
        auto got = processor.process(images_[i]).pixel_values;
        ASSERT_EQ(got.sizes(), expected.narrow(0, static_cast<std::int64_t>(i), 1).sizes());
        // Pillow-exact resizing and numpy's float32 arithmetic: equal to float precision.
        const double diff = (got - expected[static_cast<std::int64_t>(i)]).abs().max().item<double>();
        EXPECT_LT(diff, 1e-6) << "image " << i;
    }
}

TEST_P(LlavaCase, ChatTemplateAndPromptText) {
    auto tokenizer = loadTokenizer((dir_ / "model").string());
    auto format = chatFormatFor(*tokenizer);
    EXPECT_EQ(format->name(), "llava-1.5");
    Request r = request();
    EXPECT_EQ(format->render(r.conversation, true), conversation_["prompt"].get<std::string>());
    r.conversation.push_back({Role::Assistant, {{ContentPart::Kind::Text, conversation_["answer"].get<std::string>()}}});
    r.conversation.push_back(turnFrom(Role::User, conversation_["turns"][1]));
    EXPECT_EQ(format->render(r.conversation, true), conversation_["prompt_turn2"].get<std::string>());
}

// transformers decodes a LLaVA tokenizer through tokenizer.json's ByteFallback step: a run of
// byte tokens is its text when the whole run is valid UTF-8, else one U+FFFD per byte.
TEST(LlavaTokenizer, DecodesByteTokensLikeTransformers) {
    const auto dir = test::referenceDir("llava");
    VQA_SKIP_UNLESS_EXISTS(dir / "decode_cases.json", kWhy);
    auto tokenizer = loadTokenizer((dir / "tiny" / "model").string());
    EXPECT_EQ(tokenizer->invalidUtf8Policy(), Tokenizer::InvalidUtf8::ReplaceInvalidByteRun);
    const json cases = json::parse(std::ifstream(dir / "decode_cases.json"));
    ASSERT_GE(cases.size(), 40u);
    for (const auto& c : cases) {
        const auto ids = c["ids"].get<std::vector<TokenId>>();
        for (bool skip : {true, false}) {
            const auto expected = c[skip ? "decoded" : "decoded_with_special"].get<std::string>();
            EXPECT_EQ(tokenizer->decode(ids, skip), expected) << c["ids"].dump() << " skip " << skip;
            StreamingDetokenizer detok(*tokenizer, skip);
            std::string streamed;
            for (TokenId id : ids)
                streamed += detok.push(id);
            EXPECT_EQ(streamed + detok.finish(), expected) << c["ids"].dump() << " skip " << skip;
        }
    }
}

// ---- engine end to end -------------------------------------------------------------------

TEST_P(LlavaCase, EngineMatchesTheReferenceOverTwoTurns) {
    Engine engine;
    LoadOptions load;
    load.device = DevicePreference::Cpu;
    ModelInfo info = engine.load((dir_ / "model").string(), load);
    EXPECT_EQ(info.family, "llava");
    EXPECT_EQ(info.dtype, "float32");

    Request r = request();
    r.generation.max_new_tokens = 20;
    r.generation.ignore_eos = true;
    EXPECT_EQ(engine.promptTokens(r), ids(*ref_, "input_ids"));
    std::string streamed;
    auto result = engine.generate(r, [&](const TokenEvent& e) { streamed += e.text; });
    ASSERT_NE(result.stop, StopReason::Error) << result.error;
    EXPECT_EQ(result.token_ids, ids(*ref_, "generated"));
    EXPECT_EQ(result.text, conversation_["answer"].get<std::string>());
    EXPECT_EQ(streamed, result.text);

    r.conversation.push_back({Role::Assistant, {{ContentPart::Kind::Text, result.text}}});
    r.conversation.push_back(turnFrom(Role::User, conversation_["turns"][1]));
    EXPECT_EQ(engine.promptTokens(r), ids(*ref_, "input_ids_turn2"));
    auto second = engine.generate(r);
    ASSERT_NE(second.stop, StopReason::Error) << second.error;
    EXPECT_EQ(second.token_ids, ids(*ref_, "generated_turn2"));
    EXPECT_EQ(second.timings.encode_ms, 0.0);  // images cached
    EXPECT_GT(second.timings.cached_tokens, static_cast<int>(ids(*ref_, "input_ids").size()) / 2);
}

TEST_P(LlavaCase, AttentionRowsEqualOutputAttentions) {
    Engine engine;
    LoadOptions load;
    load.device = DevicePreference::Cpu;
    engine.load((dir_ / "model").string(), load);
    const auto grids = test::firstTokenAttention(engine, request());
    ASSERT_FALSE(grids.empty());
    test::expectDefaultAttentionRow(grids, ref_->tensor("attention_last"));
    if (HasFatalFailure())
        return;

    // One 6x6 patch grid per image (plus the class token's empty block under "full").
    const bool full = GetParam() == "tiny_pad";
    ASSERT_EQ(grids.size(), images_.size() * (full ? 2 : 1));
    const auto& grid = grids[full ? 1 : 0];
    EXPECT_EQ(grid.rows, 6);
    EXPECT_EQ(grid.cols, 6);
    if (full) {
        EXPECT_EQ(grids[0].rows * grids[0].cols, 1);
        EXPECT_EQ(grids[0].width, 0.0);
    }
    // Image 0 is 150x90. Crop: resized to 140x84, the 84x84 frame from x = 28, i.e. original
    // x 30..120, full height. Pad: 150x150 with the image at y 30, resized to 96, cropped at
    // 6: the frame starts 6 * 150/96 = 9.375 in, and 30 px above the image.
    if (!full) {
        EXPECT_DOUBLE_EQ(grid.x, 30.0);
        EXPECT_DOUBLE_EQ(grid.y, 0.0);
        EXPECT_DOUBLE_EQ(grid.width, 90.0);
        EXPECT_DOUBLE_EQ(grid.height, 90.0);
    } else {
        EXPECT_DOUBLE_EQ(grid.x, 9.375);
        EXPECT_DOUBLE_EQ(grid.y, 9.375 - 30.0);
        EXPECT_DOUBLE_EQ(grid.width, 84 * 150.0 / 96);
    }
    // The heatmap over the original image: the frame's part of it, nothing outside the crop.
    Heatmap map = composeHeatmap({grid}, images_[0].width, images_[0].height);
    ASSERT_EQ(map.width, 150);
    if (!full) {
        EXPECT_EQ(map.values[10], 0.0f);          // left of the crop
        EXPECT_GT(map.values[75 + 45 * 150], 0.0f);  // inside it
    }
}

// Attention rollout (Engine::rolloutGrids): the first token's attention carried through the
// CLIP tower onto its 6x6 patches, one grid per image on the patch frame; the rollout's rows
// are distributions, so the patches hold the attention's mass but the class token's share.
TEST_P(LlavaCase, RolloutCarriesTheAttentionOntoThePatches) {
    Engine engine;
    LoadOptions load;
    load.device = DevicePreference::Cpu;
    engine.load((dir_ / "model").string(), load);
    const auto attention = test::firstTokenAttention(engine, request());
    ASSERT_FALSE(attention.empty());
    const auto rollout = engine.rolloutGrids(request(), {{0, 1}}, ExplainParams{});
    ASSERT_EQ(rollout.size(), 1u);
    ASSERT_EQ(rollout[0].size(), images_.size());
    double attended = 0, carried = 0;
    for (const auto& g : attention)
        for (float v : g.values)
            attended += v;
    const bool full = GetParam() == "tiny_pad";  // attention: the class token's block, then the patches
    for (std::size_t i = 0; i < rollout[0].size(); ++i) {
        const auto& g = rollout[0][i];
        EXPECT_EQ(g.rows, 6);
        EXPECT_EQ(g.cols, 6);
        EXPECT_EQ(g.width, attention[full ? 2 * i + 1 : i].width);
        for (float v : g.values) {
            EXPECT_GE(v, 0.0f);
            carried += v;
        }
    }
    EXPECT_GT(carried, 0.5 * attended);
    EXPECT_LE(carried, attended * (1 + 1e-4));
}

INSTANTIATE_TEST_SUITE_P(Tiny, LlavaCase, ::testing::Values("tiny", "tiny_pad"));

// Edge shapes (a 300x20 strip, a 5x3 speck, odd sizes) under three configurations, read from
// a preprocessor_config.json (the older file, as llava-hf ships it).
TEST(LlavaProcessor, EdgeShapesEqualTheReference) {
    const auto dir = test::referenceDir("llava") / "processor";
    VQA_SKIP_UNLESS_EXISTS(dir / "cases.json", kWhy);
    const json cases = json::parse(std::ifstream(dir / "cases.json"));
    auto ref = SafetensorsFile::open((dir / "pixel_values.safetensors").string());
    int compared = 0;
    for (const auto& [name, settings] : cases["configs"].items()) {
        auto folder = test::freshDir("llava-proc-" + name);
        json pre = settings;
        pre["image_processor_type"] = "CLIPImageProcessor";
        pre["resample"] = 3;
        std::ofstream(folder / "preprocessor_config.json") << pre.dump();
        ClipImageProcessor processor(ClipProcessorConfig::load(folder.string()));
        for (const auto& c : cases["cases"]) {
            if (c["config"] != name)
                continue;
            auto got = processor.process(loadImageFile((dir / c["image"].get<std::string>()).string())).pixel_values;
            auto expected = ref->tensor(c["key"].get<std::string>());
            ASSERT_EQ(got.sizes(), expected.sizes()) << c["key"];
            EXPECT_LT((got - expected).abs().max().item<double>(), 1e-6) << c["key"];
            ++compared;
        }
        fs::remove_all(folder);
    }
    EXPECT_EQ(compared, 15);
}

TEST(LlavaProcessor, ConsistencyWithTheModelConfig) {
    // LLaVA-1.5's defaults: CLIP-L/14 at 336, 576 features per image.
    const auto model =
        parseLlavaConfig(json::parse(R"({"model_type": "llava", "text_config": {"vocab_size": 32064}})"), "config.json");
    ClipProcessorConfig p;
    p.crop_height = p.crop_width = 336;
    p.patch_size = 14;
    p.num_additional_image_tokens = 1;
    p.vision_feature_select_strategy = "default";
    EXPECT_NO_THROW(checkLlavaConsistency(model, p, "m"));
    p.crop_height = p.crop_width = 224;
    EXPECT_NE(errorOf([&] { checkLlavaConsistency(model, p, "m"); }).find("224x224"), std::string::npos);
    p.crop_height = p.crop_width = 336;
    p.num_additional_image_tokens = 0;  // 575 tokens for 576 features
    EXPECT_NE(errorOf([&] { checkLlavaConsistency(model, p, "m"); }).find("575"), std::string::npos);
}

TEST(Heatmap, RectangleReachingOutsideTheImageKeepsItsScale) {
    // A 2x2 grid over x -50..50 of a 50-wide image: only the right column lands on it.
    HeatmapGrid g;
    g.rows = g.cols = 2;
    g.values = {0.f, 1.f, 0.f, 1.f};
    g.x = -50;
    g.width = 100;
    g.height = 20;
    Heatmap map = composeHeatmap({g}, 50, 20, HeatmapSource::Tiles);
    ASSERT_EQ(map.values.size(), 50u * 20u);
    EXPECT_GT(map.values[40 + 10 * 50], 0.9f);  // well inside the right cell
}

// ---- memory ------------------------------------------------------------------------------

TEST(MemoryEstimate, Verdicts) {
    using V = MemoryEstimate::Verdict;
    EXPECT_EQ(memoryVerdict(100, 200, 400), V::Fits);
    EXPECT_EQ(memoryVerdict(300, 200, 400), V::Tight);
    EXPECT_EQ(memoryVerdict(500, 200, 400), V::TooLarge);
    EXPECT_EQ(memoryVerdict(500, -1, -1), V::Fits);  // unknown: no claim
    EXPECT_EQ(formatMemorySize(3ll << 30), "3.0 GiB");
}

TEST(MemoryEstimate, CountsTheCheckpointInTheLoadDtype) {
    const auto dir = test::referenceDir("llava") / "tiny" / "model";
    VQA_SKIP_UNLESS_EXISTS(dir, kWhy);
    LoadOptions cpu;
    cpu.device = DevicePreference::Cpu;
    auto e = planLoad(dir.string(), cpu).memory;
    EXPECT_EQ(e.device, "cpu");
    EXPECT_EQ(e.dtype, "float32");
    EXPECT_EQ(e.stored_bytes, e.parameters * 4);  // an fp32 checkpoint
    EXPECT_EQ(e.verdict, MemoryEstimate::Verdict::Fits) << e.message;
    EXPECT_GT(e.total_bytes, 0);
    cpu.dtype = "bfloat16";
    auto half = planLoad(dir.string(), cpu).memory;
    EXPECT_EQ(half.needed_bytes - (256ll << 20), (e.needed_bytes - (256ll << 20)) / 2);
}

TEST(MemoryEstimate, EngineRefusesAModelLargerThanTheMachine) {
    // A checkpoint declaring 2^38 float32 values (1 TiB) in a sparse file: nothing is written.
    auto dir = test::freshDir("llava-huge");
    std::ofstream(dir / "config.json") << R"({"model_type": "llava"})";
    const std::int64_t n = 1ll << 38;
    std::string header = R"({"w":{"dtype":"F32","shape":[)" + std::to_string(n) + R"(],"data_offsets":[0,)" +
                         std::to_string(n * 4) + "]}}";
    while ((header.size() + 8) % 8)
        header += ' ';
    test::writeRawSafetensors(dir / "model.safetensors", header, {});
    fs::resize_file(dir / "model.safetensors", 8 + header.size() + static_cast<std::uintmax_t>(n) * 4);
    LoadOptions cpu;
    cpu.device = DevicePreference::Cpu;
    auto e = planLoad(dir.string(), cpu).memory;
    EXPECT_EQ(e.parameters, n);
    EXPECT_EQ(e.verdict, MemoryEstimate::Verdict::TooLarge);
    EXPECT_NE(e.message.find("more than this machine's"), std::string::npos) << e.message;
    // The engine refuses it with that message before building anything (with the tiny
    // case's tokenizer beside it, so loading gets that far).
    const auto tiny = test::referenceDir("llava") / "tiny" / "model";
    VQA_SKIP_UNLESS_EXISTS(tiny, kWhy);
    for (const char* f : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"})
        fs::copy_file(tiny / f, dir / f);
    Engine engine;
    const std::string error = errorOf([&] { engine.load(dir.string(), cpu); });
    EXPECT_NE(error.find("more than this machine's"), std::string::npos) << error;
    EXPECT_FALSE(engine.hasModel());
    fs::remove_all(dir);
}

}  // namespace
