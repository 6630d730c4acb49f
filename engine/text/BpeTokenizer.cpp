#include "engine/text/BpeTokenizer.h"

#include <array>
#include <limits>
#include <mutex>
#include <queue>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "models/base/Error.h"
#include "engine/text/TokenIdJson.h"
#include "engine/text/AddedTokens.h"
#include "engine/text/Regex.h"
#include "engine/text/Utf8.h"

namespace vqa {

using json = nlohmann::json;

namespace {

// GPT-2's pre-tokenization pattern, used by the ByteLevel pre-tokenizer with use_regex.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// GPT-2's reversible byte <-> printable character map.
struct ByteMap {
    std::array<std::string, 256> byte_to_char;        // UTF-8 of the mapped character
    std::unordered_map<char32_t, unsigned char> char_to_byte;
    ByteMap() {
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
            utf8::append(byte_to_char[b], cp);
            char_to_byte[cp] = static_cast<unsigned char>(b);
        }
    }
};

const ByteMap& byteMap() {
    static const ByteMap map;
    return map;
}

// The bytes a byte-level piece stands for; text with a character outside the map is taken
// as it is (what tokenizers' ByteLevel decoder does for added tokens such as "<image>").
std::string byteLevelDecode(std::string_view piece) {
    const auto& map = byteMap().char_to_byte;
    std::string out;
    out.reserve(piece.size());
    for (std::size_t pos = 0; pos < piece.size();) {
        auto it = map.find(utf8::next(piece, pos));
        if (it == map.end())
            return std::string(piece);
        out += static_cast<char>(it->second);
    }
    return out;
}

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

SplitBehavior parseBehavior(const std::string& name, const std::string& file) {
    if (name == "Removed")
        return SplitBehavior::Removed;
    if (name == "Isolated")
        return SplitBehavior::Isolated;
    if (name == "MergedWithPrevious")
        return SplitBehavior::MergedWithPrevious;
    if (name == "MergedWithNext")
        return SplitBehavior::MergedWithNext;
    if (name == "Contiguous")
        return SplitBehavior::Contiguous;
    throw Error(file + ": unknown split behavior '" + name + "'");
}

using Span = std::pair<std::size_t, std::size_t>;

// tokenizers' NormalizedString::split: turns matches into pieces by behavior.
std::vector<Span> splitByMatches(std::size_t length, const std::vector<Span>& matches,
                                 SplitBehavior behavior, bool invert) {
    std::vector<std::pair<Span, bool>> parts;
    std::size_t prev = 0;
    for (auto [b, e] : matches) {
        if (prev < b)
            parts.push_back({{prev, b}, false});
        parts.push_back({{b, e}, true});
        prev = e;
    }
    if (prev < length)
        parts.push_back({{prev, length}, false});
    if (invert)
        for (auto& p : parts)
            p.second = !p.second;

    std::vector<Span> out;
    switch (behavior) {
    case SplitBehavior::Removed:
        for (auto& [span, m] : parts)
            if (!m)
                out.push_back(span);
        break;
    case SplitBehavior::Isolated:
        for (auto& p : parts)
            out.push_back(p.first);
        break;
    case SplitBehavior::MergedWithPrevious: {
        bool previous_match = false;
        for (auto& [span, m] : parts) {
            if (m && !previous_match && !out.empty())
                out.back().second = span.second;
            else
                out.push_back(span);
            previous_match = m;
        }
        break;
    }
    case SplitBehavior::MergedWithNext: {
        bool previous_match = false;
        for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
            if (it->second && !previous_match && !out.empty())
                out.back().first = it->first.first;
            else
                out.push_back(it->first);
            previous_match = it->second;
        }
        std::reverse(out.begin(), out.end());
        break;
    }
    case SplitBehavior::Contiguous: {
        bool previous_match = false;
        bool first = true;
        for (auto& [span, m] : parts) {
            if (!first && m == previous_match)
                out.back().second = span.second;
            else
                out.push_back(span);
            previous_match = m;
            first = false;
        }
        break;
    }
    }
    std::erase_if(out, [](const Span& s) { return s.first == s.second; });
    return out;
}

struct PreTokenizerStep {
    enum class Kind { Split, ByteLevel, Metaspace } kind = Kind::Split;
    std::shared_ptr<Regex> regex;
    SplitBehavior behavior = SplitBehavior::Isolated;
    bool invert = false;
    bool add_prefix_space = false;  // ByteLevel
    // Metaspace: spaces become `replacement`, which starts each piece (split) and is put in
    // front of the text (prepend "always"; "first": only the text's first part, not a part
    // that follows an added token).
    std::string replacement;
    enum class Prepend { Always, First, Never } prepend = Prepend::Always;
    bool split = true;
};

// The byte-fallback piece of a byte: "<0x0A>", as tokenizers spells it.
std::string bytePiece(unsigned char b) {
    static const char* hex = "0123456789ABCDEF";
    return std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
}

