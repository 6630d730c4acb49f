// The dual encoders' tokenizers alone (CLIP's tokenizer.json, SigLIP's spiece.model with
// SiglipTokenizer's text cleaning) against transformers: make_dual_text.py's tokenizers in the
// layouts users download, on a wide list of texts, and make_dual.py's model folders. Torch-free:
// it runs in the sanitizer build too.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/text/StreamingDetokenizer.h"
#include "engine/text/Tokenizer.h"
#include "models/base/Error.h"
#include "tests/common/TestPaths.h"

namespace vqa {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kWhyText = "written by tests/reference/make_dual_text.py (ctest runs it first)";
constexpr const char* kWhyModels = "written by tests/reference/make_dual.py (ctest runs it first)";

// A text as a C++ string literal would spell it, so a failure names an invisible character.
std::string quoted(const std::string& text) {
    std::ostringstream out;
    out << '"';
    for (unsigned char c : text) {
        if (c == '"' || c == '\\')
            out << '\\' << c;
        else if (c < 0x20 || c == 0x7F)
            out << "\\x" << std::hex << static_cast<int>(c) << std::dec;
        else
            out << c;
    }
    out << '"';
    return out.str();
}

json readCases() {
    std::ifstream in(test::referenceDir("dual_text") / "tokenizers.json");
    return json::parse(in);
}

#define VQA_SKIP_UNLESS_DUAL_TEXT()                                                            \
    VQA_SKIP_UNLESS_EXISTS(test::referenceDir("dual_text") / "tokenizers.json", kWhyText)

std::unique_ptr<Tokenizer> loadCase(const json& c) {
    return loadTokenizer((test::referenceDir("dual_text") / c["folder"].get<std::string>()).string());
}

TEST(DualTokenizers, IdsEqualTransformers) {
    VQA_SKIP_UNLESS_DUAL_TEXT();
    const auto cases = readCases();
    ASSERT_GE(cases.size(), 12u);
    std::size_t texts = 0;
    for (const auto& [name, c] : cases.items()) {
        const auto tokenizer = loadCase(c);
        for (const auto& row : c["texts"]) {
            const auto text = row["text"].get<std::string>();
            EXPECT_EQ(tokenizer->encode(text, true), row["ids"].get<std::vector<TokenId>>()) << name << ": " << quoted(text);
            EXPECT_EQ(tokenizer->encode(text, false), row["plain"].get<std::vector<TokenId>>()) << name << ": " << quoted(text);
            ++texts;
        }
    }
    EXPECT_GE(texts, 12u * 100);
}

TEST(DualTokenizers, DecodesEqualTransformers) {
    VQA_SKIP_UNLESS_DUAL_TEXT();
    const auto cases = readCases();
    for (const auto& [name, c] : cases.items()) {
        const auto tokenizer = loadCase(c);
        // The encodings of the texts, then id sequences no text gives (special tokens inside,
        // pieces that are parts of a character).
        for (const char* list : {"texts", "sequences"})
            for (const auto& row : c[list]) {
                const auto ids = row["ids"].get<std::vector<TokenId>>();
                const std::string what = name + ": " + (row.contains("text") ? quoted(row["text"]) : row["ids"].dump());
                EXPECT_EQ(tokenizer->decode(ids, false), row["decoded"].get<std::string>()) << what;
                EXPECT_EQ(tokenizer->decode(ids, true), row["decoded_skip"].get<std::string>()) << what;
            }
    }
}

// Streaming (a token at a time, as an answer is shown) gives what decode() gives for the
// byte-fallback tokenizer.json (runs of byte tokens judged whole, Llama 2's first space), as
// it does for the question models' tokenizers. (CLIP's and SigLIP's decodes clean up the whole
// text; search never streams them.)
TEST(DualTokenizers, StreamingDecodesEqualDecode) {
    VQA_SKIP_UNLESS_DUAL_TEXT();
    const auto cases = readCases();
    std::size_t gemma = 0;
    for (const auto& [name, c] : cases.items()) {
        if (!name.starts_with("gemma"))
            continue;
        const auto tokenizer = loadCase(c);
        for (const char* list : {"texts", "sequences"})
            for (const auto& row : c[list]) {
                const auto ids = row["ids"].get<std::vector<TokenId>>();
                for (bool skip : {false, true})
                    EXPECT_EQ(decodeTokens(*tokenizer, ids, skip), tokenizer->decode(ids, skip))
                        << name << ": " << row["ids"].dump() << (skip ? " skipping special tokens" : "");
            }
        gemma += name.starts_with("gemma");
    }
    EXPECT_GE(gemma, 5u);
}

// What the caller pads with and where the text ends: as transformers reports them (SigLIP pads
// with "</s>", CLIP with "<|endoftext|>").
TEST(DualTokenizers, SpecialTokensAreTheReferences) {
    VQA_SKIP_UNLESS_DUAL_TEXT();
    const auto cases = readCases();
    for (const auto& [name, c] : cases.items()) {
        const auto tokenizer = loadCase(c);
        const auto& st = tokenizer->specialTokens();
        const auto& ref = c["special"];
        auto expect = [&](const char* key, const std::optional<TokenId>& id) {
            if (ref[key].is_null())
                EXPECT_FALSE(id.has_value()) << name << ": " << key;
            else
                EXPECT_EQ(id, std::optional<TokenId>(ref[key].get<TokenId>())) << name << ": " << key;
        };
        expect("bos", st.bos);
        expect("eos", st.eos);
        expect("pad", st.pad);
        expect("unk", st.unk);
        for (TokenId id : c["all_special_ids"].get<std::vector<TokenId>>())
            EXPECT_TRUE(tokenizer->isSpecial(id)) << name << ": " << id;
        EXPECT_EQ(tokenizer->vocabSize(), c["vocab_size"].get<std::size_t>()) << name;
    }
}

// The tokenizers inside make_dual.py's model folders, on its TOKENIZER_TEXTS.
TEST(DualTokenizers, ModelFoldersEqualTheReference) {
    const auto file = test::referenceDir("dual") / "tokenizers.json";
    VQA_SKIP_UNLESS_EXISTS(file, kWhyModels);
    const auto cases = json::parse(std::ifstream(file));
    for (const auto& [family, c] : cases.items()) {
        const auto tokenizer = loadTokenizer((test::referenceDir("dual") / c["folder"].get<std::string>()).string());
        for (const auto& row : c["texts"]) {
            const auto text = row["text"].get<std::string>();
            EXPECT_EQ(tokenizer->encode(text, true), row["ids"].get<std::vector<TokenId>>()) << family << ": " << quoted(text);
            EXPECT_EQ(tokenizer->encode(text, false), row["plain"].get<std::vector<TokenId>>()) << family << ": " << quoted(text);
            EXPECT_EQ(tokenizer->decode(row["ids"].get<std::vector<TokenId>>(), true), row["decoded"].get<std::string>())
                << family << ": " << quoted(text);
        }
    }
}

std::string loadError(const fs::path& folder) {
    try {
        loadTokenizer(folder.string());
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

class DualTokenizerErrors : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("vqa-dual-tok-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST_F(DualTokenizerErrors, AMissingOrBrokenSpieceModelIsNamed) {
    std::ofstream(dir_ / "tokenizer_config.json") << R"({"tokenizer_class": "SiglipTokenizer", "pad_token": "</s>"})";
    auto message = loadError(dir_);
    EXPECT_NE(message.find((dir_ / "spiece.model").string()), std::string::npos) << message;
    EXPECT_NE(message.find("missing"), std::string::npos) << message;
    std::ofstream(dir_ / "spiece.model", std::ios::binary) << "not a sentencepiece model at all";
    message = loadError(dir_);
    EXPECT_NE(message.find("spiece.model"), std::string::npos) << message;
    EXPECT_NE(message.find("not a valid SentencePiece model"), std::string::npos) << message;
}

// A real model cut short (a download that stopped) is refused, not read as a smaller one.
TEST_F(DualTokenizerErrors, ATruncatedSpieceModelIsNamed) {
    const auto source = test::referenceDir("dual_text") / "siglip" / "spiece.model";
    VQA_SKIP_UNLESS_EXISTS(source, kWhyText);
    std::ifstream in(source, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GT(bytes.size(), 1000u);
    std::ofstream(dir_ / "tokenizer_config.json") << R"({"tokenizer_class": "SiglipTokenizer"})";
    std::ofstream(dir_ / "spiece.model", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    const auto message = loadError(dir_);
    EXPECT_NE(message.find("spiece.model"), std::string::npos) << message;
    EXPECT_NE(message.find("not a valid SentencePiece model"), std::string::npos) << message;
}

// A tokenizer.json with a part this implementation does not have is refused with the file and
// the part named, never tokenized some other way.
TEST_F(DualTokenizerErrors, AnUnsupportedTokenizerJsonPartIsNamed) {
    const json base = json::parse(R"({
        "added_tokens": [{"id": 5, "content": "<|endoftext|>", "special": true, "normalized": false}],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
        "post_processor": {"type": "RobertaProcessing", "sep": ["<|endoftext|>", 5], "cls": ["<|endoftext|>", 5]},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "a</w>": 2, "b</w>": 3, "ab</w>": 4, "<|endoftext|>": 5},
                  "merges": ["a b</w>"], "end_of_word_suffix": "</w>", "unk_token": "<|endoftext|>"}
    })");
    // The base itself loads (the parts CLIP's file has).
    std::ofstream(dir_ / "tokenizer.json") << base.dump();
    EXPECT_EQ(loadTokenizer(dir_.string())->encode("AB", true), (std::vector<TokenId>{5, 4, 5}));

    const std::vector<std::pair<std::string, std::string>> broken = {
        {R"({"normalizer": {"type": "BertNormalizer"}})", "normalizer 'BertNormalizer'"},
        {R"({"pre_tokenizer": {"type": "Whitespace"}})", "pre-tokenizer 'Whitespace'"},
        {R"({"post_processor": {"type": "Mystery"}})", "post-processor 'Mystery'"},
        {R"({"decoder": {"type": "WordPiece"}})", "decoder 'WordPiece'"},
        {R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})", "model type 'WordPiece'"},
        {R"({"model": {"continuing_subword_prefix": "##"}})", "continuing_subword_prefix"},
        {R"({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "[unclosed"}, "behavior": "Removed"}})",
         "cannot compile regular expression '[unclosed'"},
        {R"({"normalizer": {"type": "Replace", "pattern": {"Regex": "(?<"}, "content": " "}})",
         "cannot compile regular expression '(?<'"},
        {R"({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways"}})",
         "unknown split behavior 'Sideways'"},
    };
    for (const auto& [patch, part] : broken) {
        json changed = base;
        changed.merge_patch(json::parse(patch));
        std::ofstream(dir_ / "tokenizer.json") << changed.dump();
        const auto message = loadError(dir_);
        EXPECT_NE(message.find("tokenizer.json"), std::string::npos) << patch << " -> " << message;
        EXPECT_NE(message.find(part), std::string::npos) << patch << " -> " << message;
    }
}

}  // namespace
}  // namespace vqa
