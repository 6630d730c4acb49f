// A compiled PCRE2 pattern (UTF, Unicode properties, JIT) for the tokenizers' pre-tokenizer
// and normalizer regexes. Safe to share between threads: each search makes its own match data.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vqa {

class Regex {
public:
    // Throws vqa::Error with PCRE2's message and the offset when the pattern is invalid.
    explicit Regex(const std::string& pattern);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // Non-overlapping matches [begin, end) in `subject` (valid UTF-8), left to right.
    // Empty matches are skipped.
    std::vector<std::pair<std::size_t, std::size_t>> findAll(std::string_view subject) const;

    static std::string escape(std::string_view literal);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vqa
