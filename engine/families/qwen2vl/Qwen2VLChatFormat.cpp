#include "engine/families/qwen2vl/Qwen2VLChatFormat.h"

namespace vqa {

namespace {

class Qwen2VLChatFormat final : public ChatFormat {
  public:
    explicit Qwen2VLChatFormat(bool default_system) : default_system_(default_system) {}

    std::string name() const override { return "qwen2-vl"; }

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
            for (const auto& part : turn.content)
                out += part.kind == ContentPart::Kind::Text
                           ? part.text
                           : "<|vision_start|>" + imagePlaceholder() + "<|vision_end|>";
            out += "<|im_end|>\n";
        }
        if (add_generation_prompt)
            out += "<|im_start|>assistant\n";
        return out;
    }

    std::string imagePlaceholder() const override { return "<|image_pad|>"; }

    std::vector<std::string> stopStrings() const override {
        return {"<|im_end|>", "<|endoftext|>"};
    }

  private:
    bool default_system_;
};

} // namespace

std::unique_ptr<ChatFormat> qwen2VLChatFormat(std::string_view t) {
    auto has = [t](std::string_view what) { return t.find(what) != std::string_view::npos; };
    if (!has("<|im_start|>") || !has("<|im_end|>") ||
        !has("<|vision_start|><|image_pad|><|vision_end|>"))
        return nullptr;
    // The released templates open a conversation without a system turn with this one; a
    // fine-tune's template may leave it out.
    const bool default_system = has("You are a helpful assistant.");
    return std::make_unique<Qwen2VLChatFormat>(default_system);
}

} // namespace vqa
