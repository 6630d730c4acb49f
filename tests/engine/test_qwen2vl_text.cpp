// The Qwen2-VL / Qwen2.5-VL text side: the byte-level BPE with Qwen2's pre-tokenizer regex and
// NFC normalizer against Hugging Face tokenizers (and transformers' Qwen2Tokenizer, which the
// reference script checks agrees), and the chat format against apply_chat_template with the
// real template. Reference: tests/reference/make_qwen2vl_text.py.
#include <gtest/gtest.h>

#include "engine/families/qwen2vl/Qwen2VLChatFormat.h"
#include "engine/text/ChatFormat.h"
#include "engine/text/Tokenizer.h"
#include "engine/text/Utf8.h"
#include "tests/engine/TokenizerTestData.h"

using namespace vqa;
using vqa::test::showBytes;

namespace {

std::filesystem::path qwenReference(const std::string& file) {
    return vqa::test::referenceDir("qwen2vl_text") / file;
}

std::string join(const std::vector<TokenId>& ids) {
    std::string s;
    for (auto id : ids)
        s += std::to_string(id) + " ";
    return s;
}

// The Qwen2-VL tokenizer ("qwen2vl") and the Qwen2.5-VL one ("qwen25vl").
class QwenTokenizer : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        const auto ref_path = qwenReference("bpe_" + GetParam() + ".json");
        VQA_SKIP_UNLESS_EXISTS(ref_path, "run tests/reference/make_qwen2vl_text.py (ctest does)");
        tok = loadTokenizer(qwenReference(GetParam() + "_tokenizer").string());
        ref = vqa::test::readReferenceJson(ref_path);
    }
    std::unique_ptr<Tokenizer> tok;
    nlohmann::json ref;
};

} // namespace

TEST_P(QwenTokenizer, EncodesHardCorpusLikeReference) {
    ASSERT_GE(ref["cases"].size(), 600u);
    int failures = 0;
    for (const auto& c : ref["cases"]) {
        const std::string text = c["text"];
        const auto ids = tok->encode(text);
        const auto expected = c["ids"].get<std::vector<TokenId>>();
        if (ids != expected && ++failures <= 10)
            ADD_FAILURE() << "text: \"" << showBytes(text) << "\"\n ours: " << join(ids)
                          << "\n  ref: " << join(expected);
        // No post-processor: add_special_tokens adds nothing (Qwen2 has no BOS).
        EXPECT_EQ(tok->encode(text, true), ids);
    }
    EXPECT_EQ(failures, 0);
}

TEST_P(QwenTokenizer, PiecesMatchReference) {
    for (const auto& c : ref["cases"]) {
        const auto ids = c["ids"].get<std::vector<TokenId>>();
        const auto pieces = c["pieces"].get<std::vector<std::string>>();
        ASSERT_EQ(ids.size(), pieces.size());
        for (std::size_t i = 0; i < ids.size(); ++i)
            ASSERT_EQ(tok->idToPiece(ids[i]), pieces[i]) << showBytes(c["text"]);
    }
}

TEST_P(QwenTokenizer, DecodesLikeReference) {
    for (const auto& c : ref["cases"]) {
        const auto ids = c["ids"].get<std::vector<TokenId>>();
        EXPECT_EQ(tok->decode(ids), c["decoded"].get<std::string>()) << showBytes(c["text"]);
        EXPECT_EQ(tok->decode(ids, true), c["decoded_skip_special"].get<std::string>())
            << showBytes(c["text"]);
    }
    for (const auto& c : ref["decode_only"]) {
        const auto ids = c["ids"].get<std::vector<TokenId>>();
        EXPECT_EQ(showBytes(tok->decode(ids)), showBytes(c["decoded"])) << join(ids);
        EXPECT_EQ(tok->decode(ids, true), c["decoded_skip_special"].get<std::string>())
            << join(ids);
    }
}

