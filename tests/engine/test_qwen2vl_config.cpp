// parseQwen2VLConfig: both config.json layouts of Qwen2-VL / Qwen2.5-VL checkpoints, and a
// clear message naming the file and the key for each thing it refuses.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/families/qwen2vl/Qwen2VLConfig.h"
#include "models/base/Error.h"

using nlohmann::json;

namespace {

// Qwen/Qwen2.5-VL-3B-Instruct's config.json (transformers 4, flat).
json qwen25Flat() {
    return json::parse(R"({
      "architectures": ["Qwen2_5_VLForConditionalGeneration"], "attention_dropout": 0.0,
      "bos_token_id": 151643, "eos_token_id": 151645, "vision_start_token_id": 151652,
      "vision_end_token_id": 151653, "vision_token_id": 151654, "image_token_id": 151655,
      "video_token_id": 151656, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
      "intermediate_size": 11008, "max_position_embeddings": 128000, "max_window_layers": 70,
      "model_type": "qwen2_5_vl", "num_attention_heads": 16, "num_hidden_layers": 36,
      "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768,
      "tie_word_embeddings": true, "torch_dtype": "bfloat16", "transformers_version": "4.41.2",
      "use_cache": true, "use_sliding_window": false,
      "vision_config": {"depth": 32, "hidden_act": "silu", "hidden_size": 1280, "intermediate_size": 3420,
        "num_heads": 16, "in_chans": 3, "out_hidden_size": 2048, "patch_size": 14, "spatial_merge_size": 2,
        "spatial_patch_size": 14, "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2, "temporal_patch_size": 2},
      "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}, "vocab_size": 151936})");
}

// Qwen/Qwen2-VL-2B-Instruct's (flat; the vision tower's width is embed_dim, hidden_size is the
// merger's output).
json qwen2Flat() {
    return json::parse(R"({
      "architectures": ["Qwen2VLForConditionalGeneration"], "bos_token_id": 151643, "eos_token_id": 151645,
      "vision_start_token_id": 151652, "vision_end_token_id": 151653, "vision_token_id": 151654,
      "image_token_id": 151655, "video_token_id": 151656, "hidden_act": "silu", "hidden_size": 1536,
      "intermediate_size": 8960, "max_position_embeddings": 32768, "max_window_layers": 28,
      "model_type": "qwen2_vl", "num_attention_heads": 12, "num_hidden_layers": 28, "num_key_value_heads": 2,
      "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true,
      "use_sliding_window": false,
      "vision_config": {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16, "in_chans": 3,
        "hidden_size": 1536, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
      "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}, "vocab_size": 151936})");
}

// The same 3B model as transformers 5 saves it: text_config, rope_parameters.
json qwen25Nested() {
    json flat = qwen25Flat();
    json text;
    for (const char* k : {"hidden_size", "intermediate_size", "num_attention_heads",
                          "num_hidden_layers", "num_key_value_heads", "rms_norm_eps", "vocab_size",
                          "max_position_embeddings", "hidden_act"}) {
        text[k] = flat[k];
        flat.erase(k);
    }
    text["rope_parameters"] = {
        {"rope_type", "default"}, {"rope_theta", 1000000.0}, {"mrope_section", {16, 24, 24}}};
    flat.erase("rope_scaling");
    flat.erase("rope_theta");
    flat["text_config"] = text;
    return flat;
}

std::string errorOf(const json& config) {
    try {
        vqa::parseQwen2VLConfig(config, "model/config.json");
    } catch (const vqa::Error& e) {
        return e.what();
    }
    return "";
}

#define EXPECT_ERROR_MENTIONS(config, ...)                                                         \
    do {                                                                                           \
        const auto message = errorOf(config);                                                      \
        ASSERT_FALSE(message.empty()) << "accepted";                                               \
        for (const char* part : {"model/config.json", __VA_ARGS__})                                \
            EXPECT_NE(message.find(part), std::string::npos) << message << " lacks " << part;      \
    } while (0)

TEST(Qwen2VLConfig, ReadsQwen25FlatLayout) {
    auto c = vqa::parseQwen2VLConfig(qwen25Flat(), "config.json");
    EXPECT_EQ(c.model_type, "qwen2_5_vl");
    EXPECT_EQ(c.vision.depth, 32);
    EXPECT_EQ(c.vision.hidden_size, 1280);
    EXPECT_EQ(c.vision.intermediate_size, 3420);
    EXPECT_EQ(c.vision.out_hidden_size, 2048);
    EXPECT_EQ(c.vision.window_size, 112);
    EXPECT_EQ(c.vision.fullatt_block_indexes, (std::vector<int>{7, 15, 23, 31}));
    EXPECT_TRUE(c.vision.gated_mlp);
    EXPECT_EQ(c.vision.hidden_act, "silu");
    EXPECT_EQ(c.vision.in_channels, 3);
    EXPECT_EQ(c.text.hidden_size, 2048);
    EXPECT_EQ(c.text.num_key_value_heads, 2);
    EXPECT_EQ(c.text.head_dim, 128);
    EXPECT_DOUBLE_EQ(c.text.rope_theta, 1e6);
    EXPECT_EQ(c.text.mrope_section, (std::vector<int>{16, 24, 24}));
    EXPECT_TRUE(c.text.tie_word_embeddings);
    EXPECT_EQ(c.image_token_id, 151655);
    EXPECT_EQ(c.video_token_id, 151656);
    EXPECT_EQ(c.vision_start_token_id, 151652);
}

TEST(Qwen2VLConfig, ReadsTransformers5LayoutTheSame) {
    auto flat = vqa::parseQwen2VLConfig(qwen25Flat(), "config.json");
    auto nested = vqa::parseQwen2VLConfig(qwen25Nested(), "config.json");
    EXPECT_EQ(nested.text.hidden_size, flat.text.hidden_size);
    EXPECT_EQ(nested.text.num_hidden_layers, flat.text.num_hidden_layers);
    EXPECT_EQ(nested.text.head_dim, flat.text.head_dim);
    EXPECT_DOUBLE_EQ(nested.text.rope_theta, flat.text.rope_theta);
    EXPECT_EQ(nested.text.mrope_section, flat.text.mrope_section);
    EXPECT_EQ(nested.text.tie_word_embeddings, flat.text.tie_word_embeddings);
    // transformers 4 saves of the nested layout put tie_word_embeddings in text_config only.
    auto inner_tie = qwen25Nested();
    inner_tie.erase("tie_word_embeddings");
    inner_tie["text_config"]["tie_word_embeddings"] = true;
    EXPECT_TRUE(vqa::parseQwen2VLConfig(inner_tie, "config.json").text.tie_word_embeddings);
    inner_tie["text_config"]["tie_word_embeddings"] = false;
    EXPECT_FALSE(vqa::parseQwen2VLConfig(inner_tie, "config.json").text.tie_word_embeddings);
}

TEST(Qwen2VLConfig, ReadsQwen2VLVisionKeys) {
    auto c = vqa::parseQwen2VLConfig(qwen2Flat(), "config.json");
    EXPECT_EQ(c.model_type, "qwen2_vl");
    EXPECT_EQ(c.vision.hidden_size, 1280);
    EXPECT_EQ(c.vision.intermediate_size, 5120);
    EXPECT_EQ(c.vision.out_hidden_size, 1536);
    EXPECT_FALSE(c.vision.gated_mlp);
    EXPECT_EQ(c.vision.window_size, 0);
    EXPECT_EQ(c.vision.hidden_act, "quick_gelu");
    EXPECT_EQ(c.text.hidden_size, 1536);
    EXPECT_EQ(c.text.mrope_section, (std::vector<int>{16, 24, 24}));
}

TEST(Qwen2VLConfig, MissingVisionConfigOrKeyIsNamed) {
    auto no_vision = qwen25Flat();
    no_vision.erase("vision_config");
    EXPECT_ERROR_MENTIONS(no_vision, "vision_config is missing");
    for (const char* k :
         {"depth", "hidden_size", "num_heads", "intermediate_size", "out_hidden_size"}) {
        auto c = qwen25Flat();
        c["vision_config"].erase(k);
        const std::string name = std::string("vision_config.") + k;
        EXPECT_ERROR_MENTIONS(c, name.c_str(), "missing");
    }
    auto c = qwen2Flat();
    c["vision_config"].erase("embed_dim");
    EXPECT_ERROR_MENTIONS(c, "vision_config.embed_dim", "missing");
}

TEST(Qwen2VLConfig, MismatchedMropeSectionIsRefused) {
    auto c = qwen25Flat();
    c["rope_scaling"]["mrope_section"] = {16, 24, 16};
    EXPECT_ERROR_MENTIONS(c, "rope_scaling.mrope_section", "sums to 56", "64");
    auto nested = qwen25Nested();
    nested["text_config"]["rope_parameters"]["mrope_section"] = {16, 24};
    EXPECT_ERROR_MENTIONS(nested, "text_config.rope_parameters.mrope_section",
                          "three positive integers");
    nested["text_config"]["rope_parameters"]["mrope_section"] = "16,24,24";
    EXPECT_ERROR_MENTIONS(nested, "text_config.rope_parameters.mrope_section");
}

TEST(Qwen2VLConfig, NonPositiveOrInconsistentSizesAreRefused) {
    auto c = qwen25Flat();
    c["vision_config"]["depth"] = 0;
    EXPECT_ERROR_MENTIONS(c, "vision_config.depth", "at least 1");
    c = qwen25Flat();
    c["vision_config"]["num_heads"] = -16;
    EXPECT_ERROR_MENTIONS(c, "vision_config.num_heads");
    c = qwen25Flat();
    c["vision_config"]["patch_size"] = 0;
    EXPECT_ERROR_MENTIONS(c, "vision_config.patch_size");
    c = qwen25Flat();
    c["vision_config"]["num_heads"] = 3;
    EXPECT_ERROR_MENTIONS(c, "vision_config.hidden_size", "multiple of 4");
    c = qwen25Flat();
    c["vision_config"]["out_hidden_size"] = 1024;
    EXPECT_ERROR_MENTIONS(c, "vision_config.out_hidden_size", "hidden_size");
    c = qwen25Flat();
    c["vision_config"]["fullatt_block_indexes"] = {7, 32};
    EXPECT_ERROR_MENTIONS(c, "vision_config.fullatt_block_indexes", "block 32");
    c = qwen25Flat();
    c["vision_config"]["window_size"] = 14;
    EXPECT_ERROR_MENTIONS(c, "vision_config.window_size");
    c = qwen25Flat();
    c["hidden_size"] = 0;
    EXPECT_ERROR_MENTIONS(c, "hidden_size");
    c = qwen25Flat();
    c["image_token_id"] = 200000;
    EXPECT_ERROR_MENTIONS(c, "image_token_id", "vocab");
    c = qwen25Flat();
    c["model_type"] = "qwen3_vl";
    EXPECT_ERROR_MENTIONS(c, "qwen3_vl");
}

} // namespace
