#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/base/Error.h"
#include "engine/families/Families.h"
#include "engine/families/idefics3/Idefics3Config.h"
#include "engine/io/ModelConfig.h"
#include "tests/common/ErrorText.h"
#include "tests/common/TestPaths.h"
#include "tests/engine/test_safetensors_util.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using vqa::test::errorOf;

json tinyConfig() {
    return json::parse(R"({
      "model_type": "idefics3", "image_token_id": 5, "scale_factor": 2,
      "text_config": {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "vocab_size": 300, "rms_norm_eps": 1e-5,
        "rope_parameters": {"rope_theta": 50000.0, "rope_type": "default"}},
      "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 2, "image_size": 64, "patch_size": 16}
    })");
}

} // namespace

TEST(ModelConfig, SmolVLMFixture) {
    auto dir = vqa::test::smolvlmFixture();
    VQA_SKIP_UNLESS_EXISTS(dir, "the SmolVLM-256M-Instruct fixture files");
    auto j = vqa::readModelConfig(dir.string());
    EXPECT_EQ(vqa::detectFamily(j, "config.json").name, "idefics3");
    auto c = vqa::parseIdefics3Config(j, "config.json");
    EXPECT_EQ(c.image_token_id, 49190);
    EXPECT_EQ(c.scale_factor, 4);
    EXPECT_EQ(c.vision.hidden_size, 768);
    EXPECT_EQ(c.vision.intermediate_size, 3072);
    EXPECT_EQ(c.vision.num_hidden_layers, 12);
    EXPECT_EQ(c.vision.num_attention_heads, 12);
    EXPECT_EQ(c.vision.image_size, 512);
    EXPECT_EQ(c.vision.patch_size, 16);
    EXPECT_DOUBLE_EQ(c.vision.layer_norm_eps, 1e-6);
    EXPECT_EQ(c.vision.hidden_act, "gelu_pytorch_tanh");
    EXPECT_EQ(c.text.vocab_size, 49280);
    EXPECT_EQ(c.text.hidden_size, 576);
    EXPECT_EQ(c.text.intermediate_size, 1536);
    EXPECT_EQ(c.text.num_hidden_layers, 30);
    EXPECT_EQ(c.text.num_attention_heads, 9);
    EXPECT_EQ(c.text.num_key_value_heads, 3);
    EXPECT_EQ(c.text.head_dim, 64);
    EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-5);
    EXPECT_DOUBLE_EQ(c.text.rope_theta, 100000.0);
    EXPECT_EQ(c.text.max_position_embeddings, 8192);
    EXPECT_FALSE(c.text.tie_word_embeddings);
}

TEST(ModelConfig, TransformersFiveLayoutAndDefaults) {
    auto j = tinyConfig();
    auto c = vqa::parseIdefics3Config(j, "config.json");
    EXPECT_EQ(c.text.head_dim, 16); // hidden / heads when absent
    EXPECT_DOUBLE_EQ(c.text.rope_theta, 50000.0);
    EXPECT_EQ(c.text.max_position_embeddings, 2048);
    EXPECT_EQ(c.vision.num_channels, 3);
    EXPECT_DOUBLE_EQ(c.vision.layer_norm_eps, 1e-6);
    // Top-level tie decides; text_config's is ignored (as in transformers).
    j["text_config"]["tie_word_embeddings"] = true;
    EXPECT_FALSE(vqa::parseIdefics3Config(j, "config.json").text.tie_word_embeddings);
    j["tie_word_embeddings"] = true;
    EXPECT_TRUE(vqa::parseIdefics3Config(j, "config.json").text.tie_word_embeddings);
    // Square sizes as pairs.
    j["vision_config"]["image_size"] = json::array({64, 64});
    EXPECT_EQ(vqa::parseIdefics3Config(j, "config.json").vision.image_size, 64);
}

