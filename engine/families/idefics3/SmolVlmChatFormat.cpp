#include "engine/families/idefics3/SmolVlmChatFormat.h"

namespace vqa {

namespace {

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
            for (const auto& part : turn.content) {
                if (part.kind == ContentPart::Kind::Text)
                    out += part.text;
                else
                    out += part.kind == ContentPart::Kind::Video ? "<video>" : imagePlaceholder();
            }
            out += "<end_of_utterance>\n";
        }
        if (add_generation_prompt)
            out += "Assistant:";
        return out;
    }

    std::vector<std::string> stopStrings() const override { return {"<end_of_utterance>"}; }
};

}  // namespace

std::unique_ptr<ChatFormat> smolVlmChatFormat(std::string_view t) {
    auto has = [t](std::string_view what) { return t.find(what) != std::string_view::npos; };
    if (has("<|im_start|>") && has("<end_of_utterance>") && has("capitalize"))
        return std::make_unique<SmolVlmChatFormat>();
    return nullptr;
}

}  // namespace vqa