// The byte a piece spelled "<0xAB>" stands for (tokenizers' ByteFallback decoder reads any
// token of that form, whatever its id).
std::optional<unsigned char> parseBytePiece(std::string_view piece) {
    if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>')
        return std::nullopt;
    int value = 0;
    for (char c : piece.substr(3, 2)) {
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (digit < 0)
            return std::nullopt;
        value = value * 16 + digit;
    }
    return static_cast<unsigned char>(value);
}

// The decoder of a SentencePiece-style (byte-fallback) tokenizer.json, step by step.
struct DecoderStep {
    enum class Kind { Replace, ByteFallback, Fuse, Strip } kind = Kind::Fuse;
    std::string pattern, content;  // Replace: literal pattern -> content; Strip: the character
    int start = 0, stop = 0;       // Strip: how many of it to take from each end
};

struct NormalizerStep {
    enum class Kind { Prepend, Replace, Unicode, Lowercase } kind = Kind::Prepend;
    std::string text;     // Prepend: what; Replace: replacement
    std::string pattern;  // Replace: literal pattern
    std::shared_ptr<Regex> regex;  // Replace: a Regex pattern (CLIP's "\s+" -> " ")
    utf8::NormalForm form = utf8::NormalForm::Nfc;  // Unicode (NFC, NFD, NFKC, NFKD)
};

// Merge candidates, lowest rank first, then leftmost (as tokenizers' BinaryHeap orders them).
struct MergeCandidate {
    int rank;
    int pos;
    TokenId new_id;
    bool operator>(const MergeCandidate& o) const {
        return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
};

std::uint64_t pairKey(TokenId a, TokenId b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

}  // namespace

struct BpeTokenizer::Impl {
    std::string file;
    std::unordered_map<std::string, TokenId> vocab;  // model vocabulary and added tokens
    std::vector<std::string> pieces;                 // id -> piece
    std::vector<std::string> bytes;                  // id -> decoded bytes
    std::vector<char> special;                       // id -> added token marked special
    std::vector<char> added;                         // id -> added token
    std::unordered_map<std::uint64_t, std::pair<int, TokenId>> merges;
    std::optional<TokenId> unk;
    // CLIP's BPE: the last symbol of every word carries this suffix ("</w>"), so a piece that
    // ends a word differs from the same letters inside one.
    std::string end_of_word_suffix;
    bool ignore_merges = false;
    bool byte_level = false;
    // SentencePiece-style BPE (Gemma, SigLIP 2, Llama 2's tokenizer.json): merges over
    // characters; a character missing from the vocabulary becomes its bytes' "<0xAB>" tokens,
    // or the unknown token (consecutive ones fused into one with fuse_unk).
    bool byte_fallback = false;
    bool fuse_unk = false;
    std::vector<DecoderStep> decoder;  // byte_fallback's decoder chain
    std::vector<char> byte_token;      // id -> its piece is "<0xAB>" (ByteFallback decodes it)
    std::array<TokenId, 256> byte_ids{};

    AddedTokenMatcher raw_tokens, normalized_tokens;
    std::vector<NormalizerStep> normalizer;
    std::vector<PreTokenizerStep> pre_tokenizer;
    std::vector<TokenId> prefix_ids, suffix_ids;  // post-processor, for add_special_tokens

    static constexpr std::size_t kCacheCapacity = 20000;
    static constexpr std::size_t kCacheMaxWord = 256;
    mutable std::shared_mutex cache_mutex;
    mutable std::unordered_map<std::string, std::vector<TokenId>> cache;

    void parseModel(const json& model);
    void parseAddedTokens(const json& list);
    void parseNormalizer(const json& node);
    void parsePreTokenizer(const json& node);
    void parsePostProcessor(const json& node);
    void checkDecoder(const json& node);
    void parseFallbackDecoder(const json& node);
    std::string decodeFallback(const std::vector<TokenId>& ids, bool skip_special_tokens) const;

    std::string normalize(std::string_view text) const;
    // `first`: the part starts the input text (Metaspace's prepend_scheme "first").
    std::vector<std::string> preTokenize(std::string_view text, bool first) const;
    void bpe(const std::string& word, std::vector<TokenId>& out) const;
    void bpeUncached(const std::string& word, std::vector<TokenId>& out) const;

