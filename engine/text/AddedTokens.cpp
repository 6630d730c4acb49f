#include "engine/text/AddedTokens.h"

#include <algorithm>

#include "engine/text/Utf8.h"

namespace vqa {

namespace {

// A "word character" for single_word: letters, digits, underscore (ASCII and beyond).
bool isWordChar(char32_t c) {
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    return !utf8::isWhitespace(c);  // non-ASCII: treat letters and marks alike
}

char32_t lastChar(std::string_view text) {
    std::size_t pos = text.size();
    while (pos > 0 && (static_cast<unsigned char>(text[pos - 1]) & 0xC0) == 0x80)
        --pos;
    if (pos > 0)
        --pos;
    return utf8::next(text, pos);
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
    std::erase_if(tokens_, [](const AddedToken& t) { return t.content.empty(); });
    by_first_byte_.resize(256);
    for (std::size_t i = 0; i < tokens_.size(); ++i)
        by_first_byte_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(i);
    for (auto& list : by_first_byte_)
        std::stable_sort(list.begin(), list.end(), [&](std::size_t a, std::size_t b) {
            return tokens_[a].content.size() > tokens_[b].content.size();
        });
}

std::vector<TextSegment> AddedTokenMatcher::split(std::string_view text) const {
    std::vector<TextSegment> out;
    std::size_t done = 0;  // end of the last emitted segment
    std::size_t pos = 0;   // where the next search starts
    while (pos < text.size() && !tokens_.empty()) {
        const AddedToken* hit = nullptr;
        for (std::size_t i : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
            const auto& t = tokens_[i];
            if (text.compare(pos, t.content.size(), t.content) == 0) {
                hit = &t;
                break;
            }
        }
        if (!hit) {
            ++pos;
            continue;
        }
        std::size_t start = pos, stop = pos + hit->content.size();
        pos = stop;
        if (hit->single_word) {
            bool left_ok = start == 0 || !isWordChar(lastChar(text.substr(0, start)));
            std::size_t p = stop;
            bool right_ok = stop == text.size() || !isWordChar(utf8::next(text, p));
            if (!left_ok || !right_ok)
                continue;
        }
        if (hit->lstrip) {
            std::size_t s = start;
            while (s > done) {
                std::size_t b = s - 1;
                while (b > done && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80)
                    --b;
                std::size_t q = b;
                if (!utf8::isWhitespace(utf8::next(text, q)))
                    break;
                s = b;
            }
            start = s;
        }
        if (hit->rstrip) {
            while (stop < text.size()) {
                std::size_t q = stop;
                if (!utf8::isWhitespace(utf8::next(text, q)))
                    break;
                stop = q;
            }
        }
        if (done < start)
            out.push_back({done, start, std::nullopt});
        out.push_back({start, stop, hit->id});
        done = stop;
        pos = std::max(pos, stop);
    }
    if (done < text.size() || out.empty())
        out.push_back({done, text.size(), std::nullopt});
    return out;
}

}  // namespace vqa
