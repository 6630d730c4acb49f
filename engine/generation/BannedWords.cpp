#include "engine/generation/BannedWords.h"

#include <algorithm>
#include <cctype>

#include "engine/text/Tokenizer.h"

namespace vqa {

BannedWords::BannedWords(const Tokenizer& tokenizer, const std::vector<std::string>& words) {
    for (const std::string& raw : words) {
        const auto b = raw.find_first_not_of(" \t\r\n");
        if (b == std::string::npos)
            continue;
        const std::string word = raw.substr(b, raw.find_last_not_of(" \t\r\n") - b + 1);
        std::string capitalized = word;
        capitalized[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(capitalized[0])));
        std::string lower = word;
        lower[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(lower[0])));
        for (const std::string& form : {word, capitalized, lower}) {
            for (const std::string& text : {form, " " + form}) {
                std::vector<std::int64_t> seq;
                for (TokenId id : tokenizer.encode(text, /*add_special_tokens=*/false))
                    seq.push_back(id);
                if (!seq.empty() && std::find(sequences_.begin(), sequences_.end(), seq) == sequences_.end())
                    sequences_.push_back(std::move(seq));
            }
        }
    }
}

std::vector<std::int64_t> BannedWords::bannedNext(const std::vector<std::int64_t>& history) const {
    std::vector<std::int64_t> out;
    for (const auto& seq : sequences_) {
        const std::size_t prefix = seq.size() - 1;
        if (prefix > history.size())
            continue;
        if (std::equal(seq.begin(), seq.begin() + static_cast<std::ptrdiff_t>(prefix),
                       history.end() - static_cast<std::ptrdiff_t>(prefix)))
            out.push_back(seq.back());
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace vqa
