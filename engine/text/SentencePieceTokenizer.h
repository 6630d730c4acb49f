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
    // transformers' SiglipTokenizer (google/siglip-* spiece.model): every "▁" of the text made a
    // space and one "▁" put before it; each stretch between added tokens cleaned (lower-cased
    // when `lower_case`, ASCII punctuation removed, whitespace runs made one space, stripped)
    // and encoded behind the unknown token's text, whose pieces are then dropped; a lone "▁"
    // before a special token at the start dropped; the end token after, unless the text
    // already ends with it. Decoding joins the pieces between special tokens as SiglipTokenizer
    // does. `legacy` (transformers' default true for it) keeps the model's own dummy prefix.
    bool siglip_text = false;
    bool lower_case = true;
    // The end token add_eos appends and the unknown token SiglipTokenizer encodes in front of
    // the text ("</s>", "<unk>"); empty: the model's own pieces.
    std::string eos_token, unk_token;
    // Special tokens the tokenizer's settings name (eos_token, pad_token, ...), matched in text
    // and marked special even where no added-token entry lists them, as transformers' Python
    // tokenizers do; each takes its id in the model (one the model lacks is left out).
    std::vector<std::string> special_tokens;
    // transformers' clean_up_tokenization_spaces: decode removes the space before . ? ! , and
    // before 's 'm 've 're n't (SiglipTokenizer's decode only; off unless the config says so).
    bool clean_up_spaces = false;
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
    std::vector<TokenId> siglipEncode(std::string_view text, bool add_special_tokens) const;
    std::vector<int> siglipPieces(std::string_view segment) const;
    std::string siglipDecode(const std::vector<TokenId>& ids, bool skip_special_tokens) const;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vqa
