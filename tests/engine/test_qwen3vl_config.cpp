// parseQwen3VLConfig: Qwen3-VL's config.json as released (rope_scaling with rope_theta beside
// it) and as transformers 5 saves it (rope_parameters), the Qwen3 decoder's switches, and a
// clear message for each thing it refuses (the mixture-of-experts models among them). And
// Qwen3-VL's chat templates, Instruct and Thinking, against what transformers renders.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/explain/Grounding.h"
#include "engine/families/Families.h"
#include "engine/families/qwen2vl/Qwen2VLRuntime.h"
#include "engine/families/qwen3vl/Qwen3VLConfig.h"
#include "engine/text/ChatFormat.h"
#include "engine/vision/ImageIO.h"
#include "models/base/Error.h"
#include "tests/common/TestPaths.h"

using nlohmann::json;

namespace {

// Qwen/Qwen3-VL-2B-Instruct's config.json.
json qwen3vl2b() {
    return json::parse(R"({
      "architectures": ["Qwen3VLForConditionalGeneration"], "image_token_id": 151655, "model_type": "qwen3_vl",
      "text_config": {"attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 151643,
        "dtype": "bfloat16", "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 2048,
        "initializer_range": 0.02, "intermediate_size": 6144, "max_position_embeddings": 262144,
        "model_type": "qwen3_vl_text", "num_attention_heads": 16, "num_hidden_layers": 28,
        "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
        "rope_scaling": {"mrope_interleaved": true, "mrope_section": [24, 20, 20], "rope_type": "default"},
        "rope_theta": 5000000, "tie_word_embeddings": true, "use_cache": true, "vocab_size": 151936},
      "tie_word_embeddings": true, "transformers_version": "4.57.0.dev0", "video_token_id": 151656,
      "vision_config": {"deepstack_visual_indexes": [5, 11, 17], "depth": 24, "hidden_act": "gelu_pytorch_tanh",
        "hidden_size": 1024, "in_channels": 3, "initializer_range": 0.02, "intermediate_size": 4096,
        "model_type": "qwen3_vl", "num_heads": 16, "num_position_embeddings": 2304, "out_hidden_size": 2048,
        "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2},
      "vision_end_token_id": 151653, "vision_start_token_id": 151652})");
}

std::string errorOf(const json& config) {
    try {
        vqa::parseQwen3VLConfig(config, "m/config.json");
    } catch (const vqa::Error& e) {
        return e.what();
    }
    return "";
}

TEST(Qwen3VLConfig, ReadsTheReleasedConfig) {
    const auto c = vqa::parseQwen3VLConfig(qwen3vl2b(), "m/config.json");
    EXPECT_EQ(c.model_type, "qwen3_vl");
    EXPECT_EQ(c.vision.depth, 24);
    EXPECT_EQ(c.vision.hidden_size, 1024);
    EXPECT_EQ(c.vision.intermediate_size, 4096);
    EXPECT_EQ(c.vision.patch_size, 16);
    EXPECT_EQ(c.vision.num_position_embeddings, 2304);
    EXPECT_EQ(c.vision.deepstack_visual_indexes, (std::vector<int>{5, 11, 17}));
    EXPECT_EQ(c.vision.hidden_act, "gelu_pytorch_tanh");
    EXPECT_FALSE(c.vision.gated_mlp);
    EXPECT_EQ(c.vision.window_size, 0);
    EXPECT_DOUBLE_EQ(c.vision.rope_theta, 10000.0);
    EXPECT_EQ(c.text.hidden_size, 2048);
    EXPECT_EQ(c.text.head_dim, 128);
    EXPECT_EQ(c.text.num_key_value_heads, 8);
    EXPECT_DOUBLE_EQ(c.text.rope_theta, 5000000.0);
    EXPECT_EQ(c.text.mrope_section, (std::vector<int>{24, 20, 20}));
    EXPECT_TRUE(c.text.mrope_interleaved);
    EXPECT_TRUE(c.text.qk_norm);
    EXPECT_FALSE(c.text.qkv_bias);
    EXPECT_FALSE(c.text.attention_bias);
    EXPECT_TRUE(c.text.tie_word_embeddings);
    EXPECT_EQ(c.image_token_id, 151655);
    EXPECT_EQ(c.vision_start_token_id, 151652);
}

TEST(Qwen3VLConfig, ReadsTransformers5sRopeParametersAndTheDefaults) {
    json j = qwen3vl2b();
    auto& text = j["text_config"];
    text.erase("rope_scaling");
    text.erase("rope_theta");
    text["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 5000000.0}, {"mrope_section", {24, 20, 20}}};
    j["tie_word_embeddings"] = false;
    text["tie_word_embeddings"] = false;
    const auto c = vqa::parseQwen3VLConfig(j, "m/config.json");
    EXPECT_DOUBLE_EQ(c.text.rope_theta, 5000000.0);
    EXPECT_EQ(c.text.mrope_section, (std::vector<int>{24, 20, 20}));
    EXPECT_FALSE(c.text.tie_word_embeddings);
    // Without mrope_section the reference's default, [24, 20, 20].
    text["rope_parameters"].erase("mrope_section");
    EXPECT_EQ(vqa::parseQwen3VLConfig(j, "m/config.json").text.mrope_section, (std::vector<int>{24, 20, 20}));
}

TEST(Qwen3VLConfig, RefusesWhatItCannotRunByName) {
    json moe = qwen3vl2b();
    moe["model_type"] = "qwen3_vl_moe";
    EXPECT_NE(errorOf(moe).find("mixture-of-experts"), std::string::npos) << errorOf(moe);
    EXPECT_NE(errorOf(moe).find("Qwen3-VL-2B"), std::string::npos);
    // The family table sends the MoE model type here, so its config gets that message.
    EXPECT_EQ(vqa::detectFamily(moe, "m/config.json").name, "qwen3_vl");

    json no_vision = qwen3vl2b();
    no_vision.erase("vision_config");
    EXPECT_NE(errorOf(no_vision).find("vision_config is missing"), std::string::npos);

    json level = qwen3vl2b();
    level["vision_config"]["deepstack_visual_indexes"] = {5, 11, 24};
    EXPECT_NE(errorOf(level).find("names block 24"), std::string::npos) << errorOf(level);

    json section = qwen3vl2b();
    section["text_config"]["rope_scaling"]["mrope_section"] = {24, 20, 10};
    EXPECT_NE(errorOf(section).find("head_dim / 2 = 64"), std::string::npos) << errorOf(section);

    json width = qwen3vl2b();
    width["vision_config"]["out_hidden_size"] = 1024;
    EXPECT_NE(errorOf(width).find("out_hidden_size"), std::string::npos) << errorOf(width);

    json levels = qwen3vl2b();
    levels["text_config"]["num_hidden_layers"] = 2;
    EXPECT_NE(errorOf(levels).find("3 DeepStack levels"), std::string::npos) << errorOf(levels);
}

// The templates make_qwen3vl.py wrote (Instruct: engine/, Thinking: thinking/) and what
// transformers rendered with them: the same text from the chat format each is recognized as.
TEST(Qwen3VLChatFormat, RendersAsTheReleasedTemplatesDo) {
    const auto dir = vqa::test::referenceDir("qwen3vl");
    VQA_SKIP_UNLESS_EXISTS(dir / "thinking" / "rendered.json", "run tests/reference/make_qwen3vl.py");
    const json ref = json::parse(std::ifstream(dir / "thinking" / "rendered.json"));
    auto templateOf = [](const std::filesystem::path& model) {
        return json::parse(std::ifstream(model / "chat_template.json"))["chat_template"].get<std::string>();
    };
    auto turn = [](vqa::Role role, const json& parts) {
        vqa::Turn t{role, {}};
        for (const auto& p : parts)
            t.content.push_back(p["type"] == "image" ? vqa::ContentPart{vqa::ContentPart::Kind::Image, {}}
                                                     : vqa::ContentPart{vqa::ContentPart::Kind::Text, p["text"]});
        return t;
    };
    const vqa::Conversation first = {turn(vqa::Role::User, ref["turns"][0])};
    vqa::Conversation second = first;
    second.push_back({vqa::Role::Assistant, {{vqa::ContentPart::Kind::Text, ref["earlier_answer"]}}});
    second.push_back(turn(vqa::Role::User, ref["turns"][1]));

    const auto instruct = vqa::chatFormatFor(templateOf(dir / "engine" / "model"));
    EXPECT_FALSE(instruct->answersStartWithReasoning());
    EXPECT_EQ(instruct->render(first, true), ref["instruct_rendered"][0].get<std::string>());
    EXPECT_EQ(instruct->render(second, true), ref["instruct_rendered"][1].get<std::string>());

    const auto thinking = vqa::chatFormatFor(templateOf(dir / "thinking" / "model"));
    EXPECT_TRUE(thinking->answersStartWithReasoning());
    EXPECT_EQ(thinking->render(first, true), ref["rendered"][0].get<std::string>());
    // The earlier answer's reasoning is left out of the history.
    EXPECT_EQ(thinking->render(second, true), ref["rendered"][1].get<std::string>());
}

// Qwen3-VL names boxes as bbox_2d JSON on a 0-1000 scale of the image: its layout says so,
// and a box it names lands on the original image's pixels.
TEST(Qwen3VLGrounding, BoxesOnTheThousandScaleLandOnTheImage) {
    const auto dir = vqa::test::referenceDir("qwen3vl") / "engine";
    VQA_SKIP_UNLESS_EXISTS(dir / "image0.png", "run tests/reference/make_qwen3vl.py");
    const vqa::Qwen2VLImageProcessor processor(vqa::Qwen2VLProcessorConfig::load((dir / "model").string()));
    const auto image = vqa::decodeImageFile((dir / "image0.png").string());  // 150 x 90
    const auto prepared =
        vqa::qwen_runtime::prepareImage(processor, image, {}, vqa::qwen_runtime::BoxSpace::Thousandths);
    EXPECT_EQ(prepared.layout.box_space_width, 1000);
    EXPECT_EQ(prepared.layout.box_space_height, 1000);
    const auto boxes = vqa::parseGroundingBoxes(
        R"([{"bbox_2d": [100, 200, 500, 800], "label": "cat"}])", prepared.layout, 0);
    ASSERT_EQ(boxes.size(), 1u);
    EXPECT_EQ(boxes[0].label, "cat");
    EXPECT_NEAR(boxes[0].x1, 0.1 * image.width, 1e-9);
    EXPECT_NEAR(boxes[0].y1, 0.2 * image.height, 1e-9);
    EXPECT_NEAR(boxes[0].x2, 0.5 * image.width, 1e-9);
    EXPECT_NEAR(boxes[0].y2, 0.8 * image.height, 1e-9);
}

}  // namespace
