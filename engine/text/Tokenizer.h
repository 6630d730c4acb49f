// The text side of a model: ids <-> text. Implementations: BpeTokenizer (tokenizer.json,
// byte-level BPE) and SentencePieceTokenizer (tokenizer.model). No LibTorch here.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vqa {

using TokenId = std::int32_t;

// What tokenizer_config.json / special_tokens_map.json say about special tokens.
struct SpecialTokens {
    std::optional<TokenId> bos, eos, pad, unk;
    std::string bos_text, eos_text, pad_text, unk_text;
    // Every added token marked special (ids), e.g. <image>, <end_of_utterance>.
    std::vector<TokenId> all_special_ids;
};

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // Encodes text; special/added tokens written in the text are recognized (as the
    // reference does by default). Adds no BOS/EOS unless add_special_tokens and the
    // tokenizer's post-processor says so.
    virtual std::vector<TokenId> encode(std::string_view text, bool add_special_tokens = false) const = 0;

    // Decodes ids to text. skip_special_tokens drops tokens marked special.
    virtual std::string decode(const std::vector<TokenId>& ids, bool skip_special_tokens = false) const = 0;

    // The piece (vocabulary string) of one id, as stored in the vocabulary.
    virtual std::string idToPiece(TokenId id) const = 0;
    virtual std::optional<TokenId> pieceToId(std::string_view piece) const = 0;
    virtual bool isSpecial(TokenId id) const = 0;
    virtual std::size_t vocabSize() const = 0;

    // The raw bytes one token contributes to the decoded stream, used for streaming
    // detokenization. Byte-level BPE: the piece's bytes; SentencePiece: the piece with
    // U+2581 as space (leading-space handling is left to the streaming detokenizer).
    virtual std::string tokenBytes(TokenId id) const = 0;

    // How decode() assembles tokenBytes() into text; StreamingDetokenizer applies the same
    // rules incrementally, so streaming and whole-sequence decoding agree byte for byte.
    enum class InvalidUtf8 {
        ReplaceMaximalSubpart,  // one U+FFFD per maximal invalid subpart (tokenizers, Python)
        ReplaceEachByte,        // one U+FFFD per invalid byte (SentencePiece)
        // tokenizers' ByteFallback decoder (transformers' Llama/LLaVA tokenizers): a run of
        // consecutive byte tokens (<0xAB>) becomes its text when the whole run is valid
        // UTF-8, else one U+FFFD per byte of the run, even where part of it was valid.
        ReplaceInvalidByteRun,
    };
    virtual InvalidUtf8 invalidUtf8Policy() const { return InvalidUtf8::ReplaceMaximalSubpart; }
    // True when `id`, as the first token of the output that contributes any text, loses
    // one leading space (SentencePiece's dummy prefix). Byte-level BPE: never.
    virtual bool dropsLeadingSpace(TokenId id) const { return false; }
    // True for a byte-fallback token ("<0xAB>"), whose tokenBytes() is that one byte.
    virtual bool isByteToken(TokenId id) const { return false; }

    // Looks up an added/special token by its text (e.g. "<end_of_utterance>").
    std::optional<TokenId> tokenId(std::string_view text) const { return pieceToId(text); }

    const SpecialTokens& specialTokens() const { return special_; }
    // The chat template (Jinja source) from the model folder, if any.
    const std::string& chatTemplate() const { return chat_template_; }

    // Set by the loader from tokenizer_config.json, special_tokens_map.json and the template.
    void setMetadata(SpecialTokens special, std::string chat_template) {
        special_ = std::move(special);
        chat_template_ = std::move(chat_template);
    }

protected:
    SpecialTokens special_;
    std::string chat_template_;
};

// Loads the tokenizer a model folder holds: tokenizer.json (preferred) or tokenizer.model,
// plus tokenizer_config.json, special_tokens_map.json, chat_template.json when present.
// Throws vqa::Error naming the file and the problem.
std::unique_ptr<Tokenizer> loadTokenizer(const std::string& model_dir);

}  // namespace vqa