    [[noreturn]] void fail(const std::string& what) const { throw Error(file + ": " + what); }
    // A pattern of the file, compiled; one PCRE2 refuses is reported with the file's name.
    std::shared_ptr<Regex> compile(const std::string& pattern) const {
        try {
            return std::make_shared<Regex>(pattern);
        } catch (const Error& e) {
            fail(e.what());
        }
    }
};

void BpeTokenizer::Impl::parseModel(const json& model) {
    if (!model.is_object())
        fail("has no \"model\" object");
    std::string type = model.value("type", std::string("BPE"));
    if (type != "BPE")
        fail("model type '" + type + "' is not supported (supported: BPE)");
    if (model.contains("continuing_subword_prefix") && !model["continuing_subword_prefix"].is_null() &&
        !model["continuing_subword_prefix"].get<std::string>().empty())
        fail("BPE continuing_subword_prefix is not supported");
    if (model.contains("end_of_word_suffix") && model["end_of_word_suffix"].is_string())
        end_of_word_suffix = model["end_of_word_suffix"].get<std::string>();
    byte_fallback = model.value("byte_fallback", false);
    fuse_unk = model.value("fuse_unk", false);
    if (model.contains("dropout") && model["dropout"].is_number() && model["dropout"].get<double>() > 0)
        fail("BPE dropout is not supported (it makes encoding random)");
    ignore_merges = model.value("ignore_merges", false);
    const auto& v = model.at("vocab");
    if (!v.is_object() || v.empty())
        fail("model.vocab is missing or empty");
    TokenId max_id = -1;
    for (auto it = v.begin(); it != v.end(); ++it) {
        const TokenId id = tokenIdFrom(it.value(), [&] { return file + ": model.vocab['" + it.key() + "']"; });
        if (it.key().empty())
            continue;  // no text is the empty string: an entry for it is not a token (an encoding emitted it)
        vocab[it.key()] = id;
        max_id = std::max(max_id, id);
    }
    pieces.resize(static_cast<std::size_t>(max_id) + 1);
    for (auto& [piece, id] : vocab)
        pieces[id] = piece;
    int rank = 0;
    for (const auto& m : model.at("merges")) {
        std::string a, b;
        if (m.is_string()) {
            auto s = m.get<std::string>();
            auto space = s.find(' ', 1);
            if (space == std::string::npos)
                fail("merge '" + s + "' has no space between its two parts");
            a = s.substr(0, space);
            b = s.substr(space + 1);
        } else if (m.is_array() && m.size() == 2) {
            a = m[0].get<std::string>();
            b = m[1].get<std::string>();
        } else {
            fail("merge #" + std::to_string(rank) + " is neither \"a b\" nor [a, b]");
        }
        auto ia = vocab.find(a), ib = vocab.find(b), ic = vocab.find(a + b);
        if (ia == vocab.end() || ib == vocab.end() || ic == vocab.end())
            fail("merge '" + a + " " + b + "' uses a piece missing from the vocabulary");
        merges.emplace(pairKey(ia->second, ib->second), std::make_pair(rank, ic->second));
        ++rank;
    }
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
        auto it = vocab.find(model["unk_token"].get<std::string>());
        if (it != vocab.end())
            unk = it->second;
    }
}

void BpeTokenizer::Impl::parseAddedTokens(const json& list) {
    std::vector<AddedToken> raw, normalized;
    if (list.is_null())
        return;
    for (const auto& t : list) {
        AddedToken tok;
        tok.id = tokenIdFrom(t.at("id"), [&] { return file + ": added_tokens"; });
        tok.content = t.at("content").get<std::string>();
        tok.special = t.value("special", false);
        tok.lstrip = t.value("lstrip", false);
        tok.rstrip = t.value("rstrip", false);
        tok.normalized = t.value("normalized", !tok.special);
        tok.single_word = t.value("single_word", false);
        if (tok.id < 0)
            fail("added token '" + tok.content + "' has a negative id");
        if (static_cast<std::size_t>(tok.id) >= pieces.size())
            pieces.resize(static_cast<std::size_t>(tok.id) + 1);
        pieces[tok.id] = tok.content;
        vocab[tok.content] = tok.id;
        special.resize(pieces.size());
        added.resize(pieces.size());
        special[tok.id] = tok.special;
        added[tok.id] = 1;
        (tok.normalized && !normalizer.empty() ? normalized : raw).push_back(tok);
    }
    raw_tokens = AddedTokenMatcher(std::move(raw));
    normalized_tokens = AddedTokenMatcher(std::move(normalized));
}

void BpeTokenizer::Impl::parseNormalizer(const json& node) {
    if (node.is_null())
        return;
    std::string type = node.value("type", "");
    if (type == "Sequence") {
        for (const auto& n : node.at("normalizers"))
            parseNormalizer(n);
    } else if (type == "Prepend") {
        normalizer.push_back({NormalizerStep::Kind::Prepend, node.at("prepend").get<std::string>(), {}, {}});
    } else if (type == "Replace") {
        const auto& p = node.at("pattern");
        NormalizerStep step{NormalizerStep::Kind::Replace, node.at("content").get<std::string>(), {}, {}};
        if (p.contains("String"))
            step.pattern = p["String"].get<std::string>();
        else if (p.contains("Regex"))
            step.regex = compile(p["Regex"].get<std::string>());
        else
            fail("Replace normalizer without a String or Regex pattern");
        normalizer.push_back(std::move(step));
    } else if (type == "Lowercase") {
        normalizer.push_back({NormalizerStep::Kind::Lowercase, {}, {}, {}});
    } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
        // Qwen2's tokenizer.json normalizes to NFC.
        NormalizerStep step;
        step.kind = NormalizerStep::Kind::Unicode;
        step.form = type == "NFC"   ? utf8::NormalForm::Nfc
                    : type == "NFD" ? utf8::NormalForm::Nfd
                    : type == "NFKC" ? utf8::NormalForm::Nfkc
                                     : utf8::NormalForm::Nfkd;
        normalizer.push_back(std::move(step));
    } else {
        fail("normalizer '" + type +
             "' is not supported (supported: Sequence, Prepend, Replace, Lowercase, NFC, NFD, NFKC, NFKD)");
    }
}

