// Byte-level BPE against Hugging Face tokenizers on the real SmolVLM tokenizer.json.
#include <gtest/gtest.h>

#include <thread>

#include "models/base/Error.h"
#include "engine/text/Tokenizer.h"
#include "tests/engine/TokenizerTestData.h"

using namespace vqa;
using vqa::test::showBytes;

namespace {

std::string join(const std::vector<TokenId>& ids) {
    std::string s;
    for (auto id : ids)
        s += std::to_string(id) + " ";
    return s;
}

class SmolVlmTokenizer : public ::testing::Test {
protected:
    void SetUp() override {
        auto fixture = vqa::test::smolvlmFixture();
        VQA_SKIP_UNLESS_EXISTS(fixture, "SmolVLM fixture (tokenizer.json) not available");
        ref_path = vqa::test::tokenizerReference("bpe_smolvlm.json");
        VQA_SKIP_UNLESS_EXISTS(ref_path, "run tests/reference/make_tokenizers.py (ctest does)");
        tok = loadTokenizer(fixture.string());
        ref = vqa::test::readReferenceJson(ref_path);
    }
    std::filesystem::path ref_path;
    std::unique_ptr<Tokenizer> tok;
    nlohmann::json ref;
};

}  // namespace

TEST_F(SmolVlmTokenizer, EncodesCorpusLikeReference) {
    ASSERT_GE(ref["cases"].size(), 500u);
    int failures = 0;
    for (const auto& c : ref["cases"]) {
        std::string text = c["text"];
        auto ids = tok->encode(text);
        auto expected = c["ids"].get<std::vector<TokenId>>();
        if (ids != expected && ++failures <= 10)
            ADD_FAILURE() << "text: \"" << showBytes(text) << "\"\n ours: " << join(ids)
                          << "\n  ref: " << join(expected);
        EXPECT_EQ(tok->encode(text, true), c["ids_add_special"].get<std::vector<TokenId>>());
    }
    EXPECT_EQ(failures, 0);
}

TEST_F(SmolVlmTokenizer, PiecesMatchReference) {
    for (const auto& c : ref["cases"]) {
        auto ids = c["ids"].get<std::vector<TokenId>>();
        auto pieces = c["pieces"].get<std::vector<std::string>>();
        ASSERT_EQ(ids.size(), pieces.size());
        for (std::size_t i = 0; i < ids.size(); ++i)
            ASSERT_EQ(tok->idToPiece(ids[i]), pieces[i]);
    }
}

TEST_F(SmolVlmTokenizer, DecodesLikeReference) {
    for (const auto& c : ref["cases"]) {
        auto ids = c["ids"].get<std::vector<TokenId>>();
        EXPECT_EQ(tok->decode(ids), c["decoded"].get<std::string>()) << showBytes(c["text"]);
        EXPECT_EQ(tok->decode(ids, true), c["decoded_skip_special"].get<std::string>()) << showBytes(c["text"]);
    }
    for (const auto& c : ref["decode_only"]) {
        auto ids = c["ids"].get<std::vector<TokenId>>();
        EXPECT_EQ(showBytes(tok->decode(ids)), showBytes(c["decoded"])) << join(ids);
        EXPECT_EQ(tok->decode(ids, true), c["decoded_skip_special"].get<std::string>()) << join(ids);
    }
}

TEST_F(SmolVlmTokenizer, SpecialTokensAsTransformersReportsThem) {
    const auto& s = ref["special"];
    const auto& st = tok->specialTokens();
    EXPECT_EQ(st.eos_text, s["eos"].get<std::string>());
    EXPECT_EQ(st.bos_text, s["bos"].get<std::string>());
    EXPECT_EQ(st.pad_text, s["pad"].get<std::string>());
    EXPECT_EQ(st.unk_text, s["unk"].get<std::string>());
    ASSERT_TRUE(st.eos && st.bos && st.pad && st.unk);
    EXPECT_EQ(*st.eos, s["eos_id"].get<TokenId>());
    EXPECT_EQ(*st.bos, s["bos_id"].get<TokenId>());
    EXPECT_EQ(*st.pad, s["pad_id"].get<TokenId>());
    EXPECT_EQ(*st.unk, s["unk_id"].get<TokenId>());
    EXPECT_EQ(tok->vocabSize(), ref["vocab_size"].get<std::size_t>());
    auto eou = tok->pieceToId("<end_of_utterance>");
    ASSERT_TRUE(eou);
    EXPECT_EQ(*eou, 49279);
    EXPECT_TRUE(tok->isSpecial(*eou));
    EXPECT_FALSE(tok->isSpecial(*tok->pieceToId("hello")));
    EXPECT_FALSE(tok->chatTemplate().empty());
}

