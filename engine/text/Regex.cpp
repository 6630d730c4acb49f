#include "engine/text/Regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "models/base/Error.h"
#include "engine/text/Utf8.h"

namespace vqa {

namespace {

// \s and \S as Unicode's White_Space property, as the tokenizers' reference engines
// (Oniguruma in Hugging Face tokenizers, Rust's regex in tiktoken) read them. PCRE2 keeps
// U+180E MONGOLIAN VOWEL SEPARATOR among its horizontal spaces, which Unicode took out of
// White_Space in 6.3, so a pre-tokenizer splitting on \s would cut text there that the
// reference keeps whole. Escaped backslashes are kept as they are.
std::string withUnicodeWhiteSpace(const std::string& pattern) {
    std::string out;
    out.reserve(pattern.size());
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] != '\\' || i + 1 == pattern.size()) {
            out += pattern[i];
            continue;
        }
        const char next = pattern[++i];
        if (next == 's')
            out += "\\p{White_Space}";
        else if (next == 'S')
            out += "\\P{White_Space}";
        else
            (out += '\\') += next;
    }
    return out;
}

}  // namespace

struct Regex::Impl {
    pcre2_code* code = nullptr;
    std::string pattern;
};

Regex::Regex(const std::string& pattern) : impl_(std::make_unique<Impl>()) {
    impl_->pattern = pattern;
    const std::string compiled = withUnicodeWhiteSpace(pattern);
    int error = 0;
    PCRE2_SIZE offset = 0;
    impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(compiled.data()), compiled.size(),
                                PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
    if (!impl_->code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        throw Error("cannot compile regular expression '" + pattern + "' at offset " +
                    std::to_string(offset) + ": " + reinterpret_cast<const char*>(message));
    }
    // JIT is an optimisation; the interpreter is used where it is unavailable.
    pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() {
    if (impl_ && impl_->code)
        pcre2_code_free(impl_->code);
}

std::vector<std::pair<std::size_t, std::size_t>> Regex::findAll(std::string_view subject) const {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
        pcre2_match_data_create_from_pattern(impl_->code, nullptr), &pcre2_match_data_free);
    auto* text = reinterpret_cast<PCRE2_SPTR>(subject.data());
    std::size_t start = 0;
    while (start <= subject.size()) {
        int rc = pcre2_match(impl_->code, text, subject.size(), start, PCRE2_NO_UTF_CHECK,
                             data.get(), nullptr);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(rc, message, sizeof message);
            throw Error("regular expression '" + impl_->pattern +
                        "' failed: " + reinterpret_cast<const char*>(message));
        }
        PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.get());
        std::size_t b = ov[0], e = ov[1];
        if (e > b) {
            out.emplace_back(b, e);
            start = e;
        } else {
            // Empty match: step over one character.
            if (b >= subject.size())
                break;
            start = b + utf8::sequenceLength(static_cast<unsigned char>(subject[b]));
        }
    }
    return out;
}

std::string Regex::escape(std::string_view literal) {
    std::string out;
    for (char c : literal) {
        if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos)
            out += '\\';
        out += c;
    }
    return out;
}

}  // namespace vqa
