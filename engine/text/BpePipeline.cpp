// The steps of a tokenizer.json around the BPE model: normalizers, pre-tokenizers, the
// post-processor's special tokens and the byte-fallback decoder chain, parsed and run as the
// tokenizers library runs them (BpeTokenizerImpl.h holds the state both halves share).
#include "engine/text/BpeTokenizerImpl.h"

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
using namespace bpe;

namespace {

// GPT-2's pre-tokenization pattern, used by the ByteLevel pre-tokenizer with use_regex.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

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

}  // namespace

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

}  // namespace vqa