void BpeTokenizer::Impl::parsePreTokenizer(const json& node) {
    if (node.is_null())
        return;
    std::string type = node.value("type", "");
    if (type == "Sequence") {
        for (const auto& n : node.at("pretokenizers"))
            parsePreTokenizer(n);
    } else if (type == "ByteLevel") {
        PreTokenizerStep step;
        step.kind = PreTokenizerStep::Kind::ByteLevel;
        step.add_prefix_space = node.value("add_prefix_space", false);
        if (node.value("use_regex", true))
            step.regex = std::make_shared<Regex>(kGpt2Pattern);
        pre_tokenizer.push_back(std::move(step));
        byte_level = true;
    } else if (type == "Metaspace") {
        PreTokenizerStep step;
        step.kind = PreTokenizerStep::Kind::Metaspace;
        step.replacement = node.value("replacement", std::string("\xE2\x96\x81"));
        if (step.replacement.empty())
            fail("Metaspace pre-tokenizer with an empty replacement");
        std::string scheme = node.value("prepend_scheme", std::string());
        if (scheme.empty())  // files of tokenizers before 0.14: add_prefix_space
            scheme = node.value("add_prefix_space", true) ? "always" : "never";
        if (scheme == "always")
            step.prepend = PreTokenizerStep::Prepend::Always;
        else if (scheme == "first")
            step.prepend = PreTokenizerStep::Prepend::First;
        else if (scheme == "never")
            step.prepend = PreTokenizerStep::Prepend::Never;
        else
            fail("Metaspace prepend_scheme '" + scheme + "' is unknown");
        step.split = node.value("split", true);
        if (step.split)
            step.regex = std::make_shared<Regex>(Regex::escape(step.replacement));
        step.behavior = SplitBehavior::MergedWithNext;
        pre_tokenizer.push_back(std::move(step));
    } else if (type == "Digits") {
        PreTokenizerStep step;
        step.regex = std::make_shared<Regex>(R"(\p{N})");
        step.behavior = node.value("individual_digits", false) ? SplitBehavior::Isolated
                                                               : SplitBehavior::Contiguous;
        pre_tokenizer.push_back(std::move(step));
    } else if (type == "Split") {
        PreTokenizerStep step;
        const auto& p = node.at("pattern");
        if (p.contains("Regex"))
            step.regex = compile(p["Regex"].get<std::string>());
        else if (p.contains("String"))
            step.regex = std::make_shared<Regex>(Regex::escape(p["String"].get<std::string>()));
        else
            fail("Split pre-tokenizer without a Regex or String pattern");
        step.behavior = parseBehavior(node.value("behavior", "Isolated"), file);
        step.invert = node.value("invert", false);
        pre_tokenizer.push_back(std::move(step));
    } else {
        fail("pre-tokenizer '" + type + "' is not supported (supported: Sequence, ByteLevel, Metaspace, Digits, Split)");
    }
}

void BpeTokenizer::Impl::parsePostProcessor(const json& node) {
    if (node.is_null())
        return;
    std::string type = node.value("type", "");
    if (type == "Sequence") {
        for (const auto& n : node.at("processors"))
            parsePostProcessor(n);
    } else if (type == "ByteLevel") {
        // Only adjusts offsets.
    } else if (type == "TemplateProcessing") {
        bool seen_a = false;
        for (const auto& item : node.at("single")) {
            if (item.contains("Sequence")) {
                seen_a = true;
            } else if (item.contains("SpecialToken")) {
                auto name = item["SpecialToken"].at("id").get<std::string>();
                const auto& st = node.at("special_tokens");
                if (!st.contains(name))
                    fail("post_processor names special token '" + name + "' without ids");
                for (const auto& id : st[name].at("ids"))
                    (seen_a ? suffix_ids : prefix_ids)
                        .push_back(tokenIdFrom(id, [&] { return file + ": post_processor special token '" + name + "'"; }));
            }
        }
    } else if (type == "RobertaProcessing" || type == "BertProcessing") {
        prefix_ids.push_back(tokenIdFrom(node.at("cls").at(1), [&] { return file + ": post_processor cls"; }));
        suffix_ids.push_back(tokenIdFrom(node.at("sep").at(1), [&] { return file + ": post_processor sep"; }));
    } else {
        fail("post-processor '" + type + "' is not supported");
    }
}

void BpeTokenizer::Impl::checkDecoder(const json& node) {
    if (node.is_null())
        fail("has no decoder; a byte-level BPE needs the ByteLevel decoder");
    std::string type = node.value("type", "");
    if (type == "ByteLevel")
        return;
    if (type == "Sequence") {
        for (const auto& n : node.at("decoders"))
            if (n.value("type", "") == "ByteLevel")
                return;
    }
    fail("decoder '" + type + "' is not supported (supported: ByteLevel)");
}

