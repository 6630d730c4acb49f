#include "engine/text/StreamingDetokenizer.h"

namespace vqa {

StreamingDetokenizer::StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_(skip_special_tokens),
      decoder_(tokenizer.invalidUtf8Policy()) {}

std::string StreamingDetokenizer::push(TokenId id) {
    std::string out;
    if (skip_special_ && tokenizer_.isSpecial(id))
        return out;
    std::string bytes = tokenizer_.tokenBytes(id);
    if (bytes.empty())
        return out;
    // transformers' ByteFallback: a run of byte tokens is judged whole, so it is held back
    // until a token of another kind (or the end) closes it.
    if (tokenizer_.invalidUtf8Policy() == Tokenizer::InvalidUtf8::ReplaceInvalidByteRun) {
        if (tokenizer_.isByteToken(id)) {
            started_ = true;
            byte_run_ += bytes;
            return out;
        }
        flushByteRun(out);
    }
    // The first token that contributes text may lose its leading space (SentencePiece).
    if (!started_) {
        started_ = true;
        if (bytes[0] == ' ' && tokenizer_.dropsLeadingSpace(id))
            bytes.erase(0, 1);
    }
    decoder_.push(bytes, out);
    return out;
}

void StreamingDetokenizer::flushByteRun(std::string& out) {
    if (byte_run_.empty())
        return;
    if (utf8::isValid(byte_run_)) {
        decoder_.push(byte_run_, out);
    } else {
        for (std::size_t i = 0; i < byte_run_.size(); ++i)
            out += "\xEF\xBF\xBD";
    }
    byte_run_.clear();
}

std::string StreamingDetokenizer::finish() {
    std::string out;
    flushByteRun(out);
    decoder_.finish(out);
    return out;
}

void StreamingDetokenizer::reset() {
    started_ = false;
    byte_run_.clear();
    decoder_ = utf8::LossyDecoder(tokenizer_.invalidUtf8Policy());
}

std::string decodeTokens(const Tokenizer& tokenizer, const std::vector<TokenId>& ids,
                         bool skip_special_tokens) {
    StreamingDetokenizer detok(tokenizer, skip_special_tokens);
    std::string out;
    for (TokenId id : ids)
        out += detok.push(id);
    out += detok.finish();
    return out;
}

}  // namespace vqa
