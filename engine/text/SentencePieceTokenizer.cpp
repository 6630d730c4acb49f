#include "engine/text/SentencePieceTokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <sentencepiece_processor.h>

#include "models/base/Error.h"
#include "engine/text/StreamingDetokenizer.h"
#include "engine/text/Utf8.h"

namespace vqa {

namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581
constexpr std::string_view kUnknownSurface = " \xE2\x81\x87 ";  // SentencePiece's " ⁇ "

bool readVarint(std::string_view s, std::size_t& pos, std::uint64_t& value) {
    value = 0;
    for (int shift = 0; pos < s.size() && shift < 64; shift += 7) {
        auto b = static_cast<unsigned char>(s[pos++]);
        value |= static_cast<std::uint64_t>(b & 0x7F) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

void writeVarint(std::string& out, std::uint64_t value) {
    do {
        unsigned char b = value & 0x7F;
        value >>= 7;
        out += static_cast<char>(b | (value ? 0x80 : 0));
    } while (value);
}

// Walks the protobuf wire format of a ModelProto. Field 3 is the NormalizerSpec; in it,
// field 3 is add_dummy_prefix and field 4 remove_extra_whitespaces (both default true).
// With `disable_prefix`, returns the model with add_dummy_prefix = false appended to the
// NormalizerSpec (the last value of a scalar field wins). libsentencepiece's public API
// has no switch for it, and the protobuf headers are not part of its Debian package.
std::string scanModel(std::string_view proto, bool disable_prefix, bool& strips_space, bool& ok) {
    std::string out;
    strips_space = true;
    ok = false;
    std::size_t pos = 0;
    while (pos < proto.size()) {
        std::size_t start = pos;
        std::uint64_t key, value;
        if (!readVarint(proto, pos, key))
            return {};
        auto field = key >> 3, wire = key & 7;
        if (wire == 0) {
            if (!readVarint(proto, pos, value))
                return {};
        } else if (wire == 1) {
            pos += 8;
        } else if (wire == 5) {
            pos += 4;
        } else if (wire == 2) {
            if (!readVarint(proto, pos, value) || pos + value > proto.size())
                return {};
            if (field == 3) {
                std::string_view spec = proto.substr(pos, value);
                bool dummy = true, remove_ws = true;
                for (std::size_t p = 0; p < spec.size();) {
                    std::uint64_t k, v;
                    if (!readVarint(spec, p, k))
                        return {};
                    if ((k & 7) == 0) {
                        if (!readVarint(spec, p, v))
                            return {};
                        if ((k >> 3) == 3)
                            dummy = v != 0;
                        if ((k >> 3) == 4)
                            remove_ws = v != 0;
                    } else if ((k & 7) == 2) {
                        if (!readVarint(spec, p, v))
                            return {};
                        p += v;
                    } else if ((k & 7) == 1) {
                        p += 8;
                    } else if ((k & 7) == 5) {
                        p += 4;
                    } else {
                        return {};
                    }
                }
                strips_space = dummy || remove_ws;
                if (disable_prefix) {
                    std::string payload(spec);
                    payload += "\x18";
                    payload += '\0';
                    writeVarint(out, key);
                    writeVarint(out, payload.size());
                    out += payload;
                    pos += value;
                    continue;
                }
            }
            pos += value;
        } else {
            return {};
        }
        if (pos > proto.size())
            return {};
        out.append(proto.substr(start, pos - start));
    }
    ok = true;
    return out;
}

}  // namespace

struct SentencePieceTokenizer::Impl {
    std::string file;
    sentencepiece::SentencePieceProcessor sp;
    sentencepiece::SentencePieceProcessor sp_no_prefix;  // for text after an added token
    SentencePieceOptions options;
    AddedTokenMatcher matcher;
    std::unordered_map<std::string, TokenId> added_by_text;
    std::unordered_map<TokenId, AddedToken> added_by_id;
    bool strips_space = true;
    int sp_size = 0;
    std::size_t vocab_size = 0;
    int eos_id = -1;           // what add_eos appends
    std::string unk_text;      // SiglipTokenizer's unk_token ...
    std::size_t unk_pieces = 0;  // ... and the number of pieces SentencePiece makes of it

    // SiglipTokenizer's processor: the model as it is, or without its dummy prefix when the
    // settings say legacy false (transformers then edits the model so).
    const sentencepiece::SentencePieceProcessor& siglipSp() const { return options.legacy ? sp : sp_no_prefix; }
    bool isAddedSpecial(TokenId id) const {
        auto it = added_by_id.find(id);
        return it != added_by_id.end() && it->second.special;
    }
};

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_file, SentencePieceOptions options)
    : impl_(std::make_unique<Impl>()) {
    auto& d = *impl_;
    d.file = model_file;
    std::ifstream in(model_file, std::ios::binary);
    if (!in)
        throw Error("cannot open " + model_file);
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string proto = buffer.str();
    auto status = d.sp.LoadFromSerializedProto(proto);
    if (!status.ok())
        throw Error(model_file + " is not a valid SentencePiece model: " + status.ToString());
    bool ok = false;
    std::string no_prefix = scanModel(proto, true, d.strips_space, ok);
    if (!ok || !d.sp_no_prefix.LoadFromSerializedProto(no_prefix).ok())
        throw Error(model_file + ": cannot read its normalizer settings");
    d.sp_size = d.sp.GetPieceSize();
    d.vocab_size = static_cast<std::size_t>(d.sp_size);
    for (const auto& text : options.special_tokens) {
        const bool listed = std::any_of(options.added_tokens.begin(), options.added_tokens.end(),
                                        [&](const AddedToken& t) { return t.content == text; });
        const int id = d.sp.PieceToId(text);
        if (!listed && !text.empty() && id >= 0 && d.sp.IdToPiece(id) == text)
            options.added_tokens.push_back({text, id, /*special=*/true});
    }
    for (const auto& t : options.added_tokens) {
        if (t.id < 0)
            throw Error(model_file + ": added token '" + t.content + "' has a negative id");
        d.added_by_text[t.content] = t.id;
        d.added_by_id[t.id] = t;
        d.vocab_size = std::max(d.vocab_size, static_cast<std::size_t>(t.id) + 1);
    }
    d.matcher = AddedTokenMatcher(options.added_tokens);
    // The end token's id as transformers finds it: an added token, else the model's piece (the
    // unknown token's id when the model lacks it).
    d.eos_id = d.sp.eos_id();
    if (!options.eos_token.empty()) {
        auto it = d.added_by_text.find(options.eos_token);
        d.eos_id = it != d.added_by_text.end() ? it->second : d.sp.PieceToId(options.eos_token);
    }
    d.unk_text = options.unk_token.empty() ? d.sp.IdToPiece(d.sp.unk_id()) : options.unk_token;
    d.options = std::move(options);
    if (d.options.siglip_text) {
        std::vector<int> unk_ids;
        if (!d.siglipSp().Encode(d.unk_text, &unk_ids).ok())
            throw Error(model_file + ": cannot encode the unknown token '" + d.unk_text + "'");
        d.unk_pieces = unk_ids.size();
    }
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

namespace {

// SiglipTokenizer.canonicalize_text: lower-case, drop string.punctuation, \s+ -> " ", strip.
std::string siglipCanonical(std::string_view text, bool lower_case) {
    const std::string lowered = lower_case ? utf8::lowercase(text) : std::string(text);
    static constexpr std::string_view kPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    std::string out;
    bool in_space = false;
    for (std::size_t pos = 0; pos < lowered.size();) {
        const std::size_t start = pos;
        const char32_t c = utf8::next(lowered, pos);
        if (c < 0x80 && kPunctuation.find(static_cast<char>(c)) != std::string_view::npos)
            continue;
        if (utf8::isPythonSpace(c)) {
            if (!in_space)
                out += ' ';
            in_space = true;
            continue;
        }
        in_space = false;
        out.append(lowered, start, pos - start);
    }
    const auto first = out.find_first_not_of(' ');
    if (first == std::string::npos)
        return {};
    return out.substr(first, out.find_last_not_of(' ') - first + 1);
}

}  // namespace

// SiglipTokenizer._tokenize: the text between two added tokens.
std::vector<int> SentencePieceTokenizer::siglipPieces(std::string_view segment) const {
    const auto& d = *impl_;
    const auto& sp = d.siglipSp();
    const std::string canonical = siglipCanonical(segment, d.options.lower_case);
    // Encoded behind the unknown token's text, whose pieces are then dropped: what follows it
    // is segmented as text inside a sentence, never as its start.
    std::vector<int> ids;
    const auto status = sp.Encode(d.unk_text + canonical, &ids);
    if (!status.ok())
        throw Error(d.file + ": encoding failed: " + status.ToString());
    if (ids.size() >= d.unk_pieces)
        ids.erase(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(d.unk_pieces));
    return ids;
}

// SiglipTokenizer.tokenize, then build_inputs_with_special_tokens.
std::vector<TokenId> SentencePieceTokenizer::siglipEncode(std::string_view text, bool add_special_tokens) const {
    const auto& d = *impl_;
    // "▁" + text.replace("▁", " "): the added tokens are found in that.
    std::string full(kSpaceSymbol);
    for (std::size_t pos = 0;;) {
        const std::size_t hit = text.find(kSpaceSymbol, pos);
        full.append(text.substr(pos, hit == std::string_view::npos ? std::string_view::npos : hit - pos));
        if (hit == std::string_view::npos)
            break;
        full += ' ';
        pos = hit + kSpaceSymbol.size();
    }
    const auto segments = d.matcher.split(full);
    std::vector<TokenId> ids;
    bool lone_space_first = false;  // the first token is the piece "▁" (as text, not by id)
    for (std::size_t i = 0; i < segments.size(); ++i) {
        const auto& seg = segments[i];
        if (seg.id) {
            ids.push_back(*seg.id);
            continue;
        }
        if (seg.begin == seg.end)
            continue;
        const auto part = siglipPieces(std::string_view(full).substr(seg.begin, seg.end - seg.begin));
        if (ids.empty() && part.size() == 1) {
            const auto& sp = d.siglipSp();
            if (sp.IsUnknown(part[0])) {  // the piece's text is what it covers
                std::vector<std::string> pieces;
                sp.Encode(d.unk_text + siglipCanonical(std::string_view(full).substr(seg.begin, seg.end - seg.begin),
                                                       d.options.lower_case),
                          &pieces);
                lone_space_first = !pieces.empty() && pieces.back() == kSpaceSymbol;
            } else {
                lone_space_first = sp.IdToPiece(part[0]) == kSpaceSymbol;
            }
        }
        ids.insert(ids.end(), part.begin(), part.end());
    }
    // tokenize(): a lone "▁" followed by a special token is dropped (text that starts with one).
    if (lone_space_first && ids.size() > 1 && segments.size() > 1 && segments[1].id && d.isAddedSpecial(ids[1]))
        ids.erase(ids.begin());
    // The end token, unless the text already ends with it.
    if (add_special_tokens && d.options.add_eos && d.eos_id >= 0 && (ids.empty() || ids.back() != d.eos_id))
        ids.push_back(d.eos_id);
    return ids;
}

// SiglipTokenizer.convert_tokens_to_string over convert_ids_to_tokens: the pieces between two
// special tokens decoded by SentencePiece as one run, a special token's text after a space
// (none between two special tokens), the whole stripped; then clean_up_tokenization.
std::string SentencePieceTokenizer::siglipDecode(const std::vector<TokenId>& ids, bool skip_special_tokens) const {
    const auto& d = *impl_;
    const auto& sp = d.siglipSp();
    std::string out;
    std::vector<int> run;
    auto flush = [&] {
        std::string text;
        auto status = sp.Decode(run, &text);
        if (!status.ok())
            throw Error(d.file + ": decoding failed: " + status.ToString());
        out += text;
        run.clear();
    };
    bool previous_special = false;
    for (TokenId id : ids) {
        auto added = d.added_by_id.find(id);
        if (added != d.added_by_id.end() && added->second.special) {
            if (skip_special_tokens)
                continue;
            if (!previous_special)
                out += ' ';
            flush();
            out += added->second.content;
            previous_special = true;
            continue;
        }
        previous_special = false;
        if (id >= 0 && id < d.sp_size) {
            run.push_back(id);
        } else if (added != d.added_by_id.end()) {  // an added token beyond the model (not SigLIP's)
            flush();
            out += added->second.content;
        }
    }
    flush();
    std::string text(utf8::stripPython(out));
    if (d.options.clean_up_spaces) {
        // PreTrainedTokenizerBase.clean_up_tokenization, replacement by replacement.
        static constexpr std::pair<std::string_view, std::string_view> kCleanUp[] = {
            {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
            {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
        for (const auto& [from, to] : kCleanUp) {
            std::string replaced;
            std::size_t pos = 0;
            for (std::size_t hit; (hit = text.find(from, pos)) != std::string::npos; pos = hit + from.size())
                replaced.append(text, pos, hit - pos).append(to);
            replaced.append(text, pos);
            text = std::move(replaced);
        }
    }
    return text;
}

std::vector<TokenId> SentencePieceTokenizer::encode(std::string_view input, bool add_special_tokens) const {
    const auto& d = *impl_;
    std::string valid;
    const std::string_view text = utf8::validView(input, valid);
    if (d.options.siglip_text)
        return siglipEncode(text, add_special_tokens);
    std::vector<TokenId> ids;
    if (add_special_tokens && d.options.add_bos && d.sp.bos_id() >= 0)
        ids.push_back(d.sp.bos_id());
    std::vector<int> part;
    for (const auto& seg : d.matcher.split(text)) {
        if (seg.id) {
            ids.push_back(*seg.id);
            continue;
        }
        if (seg.begin == seg.end)
            continue;
        const auto& proc = seg.begin == 0 || d.options.legacy ? d.sp : d.sp_no_prefix;
        part.clear();
        auto status = proc.Encode(text.substr(seg.begin, seg.end - seg.begin), &part);
        if (!status.ok())
            throw Error(d.file + ": encoding failed: " + status.ToString());
        ids.insert(ids.end(), part.begin(), part.end());
    }
    if (add_special_tokens && d.options.add_eos && d.eos_id >= 0)
        ids.push_back(d.eos_id);
    return ids;
}

std::string SentencePieceTokenizer::decode(const std::vector<TokenId>& ids, bool skip_special_tokens) const {
    if (impl_->options.siglip_text)
        return siglipDecode(ids, skip_special_tokens);
    return decodeTokens(*this, ids, skip_special_tokens);
}

std::string SentencePieceTokenizer::idToPiece(TokenId id) const {
    if (auto it = impl_->added_by_id.find(id); it != impl_->added_by_id.end())
        return it->second.content;
    if (id < 0 || id >= impl_->sp_size)
        return {};
    return impl_->sp.IdToPiece(id);
}

std::optional<TokenId> SentencePieceTokenizer::pieceToId(std::string_view piece) const {
    if (auto it = impl_->added_by_text.find(std::string(piece)); it != impl_->added_by_text.end())
        return it->second;
    int id = impl_->sp.PieceToId(piece);
    if (id < 0 || (impl_->sp.IsUnknown(id) && impl_->sp.IdToPiece(id) != piece))
        return std::nullopt;
    return id;
}

bool SentencePieceTokenizer::isSpecial(TokenId id) const {
    if (auto it = impl_->added_by_id.find(id); it != impl_->added_by_id.end())
        return it->second.special;
    return id >= 0 && id < impl_->sp_size && (impl_->sp.IsControl(id) || impl_->sp.IsUnknown(id));
}

std::size_t SentencePieceTokenizer::vocabSize() const { return impl_->vocab_size; }

std::string SentencePieceTokenizer::tokenBytes(TokenId id) const {
    const auto& d = *impl_;
    // transformers writes an added token's text, <s> and <unk> included, where SentencePiece
    // writes nothing for control pieces and " ⁇ " for <unk>.
    if (d.options.transformers_byte_fallback)
        if (auto it = d.added_by_id.find(id); it != d.added_by_id.end())
            return it->second.content;
    if (id >= 0 && id < d.sp_size) {
        if (d.sp.IsControl(id))
            return {};
        if (d.sp.IsUnknown(id))
            return std::string(kUnknownSurface);
        std::string piece = d.sp.IdToPiece(id);
        if (d.sp.IsByte(id))  // "<0xAB>"
            return std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
        std::string out;
        for (std::size_t pos = 0; pos < piece.size();) {
            if (piece.compare(pos, kSpaceSymbol.size(), kSpaceSymbol) == 0) {
                out += ' ';
                pos += kSpaceSymbol.size();
            } else {
                out += piece[pos++];
            }
        }
        return out;
    }
    if (auto it = d.added_by_id.find(id); it != d.added_by_id.end())
        return it->second.content;
    return {};
}

Tokenizer::InvalidUtf8 SentencePieceTokenizer::invalidUtf8Policy() const {
    return impl_->options.transformers_byte_fallback ? InvalidUtf8::ReplaceInvalidByteRun : InvalidUtf8::ReplaceEachByte;
}

bool SentencePieceTokenizer::isByteToken(TokenId id) const {
    return id >= 0 && id < impl_->sp_size && !impl_->added_by_id.count(id) && impl_->sp.IsByte(id);
}

bool SentencePieceTokenizer::dropsLeadingSpace(TokenId id) const {
    const auto& d = *impl_;
    if (!d.strips_space || id < 0 || id >= d.sp_size || d.added_by_id.count(id))
        return false;
    if (d.sp.IsControl(id) || d.sp.IsUnknown(id) || d.sp.IsByte(id))
        return false;
    return d.sp.IdToPiece(id).starts_with(kSpaceSymbol);
}

}  // namespace vqa