void BpeTokenizer::Impl::parseFallbackDecoder(const json& node) {
    if (node.is_null())
        return;  // tokenizers then joins the pieces as they are
    std::string type = node.value("type", "");
    if (type == "Sequence") {
        for (const auto& n : node.at("decoders"))
            parseFallbackDecoder(n);
    } else if (type == "Replace") {
        const auto& p = node.at("pattern");
        if (!p.contains("String"))
            fail("Replace decoder with a Regex pattern is not supported");
        DecoderStep step;
        step.kind = DecoderStep::Kind::Replace;
        step.pattern = p["String"].get<std::string>();
        step.content = node.at("content").get<std::string>();
        if (step.pattern.empty())
            fail("Replace decoder with an empty pattern");
        decoder.push_back(std::move(step));
    } else if (type == "ByteFallback") {
        decoder.push_back({DecoderStep::Kind::ByteFallback, {}, {}, 0, 0});
    } else if (type == "Fuse") {
        decoder.push_back({DecoderStep::Kind::Fuse, {}, {}, 0, 0});
    } else if (type == "Strip") {
        DecoderStep step;
        step.kind = DecoderStep::Kind::Strip;
        step.content = node.value("content", std::string(" "));
        step.start = node.value("start", 0);
        step.stop = node.value("stop", 0);
        if (step.start < 0 || step.stop < 0)
            fail("Strip decoder with a negative count");
        decoder.push_back(std::move(step));
    } else {
        fail("decoder '" + type +
             "' is not supported with byte_fallback (supported: Sequence, Replace, ByteFallback, Fuse, Strip)");
    }
}

// tokenizers' decode: the pieces of the ids (special ones dropped when asked), each decoder
// step over the list of pieces in turn, then the pieces joined.
std::string BpeTokenizer::Impl::decodeFallback(const std::vector<TokenId>& ids, bool skip_special_tokens) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (TokenId id : ids) {
        if (id < 0 || static_cast<std::size_t>(id) >= pieces.size() || pieces[id].empty())
            continue;
        if (skip_special_tokens && special[id])
            continue;
        tokens.push_back(pieces[id]);
    }
    for (const auto& step : decoder) {
        switch (step.kind) {
        case DecoderStep::Kind::Replace:
            for (auto& t : tokens) {
                std::string out;
                std::size_t pos = 0;
                for (std::size_t hit; (hit = t.find(step.pattern, pos)) != std::string::npos; pos = hit + step.pattern.size())
                    out.append(t, pos, hit - pos).append(step.content);
                out.append(t, pos);
                t = std::move(out);
            }
            break;
        case DecoderStep::Kind::ByteFallback: {
            // A run of byte tokens becomes its text when the run is valid UTF-8, else one U+FFFD
            // per byte token of the run.
            std::vector<std::string> out;
            std::string run;
            std::size_t run_tokens = 0;
            auto flush = [&] {
                if (run_tokens == 0)
                    return;
                if (utf8::isValid(run)) {
                    out.push_back(run);
                } else {
                    for (std::size_t i = 0; i < run_tokens; ++i)
                        out.push_back("\xEF\xBF\xBD");
                }
                run.clear();
                run_tokens = 0;
            };
            for (auto& t : tokens) {
                if (auto b = parseBytePiece(t)) {
                    run += static_cast<char>(*b);
                    ++run_tokens;
                } else {
                    flush();
                    out.push_back(std::move(t));
                }
            }
            flush();
            tokens = std::move(out);
            break;
        }
        case DecoderStep::Kind::Fuse: {
            std::string all;
            for (const auto& t : tokens)
                all += t;
            tokens.assign(1, std::move(all));
            break;
        }
        case DecoderStep::Kind::Strip:
            // Up to `start` leading and `stop` trailing characters of each piece that are the
            // content (tokenizers compares characters).
            for (auto& t : tokens) {
                std::size_t b = 0, e = t.size();
                for (int i = 0; i < step.start && t.compare(b, step.content.size(), step.content) == 0 &&
                                b + step.content.size() <= e;
                     ++i)
                    b += step.content.size();
                for (int i = 0; i < step.stop && e >= b + step.content.size() &&
                                t.compare(e - step.content.size(), step.content.size(), step.content) == 0;
                     ++i)
                    e -= step.content.size();
                t = t.substr(b, e - b);
            }
            break;
        }
    }
    std::string text;
    for (const auto& t : tokens)
        text += t;
    return text;
}

