// SentencePiece tokenizer.model (Llama 2, LLaVA, Gemma) through libsentencepiece, with
// added tokens such as "<image>" matched before SentencePiece sees the text.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/text/AddedTokens.h"
#include "engine/text/Tokenizer.h"

namespace vqa {

struct SentencePieceOptions {
    std::vector<AddedToken> added_tokens;
    // transformers' `legacy`: when false (its default), only text at the very start of the
    // input gets SentencePiece's dummy-prefix space; text after an added token does not.
    bool legacy = false;
    bool add_bos = true;   // add_bos_token, for encode(add_special_tokens = true)
    bool add_eos = false;  // add_eos_token
    // Decode as transformers does with the tokenizer.json beside the model (its ByteFallback
    // decoder) rather than as libsentencepiece does: see Tokenizer::InvalidUtf8.
    bool transformers_byte_fallback = false;
    // transformers' SiglipTokenizer (google/siglip-* spiece.model): the text is cleaned first
    // (lower-cased when `lower_case`, ASCII punctuation removed, whitespace runs made one space,
    // stripped), written after a "▁" at the very start, and encoded behind the unknown token's
    // text whose pieces are then dropped, so SentencePiece adds no prefix of its own.
    bool siglip_text = false;
    bool lower_case = true;
};

class SentencePieceTokenizer final : public Tokenizer {
public:
    // Throws vqa::Error naming `model_file` when it cannot be loaded.
    SentencePieceTokenizer(const std::string& model_file, SentencePieceOptions options);
    ~SentencePieceTokenizer() override;

    std::vector<TokenId> encode(std::string_view text, bool add_special_tokens = false) const override;
    std::string decode(const std::vector<TokenId>& ids, bool skip_special_tokens = false) const override;
    std::string idToPiece(TokenId id) const override;
    std::optional<TokenId> pieceToId(std::string_view piece) const override;
    bool isSpecial(TokenId id) const override;
    std::size_t vocabSize() const override;
    std::string tokenBytes(TokenId id) const override;
    InvalidUtf8 invalidUtf8Policy() const override;
    bool dropsLeadingSpace(TokenId id) const override;
    bool isByteToken(TokenId id) const override;

private:
    std::vector<int> siglipPieces(std::string_view segment, bool at_start) const;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vqa
