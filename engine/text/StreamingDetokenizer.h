// Turns generated token ids into text as they arrive. push() returns exactly the text each
// new token completes: never half a UTF-8 character, and the concatenation of all push()
// results and finish() equals Tokenizer::decode() of the whole sequence (including
// SentencePiece's leading-space rule and U+FFFD for bytes that never form a character).
#pragma once

#include <string>
#include <vector>

#include "engine/text/Tokenizer.h"
#include "engine/text/Utf8.h"

namespace vqa {

class StreamingDetokenizer {
public:
    // The tokenizer must outlive this object.
    explicit StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens = false);

    std::string push(TokenId id);
    // Flushes bytes held back for an incomplete character (they become U+FFFD), or a run of
    // byte tokens not yet ended (Tokenizer::InvalidUtf8::ReplaceInvalidByteRun).
    std::string finish();
    // Starts a new sequence.
    void reset();

private:
    const Tokenizer& tokenizer_;
    bool skip_special_;
    bool started_ = false;
    utf8::LossyDecoder decoder_;
    std::string byte_run_;  // ReplaceInvalidByteRun: the bytes of the current run of byte tokens
    void flushByteRun(std::string& out);
};

// Decodes a whole sequence by the same rules (what Tokenizer::decode implementations use).
std::string decodeTokens(const Tokenizer& tokenizer, const std::vector<TokenId>& ids,
                         bool skip_special_tokens);

}  // namespace vqa
