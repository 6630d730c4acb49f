// Words an answer must not contain, enforced while sampling the way transformers'
// `bad_words_ids` is: each word is tokenized as it usually appears (alone and after a space,
// as written and capitalized), and a token that would complete one of those token sequences
// is never chosen. A model can still spell a word through other pieces ("d" + "og"), as with
// transformers; the usual spellings are what it produces.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vqa {

class Tokenizer;

class BannedWords {
public:
    BannedWords() = default;
    // Blank words are ignored.
    BannedWords(const Tokenizer& tokenizer, const std::vector<std::string>& words);

    bool empty() const { return sequences_.empty(); }
    const std::vector<std::vector<std::int64_t>>& sequences() const { return sequences_; }
    // The tokens that may not come next after `history` (the prompt and the answer so far).
    std::vector<std::int64_t> bannedNext(const std::vector<std::int64_t>& history) const;

private:
    std::vector<std::vector<std::int64_t>> sequences_;
};

}  // namespace vqa
