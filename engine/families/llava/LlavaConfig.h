// The typed configuration of a LLaVA (1.5) checkpoint, from its config.json: a CLIP vision
// tower (vision_config, defaults of LlavaConfig's ViT-L/14-336), a Llama text_config,
// vision_feature_layer (an integer or a list), vision_feature_select_strategy ("default" drops
// the class token, "full" keeps it), projector_hidden_act, multimodal_projector_bias and
// image_token_index.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "models/Config.h"

namespace vqa {

// Throws vqa::Error naming the key when a value is wrong or unsupported.
models::LlavaConfig parseLlavaConfig(const nlohmann::json& config, const std::string& path);

} // namespace vqa
