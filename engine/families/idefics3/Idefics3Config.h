// The typed configuration of an Idefics3 / SmolVLM checkpoint, from its config.json. Keys
// missing from config.json take the defaults of transformers' Idefics3Config,
// Idefics3VisionConfig and LlamaConfig.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "models/Config.h"

namespace vqa {

// Throws vqa::Error naming the key when a value has the wrong type or is out of range, or when
// the checkpoint uses a feature the models do not implement (rope scaling, a text activation
// other than silu).
// tie_word_embeddings: taken from the top level of config.json (default false), not from
// text_config: transformers ties lm_head to embed_tokens on Idefics3ForConditionalGeneration,
// whose config is the top-level one, so text_config's value is ignored there too.
models::Idefics3Config parseIdefics3Config(const nlohmann::json& config, const std::string& path);

} // namespace vqa
