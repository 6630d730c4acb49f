// What the two halves of BpeTokenizer share (private to them): the steps of a tokenizer.json's
// pipeline as parsed, and the tokenizer's state. BpeTokenizer.cpp is the model (vocabulary,
// merges, the BPE itself, encode and decode); BpePipeline.cpp the steps around it (normalizer,
// pre-tokenizer, post-processor, the byte-fallback decoder chain).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/text/AddedTokens.h"
#include "engine/text/BpeTokenizer.h"
#include "engine/text/Regex.h"
#include "engine/text/Utf8.h"
#include "models/base/Error.h"

namespace vqa {

namespace bpe {

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

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

// The byte a piece spelled "<0xAB>" stands for (tokenizers' ByteFallback decoder reads any
// token of that form, whatever its id).
inline std::optional<unsigned char> parseBytePiece(std::string_view piece) {
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

}  // namespace bpe

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
    std::vector<bpe::DecoderStep> decoder;  // byte_fallback's decoder chain
    std::vector<char> byte_token;      // id -> its piece is "<0xAB>" (ByteFallback decodes it)
    std::array<TokenId, 256> byte_ids{};

    AddedTokenMatcher raw_tokens, normalized_tokens;
    std::vector<bpe::NormalizerStep> normalizer;
    std::vector<bpe::PreTokenizerStep> pre_tokenizer;
    std::vector<TokenId> prefix_ids, suffix_ids;  // post-processor, for add_special_tokens

    static constexpr std::size_t kCacheCapacity = 20000;
    static constexpr std::size_t kCacheMaxWord = 256;
    mutable std::shared_mutex cache_mutex;
    mutable std::unordered_map<std::string, std::vector<TokenId>> cache;

    void parseModel(const nlohmann::json& model);
    void parseAddedTokens(const nlohmann::json& list);
    void parseNormalizer(const nlohmann::json& node);
    void parsePreTokenizer(const nlohmann::json& node);
    void parsePostProcessor(const nlohmann::json& node);
    void checkDecoder(const nlohmann::json& node);
    void parseFallbackDecoder(const nlohmann::json& node);
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

}  // namespace vqa
