#include "engine/families/qwen2vl/Qwen2VLChatFormat.h"

namespace vqa {

namespace {

// An assistant turn as a thinking model's template renders it in the history: what follows
// the last </think>, leading newlines dropped (Qwen3's content.split('</think>')[-1].lstrip('\n')).
std::string withoutReasoning(const std::string& text) {
    const auto end = text.rfind("</think>");
    if (end == std::string::npos)
        return text;
    const auto start = text.find_first_not_of('\n', end + 8);
    return start == std::string::npos ? std::string() : text.substr(start);
}

class Qwen2VLChatFormat final : public ChatFormat {
  public:
    Qwen2VLChatFormat(bool default_system, bool thinking)
        : default_system_(default_system), thinking_(thinking) {}

    std::string name() const override {
        return thinking_ ? "qwen-vl-thinking" : default_system_ ? "qwen2-vl" : "qwen3-vl";
    }

    std::string render(const Conversation& conversation,
                       bool add_generation_prompt) const override {
        std::string out;
        bool first = true;
        for (const auto& turn : conversation) {
            if (first && default_system_ && turn.role != Role::System)
                out += "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n";
            first = false;
            out += "<|im_start|>";
            out += roleName(turn.role);
            out += '\n';
            for (const auto& part : turn.content) {
                if (part.kind != ContentPart::Kind::Text)
                    out += "<|vision_start|>" + imagePlaceholder() + "<|vision_end|>";
                else if (thinking_ && turn.role == Role::Assistant)
                    out += withoutReasoning(part.text);
                else
                    out += part.text;
            }
            out += "<|im_end|>\n";
        }
        if (add_generation_prompt)
            out += thinking_ ? "<|im_start|>assistant\n<think>\n" : "<|im_start|>assistant\n";
        return out;
    }

    std::string imagePlaceholder() const override { return "<|image_pad|>"; }

    bool answersStartWithReasoning() const override { return thinking_; }

    std::vector<std::string> stopStrings() const override {
        return {"<|im_end|>", "<|endoftext|>"};
    }

  private:
    bool default_system_;
    bool thinking_;
};

} // namespace

std::unique_ptr<ChatFormat> qwen2VLChatFormat(std::string_view t) {
    auto has = [t](std::string_view what) { return t.find(what) != std::string_view::npos; };
    if (!has("<|im_start|>") || !has("<|im_end|>") ||
        !has("<|vision_start|><|image_pad|><|vision_end|>"))
        return nullptr;
    // Qwen2-VL's and Qwen2.5-VL's templates open a conversation without a system turn with
    // this one; Qwen3-VL's do not, nor may a fine-tune's.
    const bool default_system = has("You are a helpful assistant.");
    // A thinking model's (Qwen3-VL-*-Thinking) opens the answer with <think> and drops the
    // reasoning of earlier answers from the history.
    const bool thinking = has("<think>");
    return std::make_unique<Qwen2VLChatFormat>(default_system, thinking);
}

} // namespace vqa
