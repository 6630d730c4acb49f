#include "engine/io/AwqConfig.h"

#include <algorithm>
#include <cctype>

#include "models/base/Error.h"

namespace vqa {

namespace {

const char* const kSupported =
    "this build reads AWQ checkpoints with 4-bit weights in the GEMM layout (quant_method 'awq', "
    "bits 4, version 'gemm', zero_point true, group_size a multiple of 32 or -1)";

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

std::string field(const nlohmann::json& q, const char* key) {
    if (!q.contains(key))
        return "none";
    return q[key].is_string() ? q[key].get<std::string>() : q[key].dump();
}

}  // namespace

std::optional<AwqSettings> awqSettings(const nlohmann::json& config, const std::string& where) {
    const nlohmann::json* q = nullptr;
    for (const auto* c : {&config, config.contains("text_config") ? &config["text_config"] : nullptr})
        if (c != nullptr && c->is_object() && c->contains("quantization_config"))
            q = &(*c)["quantization_config"];
    if (q == nullptr)
        return std::nullopt;
    std::string method = "unknown";
    if (q->is_object() && q->contains("quant_method") && (*q)["quant_method"].is_string())
        method = lower((*q)["quant_method"].get<std::string>());
    if (method != "awq")
        throw Error(where + " describes a checkpoint quantized by another tool (quantization_config, quant_method '" +
                    method + "'), which this build cannot load; " + kSupported +
                    ", and float32, bfloat16 and float16 checkpoints, which it quantizes itself: download the "
                    "model's full-precision or AWQ checkpoint (then --dtype int8 or int4 for 8- or 4-bit weights)");
    AwqSettings s;
    const auto refuse = [&](const std::string& what) {
        throw Error(where + ": the AWQ checkpoint has " + what + "; " + kSupported);
    };
    const auto integer = [&](const char* key, std::int64_t fallback) -> std::int64_t {
        if (!q->contains(key))
            return fallback;
        if (!(*q)[key].is_number_integer())
            refuse(std::string(key) + " " + field(*q, key));
        return (*q)[key].get<std::int64_t>();
    };
    const std::int64_t bits = integer(q->contains("bits") ? "bits" : "w_bit", 4);
    if (bits != 4)
        refuse("bits " + std::to_string(bits));
    s.bits = 4;
    s.group_size = integer(q->contains("group_size") ? "group_size" : "q_group_size", 128);
    if (s.group_size != -1 && (s.group_size <= 0 || s.group_size % 32 != 0))
        refuse("group_size " + std::to_string(s.group_size));
    const std::string version = q->contains("version") ? lower(field(*q, "version")) : "gemm";
    if (version != "gemm")
        refuse("version '" + version + "'");
    if (q->contains("zero_point") && !((*q)["zero_point"].is_boolean() && (*q)["zero_point"].get<bool>()))
        refuse("zero_point " + field(*q, "zero_point"));
    return s;
}

std::optional<std::string> awqStem(const std::string& name) {
    for (const std::string tail : {".qweight", ".qzeros", ".scales"})
        if (name.size() > tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0)
            return name.substr(0, name.size() - tail.size());
    return std::nullopt;
}

}  // namespace vqa
