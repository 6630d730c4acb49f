// Added and special tokens ("<image>", "<|im_start|>"), found in text before the model's
// own tokenization, the way Hugging Face tokenizers' AddedVocabulary does it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/text/Tokenizer.h"

namespace vqa {

struct AddedToken {
    std::string content;
    TokenId id = 0;
    bool special = false;
    bool lstrip = false;
    bool rstrip = false;
    bool normalized = false;
    bool single_word = false;
};

// One stretch of the input: either an added token (id set) or text for the model.
struct TextSegment {
    std::size_t begin = 0, end = 0;
    std::optional<TokenId> id;
};

// Leftmost-longest matching over a set of added tokens, honouring lstrip, rstrip and
// single_word exactly as tokenizers does (a rejected single_word match is skipped whole).
class AddedTokenMatcher {
public:
    AddedTokenMatcher() = default;
    explicit AddedTokenMatcher(std::vector<AddedToken> tokens);
    bool empty() const { return tokens_.empty(); }
    std::vector<TextSegment> split(std::string_view text) const;

private:
    std::vector<AddedToken> tokens_;
    // First byte -> token indices, longest first.
    std::vector<std::vector<std::size_t>> by_first_byte_;
};

}  // namespace vqa
