#include "engine/text/ChatFormat.h"

#include <algorithm>

#include "models/base/Error.h"

namespace vqa {

namespace {

bool contains(std::string_view text, std::string_view what) { return text.find(what) != std::string_view::npos; }

const char* roleName(Role role) {
    switch (role) {
    case Role::System:
        return "system";
    case Role::User:
        return "user";
    case Role::Assistant:
        return "assistant";
    }
    return "user";
}

// Idefics3 / SmolVLM:
//   <|im_start|>{Role}{':' if first part is an image else ': '}{text | <image>...}<end_of_utterance>\n
//   ... then "Assistant:" for the generation prompt.
class SmolVlmChatFormat final : public ChatFormat {
public:
    std::string name() const override { return "smolvlm"; }

    std::string render(const Conversation& conversation, bool add_generation_prompt) const override {
        std::string out = "<|im_start|>";
        for (const auto& turn : conversation) {
            std::string role = roleName(turn.role);
            role[0] = static_cast<char>(role[0] - 'a' + 'A');  // Jinja's capitalize
            out += role;
            bool image_first = !turn.content.empty() && turn.content[0].kind == ContentPart::Kind::Image;
            out += image_first ? ":" : ": ";
            for (const auto& part : turn.content)
                out += part.kind == ContentPart::Kind::Text ? part.text : imagePlaceholder();
            out += "<end_of_utterance>\n";
        }
        if (add_generation_prompt)
            out += "Assistant:";
        return out;
    }

    std::vector<std::string> stopStrings() const override { return {"<end_of_utterance>"}; }
};

// LLaVA-1.5 (llava-hf): "USER: <image>\n... ASSISTANT: ..." with every image of a turn
// first, then each text followed by a space; system turns have no role prefix.
class Llava15ChatFormat final : public ChatFormat {
public:
    std::string name() const override { return "llava-1.5"; }

    std::string render(const Conversation& conversation, bool add_generation_prompt) const override {
        std::string out;
        for (const auto& turn : conversation) {
            if (turn.role != Role::System) {
                std::string role = roleName(turn.role);
                std::transform(role.begin(), role.end(), role.begin(), [](char c) { return c - 'a' + 'A'; });
                out += role + ": ";
            }
            for (const auto& part : turn.content)
                if (part.kind == ContentPart::Kind::Image)
                    out += imagePlaceholder() + "\n";
            for (const auto& part : turn.content)
                if (part.kind == ContentPart::Kind::Text)
                    out += part.text + " ";
        }
        if (add_generation_prompt)
            out += "ASSISTANT:";
        return out;
    }

    std::vector<std::string> stopStrings() const override { return {"</s>"}; }
};

}  // namespace

std::unique_ptr<ChatFormat> chatFormatFor(std::string_view t) {
    if (t.empty())
        throw Error("the model has no chat template (chat_template.json, chat_template.jinja or "
                    "tokenizer_config.json's chat_template)");
    if (contains(t, "<|im_start|>") && contains(t, "<end_of_utterance>") && contains(t, "capitalize"))
        return std::make_unique<SmolVlmChatFormat>();
    if (contains(t, "ASSISTANT:") && contains(t, ".upper()") && contains(t, "<image>\\n"))
        return std::make_unique<Llava15ChatFormat>();
    if (contains(t, "ASSISTANT:") && contains(t, ".upper()") && contains(t, "<image>\n"))
        return std::make_unique<Llava15ChatFormat>();
    std::string head(t.substr(0, 120));
    throw Error("unrecognized chat template (supported: SmolVLM/Idefics3, LLaVA-1.5); it begins: " + head);
}

std::unique_ptr<ChatFormat> chatFormatFor(const Tokenizer& tokenizer) {
    return chatFormatFor(tokenizer.chatTemplate());
}

std::vector<TokenId> stopTokenIds(const ChatFormat& format, const Tokenizer& tokenizer) {
    std::vector<TokenId> ids;
    for (const auto& s : format.stopStrings())
        if (auto id = tokenizer.pieceToId(s))
            ids.push_back(*id);
    if (auto eos = tokenizer.specialTokens().eos)
        if (std::find(ids.begin(), ids.end(), *eos) == ids.end())
            ids.push_back(*eos);
    return ids;
}

}  // namespace vqa
