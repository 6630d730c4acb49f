// BPE from a Hugging Face tokenizer.json: added tokens first, then the declared normalizer and
// pre-tokenizer, then merges by rank, with a thread-safe cache of encoded words. Two kinds:
//   - byte-level (GPT-2, CLIP, SmolLM/SmolVLM, Llama 3, Qwen): a ByteLevel pre-tokenizer, merges
//     over the bytes' printable stand-ins, the ByteLevel decoder;
//   - SentencePiece-style with byte_fallback (Gemma, SigLIP 2; Llama 2's tokenizer.json):
//     spaces made "▁" by the normalizer (or a Metaspace pre-tokenizer), merges over characters,
//     a character missing from the vocabulary spelled by its "<0xAB>" byte tokens; decoded by
//     the Replace, ByteFallback, Fuse and Strip decoders as the tokenizers library runs them.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "engine/text/Tokenizer.h"

namespace vqa {

class BpeTokenizer final : public Tokenizer {
public:
    // `spec` is the parsed tokenizer.json; `file` names it in error messages. Throws
    // vqa::Error for parts this implementation does not support.
    BpeTokenizer(const nlohmann::json& spec, const std::string& file);
    ~BpeTokenizer() override;

    std::vector<TokenId> encode(std::string_view text, bool add_special_tokens = false) const override;
    std::string decode(const std::vector<TokenId>& ids, bool skip_special_tokens = false) const override;
    std::string idToPiece(TokenId id) const override;
    std::optional<TokenId> pieceToId(std::string_view piece) const override;
    bool isSpecial(TokenId id) const override;
    std::size_t vocabSize() const override;
    std::string tokenBytes(TokenId id) const override;
    InvalidUtf8 invalidUtf8Policy() const override;
    bool isByteToken(TokenId id) const override;
    bool dropsLeadingSpace(TokenId id) const override;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vqa