std::string BpeTokenizer::Impl::normalize(std::string_view text) const {
    std::string s(text);
    for (const auto& step : normalizer) {
        if (step.kind == NormalizerStep::Kind::Prepend) {
            if (!s.empty())
                s = step.text + s;
        } else if (step.kind == NormalizerStep::Kind::Unicode) {
            s = utf8::normalize(s, step.form);
        } else if (step.kind == NormalizerStep::Kind::Lowercase) {
            s = utf8::lowercaseEach(s);
        } else if (step.regex) {
            std::string out;
            std::size_t pos = 0;
            for (auto [b, e] : step.regex->findAll(s)) {
                out.append(s, pos, b - pos).append(step.text);
                pos = e;
            }
            out.append(s, pos);
            s = std::move(out);
        } else if (!step.pattern.empty()) {
            std::string out;
            std::size_t pos = 0;
            for (std::size_t hit; (hit = s.find(step.pattern, pos)) != std::string::npos;
                 pos = hit + step.pattern.size())
                out.append(s, pos, hit - pos).append(step.text);
            out.append(s, pos);
            s = std::move(out);
        }
    }
    return s;
}

std::vector<std::string> BpeTokenizer::Impl::preTokenize(std::string_view text, bool first) const {
    std::vector<std::string> parts{std::string(text)};
    for (const auto& step : pre_tokenizer) {
        std::vector<std::string> next;
        for (std::size_t k = 0; k < parts.size(); ++k) {
            auto& part = parts[k];
            if (step.kind == PreTokenizerStep::Kind::Metaspace && !part.empty()) {
                std::string replaced;
                for (char c : part)
                    if (c == ' ')
                        replaced += step.replacement;
                    else
                        replaced += c;
                part = std::move(replaced);
                const bool prepend = step.prepend == PreTokenizerStep::Prepend::Always ||
                                     (step.prepend == PreTokenizerStep::Prepend::First && first && k == 0);
                if (prepend && !part.starts_with(step.replacement))
                    part = step.replacement + part;
            }
            if (step.kind == PreTokenizerStep::Kind::ByteLevel && step.add_prefix_space &&
                (part.empty() || part[0] != ' '))
                part.insert(part.begin(), ' ');
            if (!step.regex) {
                next.push_back(std::move(part));
                continue;
            }
            auto spans = splitByMatches(part.size(), step.regex->findAll(part), step.behavior, step.invert);
            for (auto [b, e] : spans)
                next.emplace_back(part.substr(b, e - b));
        }
        parts = std::move(next);
    }
    return parts;
}

