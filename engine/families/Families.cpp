#include "engine/families/Families.h"

#include <algorithm>

#include "engine/families/FamilyRuntime.h"
#include "engine/families/idefics3/Idefics3Runtime.h"
#include "engine/families/idefics3/SmolVlmChatFormat.h"
#include "engine/families/llava/Llava15ChatFormat.h"
#include "engine/families/llava/LlavaRuntime.h"
#include "engine/families/qwen2vl/Qwen2VLChatFormat.h"
#include "engine/families/qwen2vl/Qwen2VLRuntime.h"
#include "engine/families/qwen3vl/Qwen3VLRuntime.h"
#include "engine/families/smolvlm2/SmolVlm2Runtime.h"
#include "engine/text/ChatFormat.h"
#include "engine/text/Tokenizer.h"
#include "models/base/Error.h"

namespace vqa {

namespace {

template <typename Runtime>
std::unique_ptr<FamilyRuntime> make(const FamilyLoadContext& context) {
    return std::make_unique<Runtime>(context);
}

std::string supportedNames() {
    std::string names;
    for (const auto& f : families())
        names += (names.empty() ? "" : ", ") + f.name;
    return names;
}

bool listed(const std::vector<std::string>& list, const std::string& name) {
    return std::find(list.begin(), list.end(), name) != list.end();
}

}  // namespace

const std::vector<Family>& families() {
    static const std::vector<Family> table = {
        {"idefics3", {"idefics3"}, {"Idefics3ForConditionalGeneration", "Idefics3Model"}, make<Idefics3Runtime>,
         smolVlmChatFormat, "SmolVLM/Idefics3"},
        // SmolVLM2: Idefics3's network and chat template, with videos.
        {"smolvlm", {"smolvlm"}, {"SmolVLMForConditionalGeneration"}, make<SmolVlm2Runtime>, smolVlmChatFormat,
         "SmolVLM2"},
        {"llava", {"llava"}, {"LlavaForConditionalGeneration", "LlavaLlamaForCausalLM"}, make<LlavaRuntime>,
         llava15ChatFormat, "LLaVA-1.5"},
        // One runtime for both generations; the row says which one config.json names.
        {"qwen2_5_vl", {"qwen2_5_vl"}, {"Qwen2_5_VLForConditionalGeneration"}, make<Qwen2VLRuntime>,
         qwen2VLChatFormat, "Qwen2.5-VL"},
        {"qwen2_vl", {"qwen2_vl"}, {"Qwen2VLForConditionalGeneration"}, make<Qwen2VLRuntime>, qwen2VLChatFormat,
         "Qwen2-VL"},
        // The mixture-of-experts model type is listed so that its config is refused by name.
        {"qwen3_vl", {"qwen3_vl", "qwen3_vl_moe"}, {"Qwen3VLForConditionalGeneration"}, make<Qwen3VLRuntime>,
         qwen2VLChatFormat, "Qwen3-VL"},
    };
    return table;
}

const Family& detectFamily(const nlohmann::json& config, const std::string& path) {
    if (config.contains("model_type") && config["model_type"].is_string()) {
        const auto type = config["model_type"].get<std::string>();
        for (const auto& f : families())
            if (listed(f.model_types, type))
                return f;
        // A dual encoder answers no questions, but it is what image search reads.
        if (type == "clip" || type == "siglip")
            throw Error(path + " is a " + (type == "clip" ? std::string("CLIP") : std::string("SigLIP")) +
                        " model: it finds images (Tools > Search Images, or vqa index and vqa search) but answers "
                        "no questions; models that answer: " + supportedNames());
        throw Error(path + " names model_type '" + type + "', which this build does not support; supported: " +
                    supportedNames());
    }
    // Older configs may name only the architecture.
    if (config.contains("architectures") && config["architectures"].is_array()) {
        std::string names;
        for (const auto& a : config["architectures"]) {
            if (!a.is_string())
                continue;
            const auto arch = a.get<std::string>();
            for (const auto& f : families())
                if (listed(f.architectures, arch))
                    return f;
            names += (names.empty() ? "" : ", ") + arch;
        }
        if (!names.empty())
            throw Error(path + " names architectures " + names +
                        " and no model_type, which this build does not support; supported: " + supportedNames());
    }
    throw Error(path + " names no model_type, so the model family is unknown; supported: " + supportedNames());
}

std::unique_ptr<ChatFormat> chatFormatFor(std::string_view t) {
    if (t.empty())
        throw Error("the model has no chat template (chat_template.json, chat_template.jinja or "
                    "tokenizer_config.json's chat_template)");
    std::string names;
    for (const auto& f : families()) {
        if (auto format = f.chatFormat(t))
            return format;
        names += (names.empty() ? "" : ", ") + f.chat_template_name;
    }
    throw Error("unrecognized chat template (supported: " + names + "); it begins: " + std::string(t.substr(0, 120)));
}

std::unique_ptr<ChatFormat> chatFormatFor(const Tokenizer& tokenizer) {
    return chatFormatFor(tokenizer.chatTemplate());
}

}  // namespace vqa