TEST(ModelConfig, FamilyDetection) {
    EXPECT_EQ(vqa::detectFamily(json{{"model_type", "llava"}}, "c").name, "llava");
    EXPECT_EQ(vqa::detectFamily(json{{"architectures", {"Idefics3ForConditionalGeneration"}}}, "c").name,
              "idefics3");
    auto msg = errorOf([] { vqa::detectFamily(json{{"model_type", "foo"}}, "m/config.json"); });
    EXPECT_EQ(msg, "m/config.json names model_type 'foo', which this build does not support; "
                   "supported: idefics3, smolvlm, llava, qwen2_5_vl, qwen2_vl, qwen3_vl");
    EXPECT_EQ(vqa::detectFamily(json{{"model_type", "qwen2_5_vl"}}, "c").name, "qwen2_5_vl");
    EXPECT_EQ(vqa::detectFamily(json{{"model_type", "smolvlm"}}, "c").name, "smolvlm");
    EXPECT_EQ(vqa::detectFamily(json{{"architectures", {"SmolVLMForConditionalGeneration"}}}, "c").name, "smolvlm");
    EXPECT_EQ(vqa::detectFamily(json{{"architectures", {"Qwen3VLForConditionalGeneration"}}}, "c").name,
              "qwen3_vl");
    EXPECT_EQ(vqa::detectFamily(json{{"architectures", {"Qwen2VLForConditionalGeneration"}}}, "c").name,
              "qwen2_vl");
    msg = errorOf([] { vqa::detectFamily(json::object(), "m/config.json"); });
    EXPECT_NE(msg.find("names no model_type"), std::string::npos) << msg;
    msg = errorOf([] { vqa::detectFamily(json{{"architectures", {"BertModel"}}}, "c"); });
    EXPECT_NE(msg.find("BertModel"), std::string::npos) << msg;
}

TEST(ModelConfigErrors, MissingOrBrokenFile) {
    auto dir = vqa::test::freshDir("cfg-files");
    auto msg = errorOf([&] { vqa::readModelConfig(dir.string()); });
    EXPECT_NE(msg.find("has no config.json"), std::string::npos) << msg;
    std::ofstream(dir / "config.json") << "{\"model_type\": \"idefics3\",, }";
    msg = errorOf([&] { vqa::readModelConfig(dir.string()); });
    EXPECT_NE(msg.find("config.json: is not valid JSON"), std::string::npos) << msg;
    EXPECT_NE(msg.find("parse error"), std::string::npos) << msg; // the parser's own words
    std::ofstream(dir / "config.json", std::ios::trunc) << "[1]";
    msg = errorOf([&] { vqa::readModelConfig(dir.string()); });
    EXPECT_NE(msg.find("not an object"), std::string::npos) << msg;
    msg = errorOf([&] { vqa::readModelConfig((dir / "nope").string()); });
    EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
    fs::remove_all(dir);
}

TEST(ModelConfigErrors, BadValuesNameTheKey) {
    auto check = [](json j, const std::string& needle) {
        auto msg = errorOf([&] { vqa::parseIdefics3Config(j, "config.json"); });
        EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    };
    auto j = tinyConfig();
    j["text_config"]["hidden_size"] = "big";
    check(j, "text_config.hidden_size is \"big\", but it must be an integer");
    j = tinyConfig();
    j["vision_config"]["num_hidden_layers"] = 0;
    check(j, "vision_config.num_hidden_layers is 0, but it must be at least 1");
    j = tinyConfig();
    j["text_config"]["num_key_value_heads"] = 3;
    check(j, "is not a multiple of text_config.num_key_value_heads");
    j = tinyConfig();
    j["text_config"]["rope_scaling"] = json{{"rope_type", "llama3"}, {"factor", 8}};
    check(j, "rope_type 'llama3'");
    j = tinyConfig();
    j["text_config"]["hidden_act"] = "gelu";
    check(j, "only 'silu'");
    j = tinyConfig();
    j["image_token_id"] = 300;
    check(j, "outside the vocabulary");
    j = tinyConfig();
    j["scale_factor"] = 3;
    check(j, "not divisible by scale_factor 3");
    j = tinyConfig();
    j["vision_config"]["image_size"] = json::array({64, 32});
    check(j, "only square sizes");
    j = tinyConfig();
    j["text_config"] = 7;
    check(j, "text_config must be an object");
    j = tinyConfig();
    j["tie_word_embeddings"] = "yes";
    check(j, "tie_word_embeddings is \"yes\", but it must be true or false");
    j = tinyConfig();
    j["text_config"]["vocab_size"] = 1e30;
    check(j, "text_config.vocab_size");
}
