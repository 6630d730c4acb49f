// The small regular-expression engine the COCO tokenizer's lexer (CocoTokenizer.cpp) is written
// in: patterns over a text that map a set of start offsets to the set of offsets where a match
// can end, so that the lexer finds the exact longest match of every rule (as JFlex does, which
// the Stanford PTBTokenizer it re-implements was generated with) without backtracking. The end of
// the text matches no character except through `eof()`. ASCII letters of literals match either
// case (JFlex's %caseless); character classes are exact.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vqa::eval::ptb_patterns {

using Text = std::u32string;
using Set = std::vector<std::uint32_t>; // sorted, unique

// Sorts `s` and drops repeats.
void normalize(Set& s);
// ASCII upper-case letters to lower case, everything else as it is.
char32_t asciiFold(char32_t c);

class Pat {
public:
    virtual ~Pat() = default;
    // `out` receives (unsorted, possibly repeated) end offsets for the starts in `in`.
    virtual void run(const Text& t, const Set& in, Set& out) const = 0;
    // Whether a match can be empty, and whether one can begin with `c` (a quick filter).
    virtual bool nullable() const = 0;
    virtual bool canStart(char32_t c) const = 0;

    // The same, cached once the pattern is built (see `finish`).
    bool mayBeEmpty() const { return empty_; }
    bool mayStart(char32_t c) const { return c < 128 ? ascii_[c] : canStart(c); }
    // Whether a match can start at `p` (end of text: only an empty one).
    bool mayMatchAt(const Text& t, std::uint32_t p) const {
        return empty_ || (p < t.size() && mayStart(t[p]));
    }

protected:
    void finish() {
        empty_ = nullable();
        for (char32_t c = 0; c < 128; ++c)
            ascii_[c] = canStart(c);
    }

private:
    bool empty_ = false;
    std::array<bool, 128> ascii_{};
};
using P = std::shared_ptr<const Pat>;

// Builders.
P cls(std::function<bool(char32_t)> f);  // one character for which f holds
P ch(char32_t c);
P anyOf(std::u32string chars);
P noneOf(std::u32string chars);  // any character but these (and not the end of the text)
P range(char32_t lo, char32_t hi);
P lit(std::u32string s);
P eof();
P seq(std::vector<P> parts);
P alt(std::vector<P> alts);
P rep(P p, int min, int max);  // max < 0: unbounded
P star(P p);
P plus(P p);
P opt(P p);
P lits(std::initializer_list<const char32_t*> words);
// An abbreviation as the jar's case rules have it: a lower-case letter matches either case, a
// capital only itself, and '_' before a letter makes that letter lower-case only.
P abbrevWord(std::u32string_view spec);
P abbrevWords(std::initializer_list<const char32_t*> specs);

} // namespace vqa::eval::ptb_patterns