TEST_P(QwenTokenizer, AddedTokensInQwenOrderAndSpecialAsTransformersSays) {
    EXPECT_EQ(tok->vocabSize(), ref["vocab_size"].get<std::size_t>());
    const auto& added = ref["added"];
    ASSERT_EQ(added.size(), GetParam() == "qwen2vl" ? 14u : 22u);
    for (auto it = added.begin(); it != added.end(); ++it) {
        const auto id = tok->pieceToId(it.key());
        ASSERT_TRUE(id) << it.key();
        EXPECT_EQ(*id, it.value()["id"].get<TokenId>()) << it.key();
        EXPECT_EQ(tok->isSpecial(*id), it.value()["special"].get<bool>()) << it.key();
    }
    // <|endoftext|> comes right after the BPE vocabulary, then <|im_start|>, ..., <|video_pad|>.
    const TokenId eot = *tok->pieceToId("<|endoftext|>");
    EXPECT_EQ(*tok->pieceToId("<|im_start|>"), eot + 1);
    EXPECT_EQ(*tok->pieceToId("<|vision_start|>"), eot + 9);
    EXPECT_EQ(*tok->pieceToId("<|image_pad|>"), eot + 12);
    const auto& s = ref["special"];
    const auto& st = tok->specialTokens();
    ASSERT_TRUE(st.eos && st.pad);
    EXPECT_EQ(st.eos_text, s["eos"].get<std::string>());
    EXPECT_EQ(*st.eos, s["eos_id"].get<TokenId>());
    EXPECT_EQ(*st.pad, s["pad_id"].get<TokenId>());
    EXPECT_FALSE(st.bos);
}

INSTANTIATE_TEST_SUITE_P(Qwen, QwenTokenizer, ::testing::Values("qwen2vl", "qwen25vl"));

// The real Qwen2 vocabulary (151643 ranks from qwen.tiktoken on PyPI, the merges recovered from
// them, Qwen2-VL's added tokens from 151643) against tiktoken, the original implementation, on
// the hard corpus: identical ids, and the NFC text back from decode.
TEST(QwenRealVocabulary, EncodesAndDecodesLikeTiktoken) {
    const auto dir = vqa::test::referenceDir("qwen2_vocab");
    VQA_SKIP_UNLESS_EXISTS(dir / "cases.json",
                           "tests/reference/make_qwen2_vocab.py fetches the vocabulary with pip once (ctest runs "
                           "it as reference.qwen2_vocab); without the network it writes nothing");
    const auto tok = loadTokenizer((dir / "tokenizer").string());
    const auto ref = vqa::test::readReferenceJson(dir / "cases.json");
    EXPECT_EQ(tok->vocabSize(), 151643u + 14u);
    EXPECT_EQ(tok->tokenId("<|image_pad|>"), std::optional<TokenId>(151655));
    ASSERT_GE(ref["cases"].size(), 600u);
    int failures = 0;
    for (const auto& c : ref["cases"]) {
        const std::string text = c["text"];
        const auto ids = tok->encode(text);
        const auto expected = c["ids"].get<std::vector<TokenId>>();
        if (ids != expected && ++failures <= 10)
            ADD_FAILURE() << "text: \"" << showBytes(text) << "\"\n ours: " << join(ids)
                          << "\n  tiktoken: " << join(expected);
        if (tok->decode(expected) != c["nfc"].get<std::string>() && ++failures <= 10)
            ADD_FAILURE() << "decode of \"" << showBytes(text) << "\": \"" << showBytes(tok->decode(expected))
                          << "\"";
    }
    EXPECT_EQ(failures, 0);
}

