// loadTokenizer(): picks the tokenizer a model folder holds and reads the special tokens
// and chat template that come with it, as transformers' AutoTokenizer does.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "models/base/Error.h"
#include "engine/text/TokenIdJson.h"
#include "engine/text/BpeTokenizer.h"
#include "engine/text/SentencePieceTokenizer.h"
#include "engine/text/Tokenizer.h"

namespace vqa {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string readFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error("cannot read " + path.string());
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

// Parses a JSON file; an absent optional file gives null.
json readJson(const fs::path& path, bool required) {
    if (!fs::exists(path)) {
        if (required)
            throw Error("missing " + path.string());
        return json();
    }
    try {
        return json::parse(readFile(path));
    } catch (const json::parse_error& e) {
        throw Error(path.string() + " is not valid JSON: " + e.what());
    }
}

// A token given as "text" or {"content": "text", ...}.
std::optional<std::string> tokenText(const json& node) {
    if (node.is_string())
        return node.get<std::string>();
    if (node.is_object() && node.contains("content") && node["content"].is_string())
        return node["content"].get<std::string>();
    return std::nullopt;
}

SpecialTokens readSpecialTokens(const Tokenizer& tok, const json& special_map, const json& config) {
    // special_tokens_map.json first; tokenizer_config.json wins where both name a token
    // (transformers reports eos_token = <end_of_utterance> for SmolVLM this way).
    std::map<std::string, std::string> text;
    for (const json* source : {&special_map, &config}) {
        if (!source->is_object())
            continue;
        for (const char* key : {"bos_token", "eos_token", "pad_token", "unk_token"})
            if (source->contains(key))
                if (auto t = tokenText((*source)[key]))
                    text[key] = *t;
    }
    SpecialTokens st;
    auto assign = [&](const char* key, std::optional<TokenId>& id, std::string& out) {
        auto it = text.find(key);
        if (it == text.end())
            return;
        out = it->second;
        id = tok.pieceToId(out);
    };
    assign("bos_token", st.bos, st.bos_text);
    assign("eos_token", st.eos, st.eos_text);
    assign("pad_token", st.pad, st.pad_text);
    assign("unk_token", st.unk, st.unk_text);
    for (std::size_t id = 0; id < tok.vocabSize(); ++id)
        if (tok.isSpecial(static_cast<TokenId>(id)))
            st.all_special_ids.push_back(static_cast<TokenId>(id));
    return st;
}

std::string readChatTemplate(const fs::path& dir, const json& config) {
    if (fs::exists(dir / "chat_template.jinja"))
        return readFile(dir / "chat_template.jinja");
    json ct = readJson(dir / "chat_template.json", false);
    if (ct.is_object() && ct.contains("chat_template") && ct["chat_template"].is_string())
        return ct["chat_template"].get<std::string>();
    if (config.is_object() && config.contains("chat_template")) {
        const auto& t = config["chat_template"];
        if (t.is_string())
            return t.get<std::string>();
        if (t.is_array())  // [{"name": "default", "template": ...}, ...]
            for (const auto& entry : t)
                if (entry.value("name", "") == "default" && entry.contains("template"))
                    return entry["template"].get<std::string>();
    }
    return {};
}

std::vector<AddedToken> readAddedTokens(const fs::path& dir, const json& config) {
    std::map<TokenId, AddedToken> by_id;
    json added = readJson(dir / "added_tokens.json", false);
    if (added.is_object())
        for (auto it = added.begin(); it != added.end(); ++it) {
            AddedToken t;
            t.content = it.key();
            t.id = tokenIdFrom(it.value(), [&] { return (dir / "added_tokens.json").string() + ": '" + it.key() + "'"; });
            t.special = true;
            by_id[t.id] = t;
        }
    if (config.is_object() && config.contains("added_tokens_decoder") && config["added_tokens_decoder"].is_object()) {
        const auto& dec = config["added_tokens_decoder"];
        for (auto it = dec.begin(); it != dec.end(); ++it) {
            AddedToken t;
            t.id = std::stoi(it.key());
            t.content = it.value().at("content").get<std::string>();
            t.special = it.value().value("special", false);
            t.lstrip = it.value().value("lstrip", false);
            t.rstrip = it.value().value("rstrip", false);
            t.single_word = it.value().value("single_word", false);
            t.normalized = it.value().value("normalized", false);
            by_id[t.id] = t;
        }
    }
    // transformers 5 writes the added tokens only into tokenizer.json ("added_tokens"), not
    // tokenizer_config.json; a tokenizer.model beside it needs them too (LLaVA's <image>).
    json spec = readJson(dir / "tokenizer.json", false);
    if (spec.is_object() && spec.contains("added_tokens") && spec["added_tokens"].is_array())
        for (const auto& entry : spec["added_tokens"]) {
            AddedToken t;
            t.id = tokenIdFrom(entry.at("id"), [&] { return (dir / "tokenizer.json").string() + ": added_tokens"; });
            if (by_id.count(t.id))
                continue;  // tokenizer_config.json's entry wins
            t.content = entry.at("content").get<std::string>();
            t.special = entry.value("special", false);
            t.lstrip = entry.value("lstrip", false);
            t.rstrip = entry.value("rstrip", false);
            t.single_word = entry.value("single_word", false);
            t.normalized = entry.value("normalized", false);
            by_id[t.id] = t;
        }
    std::vector<AddedToken> out;
    for (auto& [id, t] : by_id)
        out.push_back(t);
    return out;
}

// A tokenizer.json decoder of type ByteFallback, alone or in a Sequence.
bool hasByteFallbackDecoder(const json& decoder) {
    if (!decoder.is_object())
        return false;
    if (decoder.value("type", "") == "ByteFallback")
        return true;
    if (decoder.contains("decoders") && decoder["decoders"].is_array())
        for (const auto& d : decoder["decoders"])
            if (hasByteFallbackDecoder(d))
                return true;
    return false;
}

bool isSiglip(const json& config) {
    return config.is_object() && config.contains("tokenizer_class") && config["tokenizer_class"].is_string() &&
           config["tokenizer_class"].get<std::string>() == "SiglipTokenizer";
}

// SiglipTokenizer's defaults for the special tokens neither tokenizer_config.json nor
// special_tokens_map.json names, written into `config` so the tokenizer and specialTokens()
// both see them (a folder with no special_tokens_map.json and a bare config still pads with
// "</s>").
void applySiglipDefaults(json& config, const json& special_map) {
    for (auto [key, text] : {std::pair{"eos_token", "</s>"}, {"unk_token", "<unk>"}, {"pad_token", "</s>"}}) {
        if (config.contains(key))  // null included: the settings say there is none
            continue;
        if (special_map.is_object() && special_map.contains(key))
            config[key] = special_map[key];
        else
            config[key] = text;
    }
}

std::unique_ptr<Tokenizer> loadSentencePiece(const fs::path& dir, const json& config,
                                             const std::string& file = "tokenizer.model") {
    SentencePieceOptions options;
    try {
        options.added_tokens = readAddedTokens(dir, config);
    } catch (const json::exception& e) {
        throw Error((dir / "tokenizer_config.json").string() + ": unexpected added token entry: " + e.what());
    }
    // With a tokenizer.json beside it, transformers decodes through that file's decoder;
    // its ByteFallback step judges each run of byte tokens whole (what users of the model
    // in transformers see). Without one, libsentencepiece's own rule.
    json spec = readJson(dir / "tokenizer.json", false);
    if (spec.is_object() && spec.contains("decoder"))
        options.transformers_byte_fallback = hasByteFallbackDecoder(spec["decoder"]);
    if (config.is_object()) {
        options.legacy = config.value("legacy", false);
        options.add_bos = config.value("add_bos_token", true);
        options.add_eos = config.value("add_eos_token", false);
        // SigLIP (google/siglip-*: spiece.model): its own text cleaning and decoding, and an end
        // token after every text instead of a start token (SentencePieceOptions::siglip_text).
        if (isSiglip(config)) {
            options.siglip_text = true;
            options.lower_case = config.value("do_lower_case", true);
            options.legacy = config.value("legacy", true);  // SentencePieceBackend's default
            options.add_bos = false;
            options.add_eos = true;
            options.clean_up_spaces = config.value("clean_up_tokenization_spaces", false);
            // The special tokens it names (with SiglipTokenizer's defaults, see loadTokenizer)
            // are matched in text whether or not added_tokens_decoder lists them.
            auto text = [&](const char* key) {
                return config.contains(key) ? tokenText(config[key]) : std::nullopt;
            };
            options.eos_token = text("eos_token").value_or("");
            options.unk_token = text("unk_token").value_or("");
            for (const char* key : {"eos_token", "unk_token", "pad_token", "bos_token"})
                if (auto t = text(key))
                    options.special_tokens.push_back(*t);
            for (const char* key : {"additional_special_tokens", "extra_special_tokens"})
                if (config.contains(key) && config[key].is_array())
                    for (const auto& entry : config[key])
                        if (auto t = tokenText(entry))
                            options.special_tokens.push_back(*t);
        }
    }
    return std::make_unique<SentencePieceTokenizer>((dir / file).string(), std::move(options));
}

}  // namespace

