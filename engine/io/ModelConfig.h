// A checkpoint's config.json: reading it, and the typed pieces every family's config is made
// of (a Llama-style text config, a ViT vision config). Each family parses the rest in its
// own folder (engine/families/<family>/); which family a config.json is, the family table
// says (engine/families/Families.h). Keys missing from config.json take the defaults of the
// reference implementation's config classes (transformers' LlamaConfig, ...).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>  // readModelConfig returns one by value

#include "models/Config.h"
#include "models/base/Error.h"

namespace vqa {

// Parses <model_dir>/config.json. Throws vqa::Error when the folder or the file is missing,
// unreadable or not a JSON object (with the parser's message, which gives the byte position).
nlohmann::json readModelConfig(const std::string& model_dir);

// A Llama-style text config and a ViT vision config. `path` names config.json in messages,
// `where` prefixes key names ("text_config").
models::LlamaConfig parseLlamaConfig(const nlohmann::json& j, const std::string& path,
                                     const std::string& where);
models::VisionConfig parseVisionConfig(const nlohmann::json& j, const std::string& path,
                                       const std::string& where,
                                       const models::VisionConfig& defaults);

// Typed fields of config.json for the families' parsers. Every error names `path` and the
// key (prefixed with `where`), and says what was expected and what is there.
namespace config {

std::string key(const std::string& where, const std::string& name);

// An integer field: absent or null -> fallback; present -> must be an integer >= min (a
// float that is a whole number, as some writers store 512.0, counts).
template <typename Int>
Int intField(const nlohmann::json& j, const char* name, Int fallback, const std::string& path,
             const std::string& where, Int min = 1) {
    if (!j.contains(name) || j[name].is_null())
        return fallback;
    const auto& v = j[name];
    if (v.is_number_float()) {
        const double x = v.get<double>();
        if (std::floor(x) == x && x >= static_cast<double>(min) && x < 9.0e15)
            return static_cast<Int>(x);
    }
    if (!v.is_number_integer())
        throw Error(path + ": " + key(where, name) + " is " + v.dump() +
                    ", but it must be an integer");
    if (v.is_number_unsigned() &&
        v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<Int>::max()))
        throw Error(path + ": " + key(where, name) + " is " + v.dump() + ", which is too large");
    auto i = v.get<std::int64_t>();
    if (i > static_cast<std::int64_t>(std::numeric_limits<Int>::max()))
        throw Error(path + ": " + key(where, name) + " is " + v.dump() + ", which is too large");
    if (i < min)
        throw Error(path + ": " + key(where, name) + " is " + std::to_string(i) +
                    ", but it must be at least " + std::to_string(min));
    return static_cast<Int>(i);
}

double numberField(const nlohmann::json& j, const char* name, double fallback,
                   const std::string& path, const std::string& where);
bool boolField(const nlohmann::json& j, const char* name, bool fallback, const std::string& path,
               const std::string& where);
std::string stringField(const nlohmann::json& j, const char* name, const std::string& fallback,
                        const std::string& path, const std::string& where);
// config[name] when it is an object, an empty object when absent or null.
const nlohmann::json& subObject(const nlohmann::json& config, const char* name,
                                const std::string& path);

} // namespace config

} // namespace vqa