TEST(UnicodeNormalization, ComposesAndDecomposesLikeUnicode) {
    using utf8::NormalForm;
    EXPECT_EQ(utf8::normalize("cafe\u0301", NormalForm::Nfc), "caf\u00e9");
    EXPECT_EQ(utf8::normalize("\u212b", NormalForm::Nfc), "\u00c5");             // Angstrom sign
    EXPECT_EQ(utf8::normalize("\u1100\u1161\u11a8", NormalForm::Nfc), "\uac01"); // Hangul jamo
    EXPECT_EQ(utf8::normalize("o\u0308\u0301", NormalForm::Nfc), "\u00f6\u0301");
    EXPECT_EQ(utf8::normalize("\ufb01", NormalForm::Nfc), "\ufb01"); // compatibility: NFC keeps it
    EXPECT_EQ(utf8::normalize("\ufb01", NormalForm::Nfkc), "fi");
    EXPECT_EQ(utf8::normalize("\u00e9", NormalForm::Nfd), "e\u0301");
    EXPECT_EQ(utf8::normalize("\uff21\u00e9", NormalForm::Nfkd), "Ae\u0301");
    EXPECT_EQ(utf8::normalize("", NormalForm::Nfc), "");
    EXPECT_EQ(utf8::normalize("plain ascii", NormalForm::Nfc), "plain ascii");
}

TEST(Qwen2VLChatFormat, MatchesApplyChatTemplate) {
    const auto path = qwenReference("chat_qwen2vl.json");
    VQA_SKIP_UNLESS_EXISTS(path, "run tests/reference/make_qwen2vl_text.py (ctest does)");
    const auto ref = vqa::test::readReferenceJson(path);
    const auto format = qwen2VLChatFormat(ref["template"].get<std::string>());
    ASSERT_TRUE(format);
    EXPECT_EQ(format->name(), "qwen2-vl");
    EXPECT_EQ(format->imagePlaceholder(), "<|image_pad|>");
    int compared = 0;
    for (const auto& p : ref["prompts"]) {
        const auto conv =
            vqa::test::toConversation(ref["conversations"][p["conversation"].get<int>()]);
        const bool gen = p["add_generation_prompt"];
        EXPECT_EQ(format->render(conv, gen), p["prompt"].get<std::string>())
            << "conversation " << p["conversation"] << " add_generation_prompt=" << gen;
        ++compared;
    }
    EXPECT_GE(compared, 18);
}

TEST(Qwen2VLChatFormat, TemplateFilesAndStopTokens) {
    const auto dir = qwenReference("qwen25vl_tokenizer");
    VQA_SKIP_UNLESS_EXISTS(dir, "run tests/reference/make_qwen2vl_text.py (ctest does)");
    const auto tok = loadTokenizer(dir.string());
    const auto format = qwen2VLChatFormat(tok->chatTemplate());
    ASSERT_TRUE(format);
    const auto stops = stopTokenIds(*format, *tok);
    EXPECT_EQ(stops, (std::vector<TokenId>{*tok->pieceToId("<|im_end|>"),
                                           *tok->pieceToId("<|endoftext|>")}));
}

TEST(Qwen2VLChatFormat, OtherTemplatesAreNotQwens) {
    EXPECT_FALSE(qwen2VLChatFormat(""));
    EXPECT_FALSE(qwen2VLChatFormat(
        "{% for message in messages %}{{ message['role'].upper() + ': '}}{% endfor %}"));
    // SmolVLM's template has <|im_start|> but no vision tokens.
    EXPECT_FALSE(
        qwen2VLChatFormat("<|im_start|>{{ message['role'] | capitalize }}<end_of_utterance>"));
}

TEST(Qwen2VLChatFormat, TemplateWithoutDefaultSystemMessage) {
    const auto format = qwen2VLChatFormat(
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{% for content in "
        "message['content'] %}"
        "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% else "
        "%}{{ content['text'] }}"
        "{% endif %}{% endfor %}<|im_end|>\n{% endfor %}");
    ASSERT_TRUE(format);
    Conversation conv{
        {Role::User, {{ContentPart::Kind::Image, {}}, {ContentPart::Kind::Text, "Hi"}}}};
    EXPECT_EQ(format->render(conv, true), "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_"
                                          "end|>Hi<|im_end|>\n<|im_start|>assistant\n");
}
