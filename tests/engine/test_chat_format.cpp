// Chat formats against transformers' apply_chat_template (chat.json from make_tokenizers.py).
#include <gtest/gtest.h>

#include "models/base/Error.h"
#include "engine/families/Families.h"
#include "engine/text/ChatFormat.h"
#include "engine/text/Tokenizer.h"
#include "tests/engine/TokenizerTestData.h"

using namespace vqa;

namespace {

void compareAll(const ChatFormat& format, const nlohmann::json& ref, const char* key) {
    int compared = 0;
    for (const auto& p : ref["prompts"]) {
        if (!p.contains(key))
            continue;
        auto conv = vqa::test::toConversation(ref["conversations"][p["conversation"].get<int>()]);
        bool gen = p["add_generation_prompt"];
        EXPECT_EQ(format.render(conv, gen), p[key].get<std::string>())
            << "conversation " << p["conversation"] << " add_generation_prompt=" << gen;
        ++compared;
    }
    EXPECT_GE(compared, 10);
}

}  // namespace

TEST(ChatFormat, SmolVlmMatchesApplyChatTemplate) {
    auto fixture = vqa::test::smolvlmFixture();
    VQA_SKIP_UNLESS_EXISTS(fixture, "SmolVLM fixture not available");
    auto path = vqa::test::tokenizerReference("chat.json");
    VQA_SKIP_UNLESS_EXISTS(path, "run tests/reference/make_tokenizers.py (ctest does)");
    auto tok = loadTokenizer(fixture.string());
    auto format = chatFormatFor(*tok);
    EXPECT_EQ(format->name(), "smolvlm");
    compareAll(*format, vqa::test::readReferenceJson(path), "smolvlm");
    auto stops = stopTokenIds(*format, *tok);
    ASSERT_FALSE(stops.empty());
    EXPECT_EQ(stops.front(), *tok->pieceToId("<end_of_utterance>"));
}

TEST(ChatFormat, Llava15MatchesApplyChatTemplate) {
    auto path = vqa::test::tokenizerReference("chat.json");
    VQA_SKIP_UNLESS_EXISTS(path, "run tests/reference/make_tokenizers.py (ctest does)");
    auto ref = vqa::test::readReferenceJson(path);
    auto format = chatFormatFor(ref["llava15_template"].get<std::string>());
    EXPECT_EQ(format->name(), "llava-1.5");
    compareAll(*format, ref, "llava15");
    // The SentencePiece test model carries the same template in chat_template.json.
    auto tok = loadTokenizer(vqa::test::tokenizerReference("sp_model").string());
    EXPECT_EQ(chatFormatFor(*tok)->name(), "llava-1.5");
    EXPECT_EQ(stopTokenIds(*chatFormatFor(*tok), *tok), std::vector<TokenId>{2});
}

TEST(ChatFormat, UnknownOrMissingTemplateIsAClearError) {
    EXPECT_THROW(chatFormatFor(std::string_view("{{ messages }}")), Error);
    try {
        chatFormatFor(std::string_view(""));
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("no chat template"), std::string::npos);
    }
}
