// The typed configuration of a Qwen2-VL or Qwen2.5-VL checkpoint, from its config.json, in
// either layout in use: transformers 4's flat one (the text model's keys at the top,
// vision_config nested, rope_scaling {type: mrope, mrope_section}) and transformers 5's
// (text_config and vision_config, the rotary settings possibly under rope_parameters).
// Vision keys: Qwen2-VL's embed_dim, mlp_ratio and hidden_size (the merger's output);
// Qwen2.5-VL's hidden_size, intermediate_size, out_hidden_size, window_size and
// fullatt_block_indexes.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/Config.h"

namespace vqa {

// Throws vqa::Error naming `path` and the key when one is missing (vision_config, or a size
// of the vision tower), wrong (mrope_section whose sum is not head_dim / 2, a non-positive
// size) or unsupported.
models::Qwen2VLConfig parseQwen2VLConfig(const nlohmann::json& config, const std::string& path);

// Pieces the Qwen-VL families' parsers share (Qwen3VLConfig.cpp too).
namespace qwen_config {

// vision_config's size `name`, which has no sensible default: missing is an error.
int requiredVisionSize(const nlohmann::json& vision, const char* name, const std::string& path);
// The first of `names` present in vision_config, else `fallback`.
int visionSizeField(const nlohmann::json& vision, std::initializer_list<const char*> names, int fallback,
                    const std::string& path);
// The text model's keys with `defaults` (the reference config class's) where absent, and the
// rotary type "mrope" read as the plain type the shared Llama parser knows.
nlohmann::json textForLlamaParser(nlohmann::json text,
                                  const std::vector<std::pair<const char*, nlohmann::json>>& defaults);
// rope_scaling / rope_parameters .mrope_section of `text` (at `where` in the file), else
// `fallback`; throws unless it is three positive integers summing to head_dim / 2.
std::vector<int> mropeSection(const nlohmann::json& text, const std::string& path, const std::string& where,
                              int head_dim, std::vector<int> fallback);
// The text model's configuration, in transformers 4's flat layout or 5's text_config, with
// lm_head tied when either level asks for it; `where` receives where its keys are.
models::LlamaConfig parseText(const nlohmann::json& config, const std::string& path,
                              const std::vector<std::pair<const char*, nlohmann::json>>& defaults,
                              std::string& where);

}  // namespace qwen_config

} // namespace vqa
