#include "engine/eval/PtbPatterns.h"

#include <algorithm>
#include <utility>

#include "engine/eval/PtbCharacters.h"

namespace vqa::eval::ptb_patterns {

using namespace ptb_chars;

void normalize(Set& s) {
    if (s.size() > 1) {
        std::sort(s.begin(), s.end());
        s.erase(std::unique(s.begin(), s.end()), s.end());
    }
}

char32_t asciiFold(char32_t c) {
    return isAsciiUpper(c) ? c + 32 : c;
}

namespace {


// Positions a repetition has already expanded, marked with that run's number, so that a long
// repetition costs linear time even from many starts.
struct Marks {
    std::vector<std::uint32_t> stamp; // per text position
    std::uint32_t run = 0;
};
Marks& marks() {
    thread_local Marks m;
    return m;
}

// Scratch sets, reused so that matching allocates nothing once warm.
class Scratch {
public:
    Scratch() {
        std::vector<Set>& pool = freeList();
        if (!pool.empty()) {
            set_ = std::move(pool.back());
            pool.pop_back();
            set_.clear();
        }
    }
    ~Scratch() { freeList().push_back(std::move(set_)); }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    Set& operator*() { return set_; }

private:
    static std::vector<Set>& freeList() {
        thread_local std::vector<Set> pool;
        return pool;
    }
    Set set_;
};



class ClassPat final : public Pat {
public:
    explicit ClassPat(std::function<bool(char32_t)> f) : f_(std::move(f)) { finish(); }
    void run(const Text& t, const Set& in, Set& out) const override {
        for (std::uint32_t p : in)
            if (p < t.size() && f_(t[p]))
                out.push_back(p + 1);
    }
    bool nullable() const override { return false; }
    bool canStart(char32_t c) const override { return f_(c); }

private:
    std::function<bool(char32_t)> f_;
};


// A literal; ASCII letters match either case (JFlex's %caseless).
class LitPat final : public Pat {
public:
    explicit LitPat(std::u32string s) : s_(std::move(s)) {
        for (char32_t& c : s_)
            c = asciiFold(c);
        finish();
    }
    void run(const Text& t, const Set& in, Set& out) const override {
        for (std::uint32_t p : in) {
            if (p + s_.size() > t.size())
                continue;
            bool ok = true;
            for (std::size_t i = 0; i < s_.size() && ok; ++i)
                ok = asciiFold(t[p + i]) == s_[i];
            if (ok)
                out.push_back(static_cast<std::uint32_t>(p + s_.size()));
        }
    }
    bool nullable() const override { return s_.empty(); }
    bool canStart(char32_t c) const override { return !s_.empty() && asciiFold(c) == s_[0]; }

private:
    std::u32string s_;
};

class EofPat final : public Pat {
public:
    EofPat() { finish(); }
    void run(const Text& t, const Set& in, Set& out) const override {
        for (std::uint32_t p : in)
            if (p == t.size())
                out.push_back(p);
    }
    bool nullable() const override { return true; }
    bool canStart(char32_t) const override { return false; }
};

class SeqPat final : public Pat {
public:
    explicit SeqPat(std::vector<P> parts) : parts_(std::move(parts)) { finish(); }
    void run(const Text& t, const Set& in, Set& out) const override {
        if (in.empty() || (in.size() == 1 && !mayMatchAt(t, in[0])))
            return;
        Scratch a, b;
        Set* cur = &*a;
        Set* next = &*b;
        *cur = in;
        for (const P& part : parts_) {
            next->clear();
            part->run(t, *cur, *next);
            normalize(*next);
            if (next->empty())
                return;
            std::swap(cur, next);
        }
        out.insert(out.end(), cur->begin(), cur->end());
    }
    bool nullable() const override {
        return std::all_of(parts_.begin(), parts_.end(),
                           [](const P& p) { return p->mayBeEmpty(); });
    }
    bool canStart(char32_t c) const override {
        for (const P& p : parts_) {
            if (p->mayStart(c))
                return true;
            if (!p->mayBeEmpty())
                return false;
        }
        return false;
    }

private:
    std::vector<P> parts_;
};

class AltPat final : public Pat {
public:
    explicit AltPat(std::vector<P> alts) : alts_(std::move(alts)) { finish(); }
    void run(const Text& t, const Set& in, Set& out) const override {
        for (const P& a : alts_)
            if (in.size() != 1 || a->mayMatchAt(t, in[0]))
                a->run(t, in, out);
    }
    bool nullable() const override {
        return std::any_of(alts_.begin(), alts_.end(), [](const P& p) { return p->mayBeEmpty(); });
    }
    bool canStart(char32_t c) const override {
        return std::any_of(alts_.begin(), alts_.end(), [c](const P& p) { return p->mayStart(c); });
    }

private:
    std::vector<P> alts_;
};

// body{min,max}; max < 0: unbounded. Every pattern repeated here consumes at least one character
// (the grammar below never repeats one that can match empty).
class RepPat final : public Pat {
public:
    RepPat(P body, int min, int max) : body_(std::move(body)), min_(min), max_(max) { finish(); }
    void run(const Text& t, const Set& in, Set& out) const override {
        if (min_ == 0)
            out.insert(out.end(), in.begin(), in.end());
        if (in.empty() || (in.size() == 1 && !body_->mayMatchAt(t, in[0])))
            return;
        Scratch a, b;
        Set* cur = &*a;
        Set* next = &*b;
        *cur = in;
        Marks& m = marks();
        if (m.stamp.size() <= t.size())
            m.stamp.assign(t.size() + 1, 0);
        if (++m.run == 0) { // wrapped: forget all marks
            std::fill(m.stamp.begin(), m.stamp.end(), 0);
            m.run = 1;
        }
        const std::uint32_t run = m.run;
        // Every iteration consumes at least one character, so this ends within the text.
        for (int i = 1; (max_ < 0 || i <= max_) && i <= static_cast<int>(t.size()) + 1; ++i) {
            next->clear();
            body_->run(t, *cur, *next);
            normalize(*next);
            if (i >= min_ && max_ < 0) {
                // Past the minimum, a position reached again goes on the same way: expand it once.
                std::size_t kept = 0;
                for (std::uint32_t p : *next) {
                    if (m.stamp[p] == run)
                        continue;
                    m.stamp[p] = run;
                    (*next)[kept++] = p;
                }
                next->resize(kept);
            }
            if (next->empty())
                break;
            if (i >= min_)
                out.insert(out.end(), next->begin(), next->end());
            std::swap(cur, next);
        }
    }
    bool nullable() const override { return min_ == 0 || body_->mayBeEmpty(); }
    bool canStart(char32_t c) const override { return body_->mayStart(c); }

private:
    P body_;
    int min_, max_;
};

} // namespace

// Builders.
P cls(std::function<bool(char32_t)> f) {
    return std::make_shared<ClassPat>(std::move(f));
}
P ch(char32_t c) {
    return cls([c](char32_t x) { return x == c; });
}
P anyOf(std::u32string chars) {
    return cls(
        [chars = std::move(chars)](char32_t x) { return chars.find(x) != std::u32string::npos; });
}
// Any character but these (and not the end of the text).
P noneOf(std::u32string chars) {
    return cls(
        [chars = std::move(chars)](char32_t x) { return chars.find(x) == std::u32string::npos; });
}
P range(char32_t lo, char32_t hi) {
    return cls([lo, hi](char32_t x) { return x >= lo && x <= hi; });
}
P lit(std::u32string s) {
    return std::make_shared<LitPat>(std::move(s));
}
P eof() {
    return std::make_shared<EofPat>();
}
P seq(std::vector<P> parts) {
    return std::make_shared<SeqPat>(std::move(parts));
}
P alt(std::vector<P> alts) {
    return std::make_shared<AltPat>(std::move(alts));
}
P rep(P p, int min, int max) {
    return std::make_shared<RepPat>(std::move(p), min, max);
}
P star(P p) {
    return rep(std::move(p), 0, -1);
}
P plus(P p) {
    return rep(std::move(p), 1, -1);
}
P opt(P p) {
    return rep(std::move(p), 0, 1);
}
P lits(std::initializer_list<const char32_t*> words) {
    std::vector<P> alts;
    for (const char32_t* w : words)
        alts.push_back(lit(w));
    return alt(std::move(alts));
}

// An abbreviation as the jar's case rules have it: a lower-case letter matches either case, a
// capital only itself, and '_' before a letter makes that letter lower-case only.
P abbrevWord(std::u32string_view spec) {
    std::vector<P> parts;
    for (std::size_t i = 0; i < spec.size(); ++i) {
        char32_t c = spec[i];
        if (c == '_' && i + 1 < spec.size()) {
            parts.push_back(ch(spec[++i]));
        } else if (isAsciiUpper(c)) {
            parts.push_back(ch(c));
        } else {
            parts.push_back(lit(std::u32string(1, c)));
        }
    }
    return seq(std::move(parts));
}
P abbrevWords(std::initializer_list<const char32_t*> specs) {
    std::vector<P> alts;
    for (const char32_t* s : specs)
        alts.push_back(abbrevWord(s));
    return alt(std::move(alts));
}


} // namespace vqa::eval::ptb_patterns
