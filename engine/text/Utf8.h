// UTF-8 helpers shared by the tokenizers and the streaming detokenizer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/text/Tokenizer.h"

namespace vqa::utf8 {

// Length of the UTF-8 sequence a lead byte starts (1 for invalid lead bytes).
inline std::size_t sequenceLength(unsigned char lead) {
    if (lead < 0x80)
        return 1;
    if (lead >= 0xC2 && lead <= 0xDF)
        return 2;
    if (lead >= 0xE0 && lead <= 0xEF)
        return 3;
    if (lead >= 0xF0 && lead <= 0xF4)
        return 4;
    return 1;
}

// Decodes the code point at text[pos] (text must be valid UTF-8); advances pos.
char32_t next(std::string_view text, std::size_t& pos);
void append(std::string& out, char32_t cp);
bool isValid(std::string_view text);

// Turns a byte stream into valid UTF-8 incrementally, replacing invalid bytes with U+FFFD
// per the policy. Bytes that may still become a valid character are held back until more
// arrive or finish() is called.
class LossyDecoder {
public:
    explicit LossyDecoder(Tokenizer::InvalidUtf8 policy) : policy_(policy) {}
    // Appends decoded text for `bytes` to `out`.
    void push(std::string_view bytes, std::string& out);
    // Flushes held-back bytes (an incomplete sequence becomes U+FFFD).
    void finish(std::string& out);

private:
    void drain(std::string& out, bool final);
    Tokenizer::InvalidUtf8 policy_;
    std::string pending_;
};

// Whole-buffer version of LossyDecoder.
std::string toValid(std::string_view bytes,
                    Tokenizer::InvalidUtf8 policy = Tokenizer::InvalidUtf8::ReplaceMaximalSubpart);

// `input` itself when it is valid UTF-8, else a valid copy (in `storage`) with each bad
// sequence replaced by U+FFFD, as the reference sees text it receives as a Unicode string.
std::string_view validView(std::string_view input, std::string& storage);

// Unicode White_Space (what Rust's char::is_whitespace tests).
bool isWhitespace(char32_t cp);
// Python's str.isspace(), which str.strip() and re's \s use: White_Space and the four ASCII
// separators U+001C..U+001F.
inline bool isPythonSpace(char32_t cp) { return isWhitespace(cp) || (cp >= 0x1C && cp <= 0x1F); }
// `text` (valid UTF-8) without leading and trailing isPythonSpace characters: str.strip().
std::string_view stripPython(std::string_view text);

// Unicode normalization forms (UAX #15), as tokenizer.json's NFC / NFD / NFKC / NFKD
// normalizers apply them.
enum class NormalForm { Nfc, Nfd, Nfkc, Nfkd };

// `text` (valid UTF-8) in that form, by ICU's normalizer (Debian's libicu, which Qt already
// brings). Throws vqa::Error if ICU reports a failure.
std::string normalize(std::string_view text, NormalForm form);

// `text` (valid UTF-8) lower-cased one code point at a time by the full Unicode mapping
// ("İ" becomes "i̇"), without context: what Rust's char::to_lowercase gives, and so the
// Lowercase normalizer of tokenizer.json.
std::string lowercaseEach(std::string_view text);
// `text` lower-cased as a whole, with the context-sensitive rules (a final capital sigma
// becomes "ς"): what Python's str.lower() gives.
std::string lowercase(std::string_view text);

}  // namespace vqa::utf8
