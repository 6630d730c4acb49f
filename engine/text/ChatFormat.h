// Chat formats: a Conversation rendered into prompt text exactly as transformers'
// apply_chat_template renders it with the model's own template. Each template is one
// ChatFormat class in its family's folder (engine/families/<family>/), recognized through the
// family table (chatFormatFor in engine/families/Families.h); no Jinja interpreter.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/Types.h"
#include "engine/text/Tokenizer.h"

namespace vqa {

class ChatFormat {
public:
    virtual ~ChatFormat() = default;

    // A short name, e.g. "smolvlm", "llava-1.5".
    virtual std::string name() const = 0;

    // The prompt text; with add_generation_prompt it ends where the assistant's answer starts.
    // Image parts render as imagePlaceholder(); the engine expands it into image tokens.
    virtual std::string render(const Conversation& conversation, bool add_generation_prompt) const = 0;

    // What an image part renders as.
    virtual std::string imagePlaceholder() const { return "<image>"; }

    // Text that ends an assistant turn; generation stops when it appears
    // (SmolVLM: "<end_of_utterance>"). Use stopTokenIds() for the ids.
    virtual std::vector<std::string> stopStrings() const = 0;

    // Whether the generation prompt opens the model's reasoning (a thinking model's "<think>"),
    // so that an answer is its reasoning, then "</think>", then what it says.
    virtual bool answersStartWithReasoning() const { return false; }
};

// A role as the templates name it: "system", "user", "assistant".
const char* roleName(Role role);

// Ids that end generation: every stop string that is a single token, plus the EOS token.
std::vector<TokenId> stopTokenIds(const ChatFormat& format, const Tokenizer& tokenizer);

}  // namespace vqa
