// Streaming detokenization: pushing ids one at a time yields valid UTF-8 chunks whose
// concatenation equals decoding the whole sequence.
#include <gtest/gtest.h>

#include "engine/text/StreamingDetokenizer.h"
#include "engine/text/Tokenizer.h"
#include "engine/text/Utf8.h"
#include "tests/engine/TokenizerTestData.h"

using namespace vqa;
using vqa::test::showBytes;

namespace {

void checkStreaming(const Tokenizer& tok, const std::vector<TokenId>& ids, bool skip) {
    StreamingDetokenizer detok(tok, skip);
    std::string streamed;
    for (TokenId id : ids) {
        std::string chunk = detok.push(id);
        ASSERT_TRUE(utf8::isValid(chunk)) << "invalid chunk " << showBytes(chunk);
        streamed += chunk;
    }
    std::string tail = detok.finish();
    ASSERT_TRUE(utf8::isValid(tail));
    streamed += tail;
    ASSERT_EQ(showBytes(streamed), showBytes(tok.decode(ids, skip)));
}

void checkAll(const Tokenizer& tok, const nlohmann::json& ref) {
    std::size_t n = 0;
    for (const char* key : {"cases", "decode_only"})
        for (const auto& c : ref[key]) {
            auto ids = c["ids"].get<std::vector<TokenId>>();
            checkStreaming(tok, ids, false);
            checkStreaming(tok, ids, true);
            ++n;
        }
    EXPECT_GT(n, 100u);
}

}  // namespace

TEST(StreamingDetokenizer, ByteLevelBpeCorpus) {
    auto fixture = vqa::test::smolvlmFixture();
    VQA_SKIP_UNLESS_EXISTS(fixture, "SmolVLM fixture not available");
    auto path = vqa::test::tokenizerReference("bpe_smolvlm.json");
    VQA_SKIP_UNLESS_EXISTS(path, "run tests/reference/make_tokenizers.py (ctest does)");
    auto tok = loadTokenizer(fixture.string());
    checkAll(*tok, vqa::test::readReferenceJson(path));
}

TEST(StreamingDetokenizer, ByteLevelNeverSplitsACharacter) {
    auto fixture = vqa::test::smolvlmFixture();
    VQA_SKIP_UNLESS_EXISTS(fixture, "SmolVLM fixture not available");
    auto tok = loadTokenizer(fixture.string());
    auto ids = tok->encode("日本 😀");
    StreamingDetokenizer detok(*tok);
    std::vector<std::string> chunks;
    for (TokenId id : ids)
        chunks.push_back(detok.push(id));
    chunks.push_back(detok.finish());
    // The emoji is several byte tokens; only the last of them yields text, all of it.
    EXPECT_GT(ids.size(), 4u);
    std::string joined;
    for (auto& c : chunks)
        joined += c;
    EXPECT_EQ(joined, "日本 😀");
    EXPECT_EQ(chunks[chunks.size() - 2], "\xF0\x9F\x98\x80");
    // An unfinished character is held back, and becomes U+FFFD at the end, as decode() says.
    std::vector<TokenId> cut(ids.begin(), ids.end() - 1);
    detok.reset();
    std::string text;
    for (TokenId id : cut)
        text += detok.push(id);
    EXPECT_EQ(text, "日本 ");
    EXPECT_EQ(detok.finish(), "\xEF\xBF\xBD");
    EXPECT_EQ(tok->decode(cut), "日本 \xEF\xBF\xBD");
}

TEST(StreamingDetokenizer, SentencePieceCorpusAndLeadingSpace) {
    auto path = vqa::test::tokenizerReference("sp_cases.json");
    VQA_SKIP_UNLESS_EXISTS(path, "run tests/reference/make_tokenizers.py (ctest does)");
    auto tok = loadTokenizer(vqa::test::tokenizerReference("sp_model").string());
    auto ref = vqa::test::readReferenceJson(path);
    checkAll(*tok, ref);
    for (const auto& c : ref["added_token_cases"])
        checkStreaming(*tok, c["ids"].get<std::vector<TokenId>>(), false);
    // The dummy-prefix space of the first word is dropped, later ones are kept, and a BOS
    // in front changes nothing.
    auto ids = tok->encode("hello world", true);
    StreamingDetokenizer detok(*tok);
    std::string text;
    for (TokenId id : ids)
        text += detok.push(id);
    text += detok.finish();
    EXPECT_EQ(text, "hello world");
}
