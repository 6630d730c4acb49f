// SentencePiece tokenizer.model against the Python sentencepiece package, on a small model
// tests/reference/make_tokenizers.py trains, plus an added <image> token.
#include <gtest/gtest.h>

#include "engine/text/Tokenizer.h"
#include "tests/engine/TokenizerTestData.h"

using namespace vqa;
using vqa::test::showBytes;

namespace {

class SentencePieceReference : public ::testing::Test {
protected:
    void SetUp() override {
        auto path = vqa::test::tokenizerReference("sp_cases.json");
        VQA_SKIP_UNLESS_EXISTS(path, "run tests/reference/make_tokenizers.py (ctest does)");
        ref = vqa::test::readReferenceJson(path);
        tok = loadTokenizer(vqa::test::tokenizerReference("sp_model").string());
    }
    nlohmann::json ref;
    std::unique_ptr<Tokenizer> tok;
};

}  // namespace

TEST_F(SentencePieceReference, EncodesAndDecodesCorpusLikeSentencePiece) {
    ASSERT_GE(ref["cases"].size(), 300u);
    int failures = 0;
    for (const auto& c : ref["cases"]) {
        std::string text = c["text"];
        auto ids = tok->encode(text);
        if (ids != c["ids"].get<std::vector<TokenId>>() && ++failures < 10)
            ADD_FAILURE() << "encode differs for \"" << showBytes(text) << "\"";
        EXPECT_EQ(tok->decode(c["ids"].get<std::vector<TokenId>>()), c["decoded"].get<std::string>())
            << showBytes(text);
    }
    EXPECT_EQ(failures, 0);
}

TEST_F(SentencePieceReference, DecodesArbitraryIdsLikeSentencePiece) {
    for (const auto& c : ref["decode_only"]) {
        auto ids = c["ids"].get<std::vector<TokenId>>();
        EXPECT_EQ(showBytes(tok->decode(ids)), showBytes(c["decoded"]));
    }
}

TEST_F(SentencePieceReference, AddedImageTokenIsMatchedBeforeSentencePiece) {
    TokenId image = ref["image_id"];
    EXPECT_EQ(tok->pieceToId("<image>"), image);
    EXPECT_TRUE(tok->isSpecial(image));
    for (const auto& c : ref["added_token_cases"]) {
        std::string text = c["text"];
        EXPECT_EQ(tok->encode(text), c["ids"].get<std::vector<TokenId>>()) << showBytes(text);
        EXPECT_EQ(tok->encode(text, true), c["ids_add_special"].get<std::vector<TokenId>>()) << showBytes(text);
        EXPECT_EQ(tok->decode(c["ids"].get<std::vector<TokenId>>()), c["decoded"].get<std::string>())
            << showBytes(text);
    }
    const auto& st = tok->specialTokens();
    ASSERT_TRUE(st.bos && st.eos);
    EXPECT_EQ(*st.bos, 1);
    EXPECT_EQ(*st.eos, 2);
    EXPECT_EQ(tok->vocabSize(), static_cast<std::size_t>(image) + 1);
}
