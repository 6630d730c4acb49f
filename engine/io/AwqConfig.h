// Checkpoints quantized by AWQ (AutoAWQ, and transformers' AwqConfig), as users download
// them (Qwen/Qwen2.5-VL-3B-Instruct-AWQ, ...): config.json's quantization_config says
//   {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm", "zero_point": true,
//    "modules_to_not_convert": ["visual"]}
// and each quantized linear `X` is stored as three tensors in place of X.weight:
//   X.qweight  int32 [in, out / 8]          eight 4-bit weights per int32, columns interleaved
//   X.qzeros   int32 [in / group, out / 8]  the groups' zero points, packed the same way
//   X.scales   float16 [in / group, out]    the groups' scales
// and w[o][i] = scales[g][o] * (q[i][o] - z[g][o]) with g = i / group. Which checkpoints this
// build reads is decided here; engine/io/AwqWeights.h reads their tensors. Free of LibTorch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace vqa {

struct AwqSettings {
    int bits = 4;
    std::int64_t group_size = 128;  // input weights per scale and zero point; -1: the whole row
};

// config.json's quantization_config (at its top level or in text_config): the AWQ settings,
// or nullopt when it has none. Throws vqa::Error naming what is supported for an AWQ
// configuration this build cannot read (another bit width, version or group size, no zero
// points) and for any other quant_method (GPTQ, bitsandbytes, ...). `where` names the file.
std::optional<AwqSettings> awqSettings(const nlohmann::json& config, const std::string& where);

// A tensor name's stem when it is one of an AWQ linear's three tensors ("X.qweight" -> "X").
std::optional<std::string> awqStem(const std::string& name);

}  // namespace vqa
