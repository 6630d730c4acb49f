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

#include "engine/text/BpeTokenizerImpl.h"

namespace vqa {

using json = nlohmann::json;
using namespace bpe;

namespace {

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

// The byte-fallback piece of a byte: "<0x0A>", as tokenizers spells it.
std::string bytePiece(unsigned char b) {
    static const char* hex = "0123456789ABCDEF";
    return std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
}

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
