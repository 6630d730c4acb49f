// A checkpoint's config.json: which model family it is, and its typed configuration.
// Keys missing from config.json take the defaults of the reference implementation's config
// classes (transformers' Idefics3Config, Idefics3VisionConfig, LlamaConfig).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>  // readModelConfig returns one by value

#include "models/Config.h"

namespace vqa {

// Parses <model_dir>/config.json. Throws vqa::Error when it is missing, unreadable or not a
// JSON object (with the parser's message, which gives the byte position).
nlohmann::json readModelConfig(const std::string& model_dir);

// The families this build knows by name, in the order error messages list them.
const std::vector<std::string>& supportedFamilies();

// Maps config.json's model_type (or, when absent, its architectures) to a family name:
// "idefics3" or "llava". Throws vqa::Error "<path> names model_type 'foo', which this build
// does not support; supported: idefics3, llava". `path` is only used in messages.
std::string detectFamily(const nlohmann::json& config, const std::string& path);

// Typed configuration of an Idefics3 / SmolVLM checkpoint. Throws vqa::Error naming the key
// when a value has the wrong type or is out of range, or when the checkpoint uses a feature
// the models do not implement (rope scaling, a text activation other than silu).
// tie_word_embeddings: taken from the top level of config.json (default false), not from
// text_config: transformers ties lm_head to embed_tokens on Idefics3ForConditionalGeneration,
// whose config is the top-level one, so text_config's value is ignored there too.
models::Idefics3Config parseIdefics3Config(const nlohmann::json& config, const std::string& path);

// Typed configuration of a LLaVA (1.5) checkpoint: a CLIP vision tower (vision_config,
// defaults of LlavaConfig's ViT-L/14-336), a Llama text_config, vision_feature_layer (an
// integer or a list), vision_feature_select_strategy ("default" drops the class token,
// "full" keeps it), projector_hidden_act, multimodal_projector_bias and image_token_index.
// Throws vqa::Error naming the key when a value is wrong or unsupported.
models::LlavaConfig parseLlavaConfig(const nlohmann::json& config, const std::string& path);

// The pieces, for other families: a Llama-style text config and a ViT vision config.
// `where` prefixes key names in messages ("text_config").
models::LlamaConfig parseLlamaConfig(const nlohmann::json& j, const std::string& path,
                                     const std::string& where);
models::VisionConfig parseVisionConfig(const nlohmann::json& j, const std::string& path,
                                       const std::string& where,
                                       const models::VisionConfig& defaults);

} // namespace vqa
