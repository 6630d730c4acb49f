// The typed configuration of a Qwen3-VL checkpoint (dense: Qwen3VLForConditionalGeneration),
// from its config.json: text_config (the Qwen3 decoder; rotary settings under rope_scaling with
// rope_theta beside it, as released, or under rope_parameters, as transformers 5 writes them)
// and vision_config (sizes, num_position_embeddings, deepstack_visual_indexes). The MoE
// variants (qwen3_vl_moe) are refused with a message naming what is supported.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "models/Config.h"

namespace vqa {

// Throws vqa::Error naming `path` and the key when one is missing, wrong or unsupported.
models::Qwen3VLConfig parseQwen3VLConfig(const nlohmann::json& config, const std::string& path);

}  // namespace vqa
