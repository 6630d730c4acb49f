#include "engine/text/Utf8.h"

#include <unicode/bytestream.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#include <unicode/stringpiece.h>
#include <unicode/utypes.h>

#include "models/base/Error.h"

namespace vqa::utf8 {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Allowed range of the second byte after a lead byte (Unicode Table 3-7); later
// continuation bytes are always 0x80..0xBF.
void secondByteRange(unsigned char lead, unsigned char& lo, unsigned char& hi) {
    lo = 0x80;
    hi = 0xBF;
    if (lead == 0xE0)
        lo = 0xA0;
    else if (lead == 0xED)
        hi = 0x9F;
    else if (lead == 0xF0)
        lo = 0x90;
    else if (lead == 0xF4)
        hi = 0x8F;
}

// Number of bytes from text[pos] that form a valid prefix of a well-formed sequence
// (0 when the lead byte itself is invalid), and whether that prefix is complete.
std::size_t validPrefix(std::string_view text, std::size_t pos, bool& complete) {
    auto lead = static_cast<unsigned char>(text[pos]);
    complete = false;
    if (lead < 0x80) {
        complete = true;
        return 1;
    }
    std::size_t need = sequenceLength(lead);
    if (need == 1)
        return 0;
    unsigned char lo, hi;
    secondByteRange(lead, lo, hi);
    std::size_t n = 1;
    while (n < need && pos + n < text.size()) {
        auto b = static_cast<unsigned char>(text[pos + n]);
        bool ok = n == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
        if (!ok)
            return n;
        ++n;
    }
    complete = n == need;
    return n;
}

}  // namespace

char32_t next(std::string_view text, std::size_t& pos) {
    auto lead = static_cast<unsigned char>(text[pos]);
    std::size_t len = sequenceLength(lead);
    if (pos + len > text.size())
        len = 1;
    char32_t cp = len == 1 ? lead : len == 2 ? (lead & 0x1F) : len == 3 ? (lead & 0x0F) : (lead & 0x07);
    for (std::size_t i = 1; i < len; ++i)
        cp = (cp << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
    pos += len;
    return cp;
}

void append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

bool isValid(std::string_view text) {
    for (std::size_t pos = 0; pos < text.size();) {
        bool complete;
        std::size_t n = validPrefix(text, pos, complete);
        if (!complete)
            return false;
        pos += n;
    }
    return true;
}

void LossyDecoder::push(std::string_view bytes, std::string& out) {
    pending_.append(bytes);
    drain(out, false);
}

void LossyDecoder::finish(std::string& out) { drain(out, true); }

void LossyDecoder::drain(std::string& out, bool final) {
    std::string_view text = pending_;
    std::size_t pos = 0;
    while (pos < text.size()) {
        bool complete;
        std::size_t n = validPrefix(text, pos, complete);
        if (complete) {
            out.append(text.substr(pos, n));
            pos += n;
            continue;
        }
        bool truncated = n > 0 && pos + n == text.size();
        if (truncated && !final)
            break;  // may still complete
        out.append(kReplacement);
        if (policy_ != Tokenizer::InvalidUtf8::ReplaceMaximalSubpart || n == 0)
            pos += 1;
        else
            pos += n;
    }
    pending_.erase(0, pos);
}

std::string toValid(std::string_view bytes, Tokenizer::InvalidUtf8 policy) {
    std::string out;
    out.reserve(bytes.size());
    LossyDecoder decoder(policy);
    decoder.push(bytes, out);
    decoder.finish(out);
    return out;
}

bool isWhitespace(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

std::string_view stripPython(std::string_view text) {
    std::size_t begin = 0;
    while (begin < text.size()) {
        std::size_t pos = begin;
        if (!isPythonSpace(next(text, pos)))
            break;
        begin = pos;
    }
    std::size_t end = text.size();
    while (end > begin) {
        std::size_t lead = end - 1;
        while (lead > begin && (static_cast<unsigned char>(text[lead]) & 0xC0) == 0x80)
            --lead;
        std::size_t pos = lead;
        if (!isPythonSpace(next(text, pos)))
            break;
        end = lead;
    }
    return text.substr(begin, end - begin);
}

std::string_view validView(std::string_view input, std::string& storage) {
    if (isValid(input))
        return input;
    storage = toValid(input);
    return storage;
}

std::string normalize(std::string_view text, NormalForm form) {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* normalizer = nullptr;
    switch (form) {
    case NormalForm::Nfc:
        normalizer = icu::Normalizer2::getNFCInstance(status);
        break;
    case NormalForm::Nfd:
        normalizer = icu::Normalizer2::getNFDInstance(status);
        break;
    case NormalForm::Nfkc:
        normalizer = icu::Normalizer2::getNFKCInstance(status);
        break;
    case NormalForm::Nfkd:
        normalizer = icu::Normalizer2::getNFKDInstance(status);
        break;
    }
    if (U_FAILURE(status) || !normalizer)
        throw Error(std::string("cannot load ICU's Unicode normalization data: ") + u_errorName(status));
    const icu::StringPiece piece(text.data(), static_cast<std::int32_t>(text.size()));
    // Most text is already normalized: answer it without a copy through ICU.
    if (normalizer->isNormalizedUTF8(piece, status) && U_SUCCESS(status))
        return std::string(text);
    status = U_ZERO_ERROR;
    std::string out;
    out.reserve(text.size());
    icu::StringByteSink<std::string> sink(&out);
    normalizer->normalizeUTF8(0, piece, sink, nullptr, status);
    if (U_FAILURE(status))
        throw Error(std::string("Unicode normalization failed: ") + u_errorName(status));
    return out;
}

std::string lowercaseEach(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t pos = 0; pos < text.size();) {
        const char32_t cp = next(text, pos);
        if (cp < 0x80) {
            out += static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
            continue;
        }
        // One code point alone: the full mapping without any context to change it.
        icu::UnicodeString one(static_cast<UChar32>(cp));
        one.toLower(icu::Locale::getRoot());
        one.toUTF8String(out);
    }
    return out;
}

std::string lowercase(std::string_view text) {
    icu::UnicodeString s = icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<std::int32_t>(text.size())));
    s.toLower(icu::Locale::getRoot());
    std::string out;
    s.toUTF8String(out);
    return out;
}

}  // namespace vqa::utf8