TEST_F(SmolVlmTokenizer, ThreadsShareTheCache) {
    std::vector<std::thread> threads;
    std::atomic<int> mismatches{0};
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (std::size_t i = t; i < ref["cases"].size(); i += 2) {
                const auto& c = ref["cases"][i];
                if (tok->encode(c["text"].get<std::string>()) != c["ids"].get<std::vector<TokenId>>())
                    ++mismatches;
            }
        });
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(SmolVlmTokenizer, InvalidUtf8InputBecomesReplacementCharacter) {
    EXPECT_EQ(tok->encode("a\xFF" "b"), tok->encode("a\xEF\xBF\xBD" "b"));
}

TEST(TokenizerLoading, ErrorsNameTheFileAndTheProblem) {
    auto dir = std::filesystem::temp_directory_path() / "vqa_tok_errors";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto expectError = [&](const std::string& needle) {
        try {
            loadTokenizer(dir.string());
            ADD_FAILURE() << "no error; expected one mentioning " << needle;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    };
    expectError("expected tokenizer.json, tokenizer.model or spiece.model");
    {
        std::ofstream(dir / "tokenizer.json") << "{\"model\": {\"type\": \"BPE\",, }";
    }
    expectError("tokenizer.json is not valid JSON");
    expectError("column");
    {
        std::ofstream(dir / "tokenizer.json") << R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})";
    }
    expectError("model type 'WordPiece' is not supported");
    {
        std::ofstream(dir / "tokenizer.json")
            << R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}, "pre_tokenizer": {"type": "ByteLevel"}})";
    }
    expectError("missing from the vocabulary");
    // Ids that are not token ids (found by the tokenizer fuzzer: a float id was undefined
    // behaviour, a huge one sized a table by it).
    {
        std::ofstream(dir / "tokenizer.json") << R"({"model": {"type": "BPE", "vocab": {"a": 5.5e25}, "merges": []}})";
    }
    expectError("model.vocab['a']: a token id must be an integer");
    {
        std::ofstream(dir / "tokenizer.json") << R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 2000000000}, "merges": []}})";
    }
    expectError("token id 2000000000 is outside 0 to 16777215");
    {
        std::ofstream(dir / "tokenizer.json")
            << R"({"added_tokens": [{"id": -3, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})";
    }
    expectError("token id -3 is outside");
    {
        std::ofstream(dir / "tokenizer.json") << "{}";
        std::ofstream(dir / "tokenizer.model") << "not a model";
    }
    expectError("tokenizer.model is not a valid SentencePiece model");
    try {
        loadTokenizer((dir / "nope").string());
        ADD_FAILURE() << "no error for a missing folder";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos);
    }
    std::filesystem::remove_all(dir);
}

TEST(TokenizerLoading, SplitPreTokenizerAndTemplatePostProcessor) {
    // A tiny Llama-3-style tokenizer.json: Split regex + ByteLevel without regex, and a
    // TemplateProcessing post-processor adding BOS.
    auto dir = std::filesystem::temp_directory_path() / "vqa_tok_split";
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "tokenizer.json") << R"({
      "added_tokens": [{"id": 9, "content": "<s>", "special": true, "lstrip": false, "rstrip": false,
                        "normalized": false, "single_word": false},
                       {"id": 10, "content": "<x>", "special": false, "lstrip": true, "rstrip": true,
                        "normalized": false, "single_word": false}],
      "normalizer": null,
      "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
          {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}| ?\\p{L}+|\\s+"}, "behavior": "Isolated", "invert": false},
          {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
      "post_processor": {"type": "TemplateProcessing",
          "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
          "special_tokens": {"<s>": {"id": "<s>", "ids": [9], "tokens": ["<s>"]}}},
      "decoder": {"type": "ByteLevel"},
      "model": {"type": "BPE", "ignore_merges": true,
          "vocab": {"a": 0, "b": 1, "1": 2, "2": 3, "Ġ": 4, "ab": 5, "Ġa": 6, "12": 7, "Ġab": 8},
          "merges": [["a", "b"], ["Ġ", "a"], ["1", "2"], ["Ġ", "ab"]]}
    })";
    auto tok = loadTokenizer(dir.string());
    // "1212" -> digits in groups of up to 3: "121" "2"; " ab" -> one piece.
    EXPECT_EQ(tok->encode("1212 ab"), (std::vector<TokenId>{7, 2, 3, 8}));
    EXPECT_EQ(tok->encode("ab", true), (std::vector<TokenId>{9, 5}));
    // lstrip/rstrip swallow the spaces around <x>.
    EXPECT_EQ(tok->encode("ab  <x>  ab"), (std::vector<TokenId>{5, 10, 5}));
    EXPECT_EQ(tok->decode({9, 5, 10, 8}), "<s>ab<x> ab");
    EXPECT_EQ(tok->decode({9, 5, 10, 8}, true), "ab<x> ab");
    std::filesystem::remove_all(dir);
}
