// The model families this build runs, in one table: what config.json says for each (its
// model_type, or for older configs its architectures), how to build the family's runtime, and
// which chat template is the family's own. Detection and building both read this table, so a
// new family is one folder (engine/families/<family>/), one network file in models/ and one
// row in Families.cpp.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace vqa {

class ChatFormat;
class FamilyRuntime;
class Tokenizer;
struct FamilyLoadContext;

struct Family {
    std::string name;                        // "idefics3", "llava", "qwen2_5_vl"
    std::vector<std::string> model_types;    // config.json's model_type values
    std::vector<std::string> architectures;  // config.json's architectures, when model_type is absent
    // The engine's side of the family: the network (from the context's checkpoint), the image
    // processor and the image's prompt text. Throws vqa::Error.
    std::unique_ptr<FamilyRuntime> (*makeRuntime)(const FamilyLoadContext& context);
    // The family's chat format when a chat template (Jinja source) is its own, else nullptr.
    std::unique_ptr<ChatFormat> (*chatFormat)(std::string_view chat_template);
    std::string chat_template_name;          // for messages: "SmolVLM/Idefics3"
};

// Every family, in the order messages list them.
const std::vector<Family>& families();

// The family config.json names by model_type (or, when absent, by architectures). Throws
// vqa::Error "<path> names model_type 'foo', which this build does not support; supported:
// idefics3, llava". `path` is only used in messages.
const Family& detectFamily(const nlohmann::json& config, const std::string& path);

// The chat format of a template, whichever family's it is. Throws vqa::Error for an empty or
// unknown one.
std::unique_ptr<ChatFormat> chatFormatFor(std::string_view chat_template);
// The format of a loaded tokenizer's chat template.
std::unique_ptr<ChatFormat> chatFormatFor(const Tokenizer& tokenizer);

}  // namespace vqa