void BpeTokenizer::Impl::bpe(const std::string& word, std::vector<TokenId>& out) const {
    if (word.size() > kCacheMaxWord) {
        bpeUncached(word, out);
        return;
    }
    {
        std::shared_lock lock(cache_mutex);
        auto it = cache.find(word);
        if (it != cache.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<TokenId> ids;
    bpeUncached(word, ids);
    out.insert(out.end(), ids.begin(), ids.end());
    std::unique_lock lock(cache_mutex);
    if (cache.size() < kCacheCapacity)  // like tokenizers: a full cache stops growing
        cache.emplace(word, std::move(ids));
}

void BpeTokenizer::Impl::bpeUncached(const std::string& word, std::vector<TokenId>& out) const {
    // The word as symbols: one per byte (byte-level) or per character.
    std::vector<TokenId> sym;
    std::vector<std::size_t> sym_len;  // bytes of `word` each initial symbol covers
    std::string mapped;
    if (byte_level && !end_of_word_suffix.empty()) {
        // The last byte's symbol with the suffix; a symbol missing from the vocabulary is
        // the unknown token, as tokenizers' BPE does.
        for (std::size_t i = 0; i < word.size(); ++i) {
            const std::string& c = byteMap().byte_to_char[static_cast<unsigned char>(word[i])];
            mapped += c;
            auto it = i + 1 == word.size() ? vocab.find(c + end_of_word_suffix) : vocab.find(c);
            if (it != vocab.end())
                sym.push_back(it->second);
            else if (unk)
                sym.push_back(*unk);
        }
    } else if (byte_fallback) {
        // tokenizers' BPE::merge_word: a character in the vocabulary is a symbol; one that is not
        // becomes its bytes' tokens when the vocabulary has all of them, else the unknown token
        // (a run of unknown characters one token with fuse_unk). As there, byte tokens do not
        // flush an unknown token still pending, which comes after them.
        mapped = word;
        std::optional<TokenId> pending_unk;
        for (std::size_t pos = 0; pos < word.size();) {
            std::size_t start = pos;
            utf8::next(word, pos);
            const std::string c = word.substr(start, pos - start);
            if (auto it = vocab.find(c); it != vocab.end()) {
                if (pending_unk) {
                    sym.push_back(*pending_unk);
                    pending_unk.reset();
                }
                sym.push_back(it->second);
                continue;
            }
            std::vector<TokenId> byte_syms;
            for (unsigned char b : c) {
                auto it = vocab.find(bytePiece(b));
                if (it == vocab.end()) {
                    byte_syms.clear();
                    break;
                }
                byte_syms.push_back(it->second);
            }
            if (!byte_syms.empty()) {
                sym.insert(sym.end(), byte_syms.begin(), byte_syms.end());
                continue;
            }
            if (unk) {
                if (pending_unk && !fuse_unk)
                    sym.push_back(*pending_unk);
                pending_unk = unk;
            }
        }
        if (pending_unk)
            sym.push_back(*pending_unk);
    } else if (byte_level) {
        for (unsigned char b : word) {
            mapped += byteMap().byte_to_char[b];
            if (byte_ids[b] >= 0)
                sym.push_back(byte_ids[b]);
        }
    } else {
        mapped = word;
        for (std::size_t pos = 0; pos < word.size();) {
            std::size_t start = pos;
            utf8::next(word, pos);
            std::string c = word.substr(start, pos - start);
            if (pos == word.size())
                c += end_of_word_suffix;
            auto it = vocab.find(c);
            if (it != vocab.end())
                sym.push_back(it->second);
            else if (unk)
                sym.push_back(*unk);
        }
    }
    if (ignore_merges) {
        auto it = vocab.find(mapped);
        if (it != vocab.end()) {
            out.push_back(it->second);
            return;
        }
    }
    const int n = static_cast<int>(sym.size());
    if (n <= 1) {
        out.insert(out.end(), sym.begin(), sym.end());
        return;
    }
    std::vector<int> prev(n), next(n);
    std::vector<char> alive(n, 1);
    for (int i = 0; i < n; ++i) {
        prev[i] = i - 1;
        next[i] = i + 1 < n ? i + 1 : -1;
    }
    std::priority_queue<MergeCandidate, std::vector<MergeCandidate>, std::greater<>> queue;
    auto consider = [&](int i) {
        if (i < 0 || next[i] < 0)
            return;
        auto it = merges.find(pairKey(sym[i], sym[next[i]]));
        if (it != merges.end())
            queue.push({it->second.first, i, it->second.second});
    };
    for (int i = 0; i + 1 < n; ++i)
        consider(i);
    while (!queue.empty()) {
        MergeCandidate top = queue.top();
        queue.pop();
        int i = top.pos;
        if (!alive[i] || next[i] < 0)
            continue;
        auto it = merges.find(pairKey(sym[i], sym[next[i]]));
        if (it == merges.end() || it->second.first != top.rank || it->second.second != top.new_id)
            continue;  // stale
        int j = next[i];
        sym[i] = top.new_id;
        alive[j] = 0;
        next[i] = next[j];
        if (next[j] >= 0)
            prev[next[j]] = i;
        consider(prev[i]);
        consider(i);
    }
    for (int i = 0; i >= 0; i = next[i])
        out.push_back(sym[i]);
}

BpeTokenizer::BpeTokenizer(const json& spec, const std::string& file) : impl_(std::make_unique<Impl>()) {
    auto& d = *impl_;
    d.file = file;
    if (!spec.is_object())
        d.fail("is not a JSON object");
    try {
        d.parseModel(spec.contains("model") ? spec["model"] : json());
        d.parseNormalizer(spec.value("normalizer", json()));
        d.parsePreTokenizer(spec.value("pre_tokenizer", json()));
        d.parseAddedTokens(spec.value("added_tokens", json()));
        d.parsePostProcessor(spec.value("post_processor", json()));
        if (d.byte_fallback) {
            if (d.byte_level)
                d.fail("BPE with byte_fallback and a ByteLevel pre-tokenizer is not supported");
            d.parseFallbackDecoder(spec.value("decoder", json()));
        } else {
            if (!d.byte_level)
                d.fail("has no ByteLevel pre-tokenizer; only byte-level BPE and BPE with byte_fallback are supported");
            d.checkDecoder(spec.value("decoder", json()));
        }
    } catch (const json::exception& e) {
        d.fail(std::string("unexpected structure: ") + e.what());
    }
    d.special.resize(d.pieces.size());
    d.added.resize(d.pieces.size());
    for (int b = 0; b < 256; ++b) {
        auto it = d.vocab.find(byteMap().byte_to_char[b]);
        d.byte_ids[b] = it != d.vocab.end() ? it->second : (d.unk ? *d.unk : -1);
    }
    d.bytes.resize(d.pieces.size());
    if (d.byte_fallback) {
        // What each token adds to the decoded text: a byte token its byte, any other its piece
        // through the decoder's Replace steps (a whole-text Strip is dropsLeadingSpace's).
        d.byte_token.assign(d.pieces.size(), 0);
        for (std::size_t id = 0; id < d.pieces.size(); ++id) {
            const std::string& piece = d.pieces[id];
            std::string text = piece;
            bool is_byte = false;
            for (const auto& step : d.decoder) {
                if (step.kind == DecoderStep::Kind::Replace) {
                    std::string out;
                    std::size_t pos = 0;
                    for (std::size_t hit; (hit = text.find(step.pattern, pos)) != std::string::npos;
                         pos = hit + step.pattern.size())
                        out.append(text, pos, hit - pos).append(step.content);
                    out.append(text, pos);
                    text = std::move(out);
                } else if (step.kind == DecoderStep::Kind::ByteFallback) {
                    if (auto b = parseBytePiece(text)) {
                        text.assign(1, static_cast<char>(*b));
                        is_byte = true;
                        break;
                    }
                } else {
                    break;  // Fuse and Strip act on the whole text
                }
            }
            d.bytes[id] = std::move(text);
            d.byte_token[id] = is_byte;
        }
        return;
    }
    const std::string& suffix = d.end_of_word_suffix;
    for (std::size_t id = 0; id < d.pieces.size(); ++id) {
        const std::string& piece = d.pieces[id];
        // A word's end decodes as a space (CLIPTokenizerFast turns "</w>" into " ").
        if (!suffix.empty() && !d.added[id] && piece.size() > suffix.size() &&
            piece.compare(piece.size() - suffix.size(), suffix.size(), suffix) == 0)
            d.bytes[id] = byteLevelDecode(piece.substr(0, piece.size() - suffix.size())) + " ";
        else
            d.bytes[id] = byteLevelDecode(piece);
    }
}

BpeTokenizer::~BpeTokenizer() = default;

std::vector<TokenId> BpeTokenizer::encode(std::string_view input, bool add_special_tokens) const {
    const auto& d = *impl_;
    std::string valid;
    const std::string_view text = utf8::validView(input, valid);
    std::vector<TokenId> ids;
    if (add_special_tokens)
        ids = d.prefix_ids;
    for (const auto& seg : d.raw_tokens.split(text)) {
        if (seg.id) {
            ids.push_back(*seg.id);
            continue;
        }
        if (seg.begin == seg.end)
            continue;
        std::string normalized = d.normalize(text.substr(seg.begin, seg.end - seg.begin));
        for (const auto& seg2 : d.normalized_tokens.split(normalized)) {
            if (seg2.id) {
                ids.push_back(*seg2.id);
                continue;
            }
            if (seg2.begin == seg2.end)
                continue;
            const bool first = seg.begin == 0 && seg2.begin == 0;
            for (const auto& word : d.preTokenize(std::string_view(normalized).substr(seg2.begin, seg2.end - seg2.begin), first))
                d.bpe(word, ids);
        }
    }
    if (add_special_tokens)
        ids.insert(ids.end(), d.suffix_ids.begin(), d.suffix_ids.end());
    return ids;
}

std::string BpeTokenizer::decode(const std::vector<TokenId>& ids, bool skip_special_tokens) const {
    if (impl_->byte_fallback)
        return impl_->decodeFallback(ids, skip_special_tokens);
    std::string bytes;
    for (TokenId id : ids) {
        if (id < 0 || static_cast<std::size_t>(id) >= impl_->pieces.size())
            continue;
        if (skip_special_tokens && impl_->special[id])
            continue;
        bytes += impl_->bytes[id];
    }
    std::string text = utf8::toValid(bytes, invalidUtf8Policy());
    const std::string& suffix = impl_->end_of_word_suffix;
    if (!suffix.empty()) {
        // CLIPTokenizer's decode replaces every "</w>" of the decoded text with a space, also
        // one that pieces without the suffix spell out ("<" "/w" ">"), and strips the result
        // as Python does (a word's end leaves a space at the end).
        std::string replaced;
        std::size_t pos = 0;
        for (std::size_t hit; (hit = text.find(suffix, pos)) != std::string::npos; pos = hit + suffix.size())
            replaced.append(text, pos, hit - pos).append(" ");
        replaced.append(text, pos);
        text = std::string(utf8::stripPython(replaced));
    }
    return text;
}

std::string BpeTokenizer::idToPiece(TokenId id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= impl_->pieces.size())
        return {};
    return impl_->pieces[id];
}

std::optional<TokenId> BpeTokenizer::pieceToId(std::string_view piece) const {
    auto it = impl_->vocab.find(std::string(piece));
    if (it == impl_->vocab.end())
        return std::nullopt;
    return it->second;
}

bool BpeTokenizer::isSpecial(TokenId id) const {
    return id >= 0 && static_cast<std::size_t>(id) < impl_->special.size() && impl_->special[id];
}

std::size_t BpeTokenizer::vocabSize() const { return impl_->pieces.size(); }

Tokenizer::InvalidUtf8 BpeTokenizer::invalidUtf8Policy() const {
    return impl_->byte_fallback ? InvalidUtf8::ReplaceInvalidByteRun : InvalidUtf8::ReplaceMaximalSubpart;
}

bool BpeTokenizer::isByteToken(TokenId id) const {
    return impl_->byte_fallback && id >= 0 && static_cast<std::size_t>(id) < impl_->byte_token.size() &&
           impl_->byte_token[id];
}

bool BpeTokenizer::dropsLeadingSpace(TokenId id) const {
    // Llama 2's decoder ends with Strip(" ", 1, 0) after Fuse: the text's first space goes.
    const auto& d = *impl_;
    if (!d.byte_fallback || isByteToken(id))
        return false;
    bool fused = false;
    for (const auto& step : d.decoder) {
        if (step.kind == DecoderStep::Kind::Fuse)
            fused = true;
        else if (step.kind == DecoderStep::Kind::Strip && fused && step.content == " " && step.start > 0)
            return true;
    }
    return false;
}

std::string BpeTokenizer::tokenBytes(TokenId id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= impl_->bytes.size())
        return {};
    return impl_->bytes[id];
}

}  // namespace vqa
