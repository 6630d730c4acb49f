// The typed configuration of a Qwen2-VL or Qwen2.5-VL checkpoint, from its config.json, in
// either layout in use: transformers 4's flat one (the text model's keys at the top,
// vision_config nested, rope_scaling {type: mrope, mrope_section}) and transformers 5's
// (text_config and vision_config, the rotary settings possibly under rope_parameters).
// Vision keys: Qwen2-VL's embed_dim, mlp_ratio and hidden_size (the merger's output);
// Qwen2.5-VL's hidden_size, intermediate_size, out_hidden_size, window_size and
// fullatt_block_indexes.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "models/Config.h"

namespace vqa {

// Throws vqa::Error naming `path` and the key when one is missing (vision_config, or a size
// of the vision tower), wrong (mrope_section whose sum is not head_dim / 2, a non-positive
// size) or unsupported.
models::Qwen2VLConfig parseQwen2VLConfig(const nlohmann::json& config, const std::string& path);

} // namespace vqa
