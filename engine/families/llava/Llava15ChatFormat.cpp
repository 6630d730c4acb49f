#include "engine/families/llava/Llava15ChatFormat.h"

#include <algorithm>

namespace vqa {

namespace {

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

std::unique_ptr<ChatFormat> llava15ChatFormat(std::string_view t) {
    auto has = [t](std::string_view what) { return t.find(what) != std::string_view::npos; };
    // The template writes the image's newline as an escape or as the character itself.
    if (has("ASSISTANT:") && has(".upper()") && (has("<image>\\n") || has("<image>\n")))
        return std::make_unique<Llava15ChatFormat>();
    return nullptr;
}

}  // namespace vqa
