// config.json of a dual encoder -> models::DualEncoderConfig. CLIP (model_type "clip") and
// SigLIP ("siglip", SigLIP 2's fixed-resolution checkpoints too), their text_config and vision_config with the reference's defaults for
// absent keys (transformers' CLIPConfig / SiglipConfig).
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "models/Config.h"

namespace vqa::retrieval {

// Throws vqa::Error naming `path` and the key: a model_type that is not a dual encoder (it
// names what it found and what is supported), a field of the wrong type or out of range.
models::DualEncoderConfig parseDualEncoderConfig(const nlohmann::json& config, const std::string& path);

} // namespace vqa::retrieval
