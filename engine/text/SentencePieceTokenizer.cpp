#include "engine/text/SentencePieceTokenizer.h"

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
    for (const auto& t : options.added_tokens) {
        if (t.id < 0)
            throw Error(model_file + ": added token '" + t.content + "' has a negative id");
        d.added_by_text[t.content] = t.id;
        d.added_by_id[t.id] = t;
        d.vocab_size = std::max(d.vocab_size, static_cast<std::size_t>(t.id) + 1);
    }
    d.matcher = AddedTokenMatcher(options.added_tokens);
    d.options = std::move(options);
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

namespace {

// Python's str.isspace(), which re's \s and str.strip() use: Unicode White_Space and the
// four ASCII separators U+001C..U+001F.
bool pythonSpace(char32_t c) { return utf8::isWhitespace(c) || (c >= 0x1C && c <= 0x1F); }

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
        if (pythonSpace(c)) {
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

// SiglipTokenizer.tokenize / _tokenize for the text between added tokens.
std::vector<int> SentencePieceTokenizer::siglipPieces(std::string_view segment, bool at_start) const {
    const auto& d = *impl_;
    static const std::string kMeta = "\xE2\x96\x81";  // U+2581
    std::string text;
    if (at_start) {
        // tokenize(): "▁" + text.replace("▁", " ")
        text = kMeta;
        for (std::size_t pos = 0; pos < segment.size();) {
            const std::size_t hit = segment.find(kMeta, pos);
            text.append(segment.substr(pos, hit == std::string_view::npos ? std::string_view::npos : hit - pos));
            if (hit == std::string_view::npos)
                break;
            text += ' ';
            pos = hit + kMeta.size();
        }
    } else {
        text = std::string(segment);
    }
    const std::string canonical = siglipCanonical(text, d.options.lower_case);
    // _tokenize(): encode unk_token + text and drop the unknown token's own pieces.
    const std::string unk = d.sp.IdToPiece(d.sp.unk_id());
    std::vector<int> unk_ids, ids;
    auto status = d.sp.Encode(unk, &unk_ids);
    if (status.ok())
        status = d.sp.Encode(unk + canonical, &ids);
    if (!status.ok())
        throw Error(d.file + ": encoding failed: " + status.ToString());
    if (ids.size() >= unk_ids.size())
        ids.erase(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(unk_ids.size()));
    return ids;
}

std::vector<TokenId> SentencePieceTokenizer::encode(std::string_view input, bool add_special_tokens) const {
    const auto& d = *impl_;
    std::string valid;
    const std::string_view text = utf8::validView(input, valid);
    std::vector<TokenId> ids;
    if (d.options.siglip_text) {
        const auto segments = d.matcher.split(text);
        for (std::size_t i = 0; i < segments.size(); ++i) {
            const auto& seg = segments[i];
            if (seg.id) {
                ids.push_back(*seg.id);
                continue;
            }
            auto part = siglipPieces(text.substr(seg.begin, seg.end - seg.begin), seg.begin == 0);
            // A lone "▁" before an added token at the very start is dropped, as tokenize() does.
            const bool lone_meta = part.size() == 1 && d.sp.IdToPiece(part[0]) == "\xE2\x96\x81";
            if (seg.begin == 0 && lone_meta && i + 1 < segments.size() && segments[i + 1].id)
                continue;
            ids.insert(ids.end(), part.begin(), part.end());
        }
        if (segments.empty())
            for (int id : siglipPieces({}, true))
                ids.push_back(id);
        // build_inputs_with_special_tokens: the end token, unless the text already ends with it.
        if (add_special_tokens && d.options.add_eos && d.sp.eos_id() >= 0 && (ids.empty() || ids.back() != d.sp.eos_id()))
            ids.push_back(d.sp.eos_id());
        return ids;
    }
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
    if (add_special_tokens && d.options.add_eos && d.sp.eos_id() >= 0)
        ids.push_back(d.sp.eos_id());
    return ids;
}

std::string SentencePieceTokenizer::decode(const std::vector<TokenId>& ids, bool skip_special_tokens) const {
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