std::unique_ptr<Tokenizer> loadTokenizer(const std::string& model_dir) {
    fs::path dir(model_dir);
    if (!fs::is_directory(dir))
        throw Error("model folder '" + model_dir + "' does not exist or is not a folder");
    json config = readJson(dir / "tokenizer_config.json", false);
    json special_map = readJson(dir / "special_tokens_map.json", false);
    if (!config.is_null() && !config.is_object())
        throw Error((dir / "tokenizer_config.json").string() + " is not a JSON object");
    if (isSiglip(config))
        applySiglipDefaults(config, special_map);

    std::unique_ptr<Tokenizer> tok;
    const bool has_json = fs::exists(dir / "tokenizer.json");
    const bool has_model = fs::exists(dir / "tokenizer.model");
    const bool has_spiece = fs::exists(dir / "spiece.model");
    if (has_json) {
        json spec = readJson(dir / "tokenizer.json", true);
        // A SentencePiece-style tokenizer.json (byte_fallback: Llama 2, LLaVA, Mistral) beside
        // the SentencePiece model it was converted from is served by that model, as before
        // BpeTokenizer read such files; alone (Gemma's, SigLIP 2's) it is read itself.
        const bool sentencepiece_style = spec.is_object() && spec.contains("model") && spec["model"].is_object() &&
                                         spec["model"].contains("byte_fallback") &&
                                         spec["model"]["byte_fallback"].is_boolean() &&
                                         spec["model"]["byte_fallback"].get<bool>();
        if (!(sentencepiece_style && (has_model || has_spiece))) {
            try {
                tok = std::make_unique<BpeTokenizer>(spec, (dir / "tokenizer.json").string());
            } catch (const Error&) {
                if (!has_model && !has_spiece)
                    throw;
            }
        }
    }
    if (!tok && has_model)
        tok = loadSentencePiece(dir, config);
    if (!tok && has_spiece)  // SigLIP's and T5's name for it
        tok = loadSentencePiece(dir, config, "spiece.model");
    if (!tok && isSiglip(config))
        throw Error("missing " + (dir / "spiece.model").string() +
                    ": tokenizer_config.json names SiglipTokenizer, whose vocabulary is that SentencePiece model");
    if (!tok)
        throw Error("no tokenizer in '" + model_dir + "': expected tokenizer.json, tokenizer.model or spiece.model");

    SpecialTokens special = readSpecialTokens(*tok, special_map, config);
    std::string chat_template = readChatTemplate(dir, config);
    tok->setMetadata(std::move(special), std::move(chat_template));
    return tok;
}

}  // namespace vqa
