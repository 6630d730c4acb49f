// The dual encoders' tokenizers alone (CLIP's tokenizer.json, SigLIP's spiece.model with
// SiglipTokenizer's text cleaning) against transformers, on the texts of make_dual.py's
// TOKENIZER_TEXTS. Torch-free: it runs in the sanitizer build too.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/text/Tokenizer.h"
#include "models/base/Error.h"
#include "tests/common/TestPaths.h"

namespace vqa {
namespace {

using nlohmann::json;

constexpr const char* kWhy = "written by tests/reference/make_dual.py (ctest runs it first)";

// The tokenizers alone, on text that trips tokenizers up (make_dual.py's TOKENIZER_TEXTS).
TEST(DualTokenizers, IdsEqualTheReference) {
    const auto file = test::referenceDir("dual") / "tokenizers.json";
    VQA_SKIP_UNLESS_EXISTS(file, kWhy);
    const auto cases = json::parse(std::ifstream(file));
    for (const auto& [family, c] : cases.items()) {
        const auto tokenizer = loadTokenizer((test::referenceDir("dual") / c["folder"].get<std::string>()).string());
        for (const auto& row : c["texts"]) {
            const auto text = row["text"].get<std::string>();
            EXPECT_EQ(tokenizer->encode(text, true), row["ids"].get<std::vector<TokenId>>()) << family << ": " << text;
            EXPECT_EQ(tokenizer->encode(text, false), row["plain"].get<std::vector<TokenId>>()) << family << ": " << text;
            if (family == "clip")  // SiglipTokenizer's decode joins pieces its own way; search never decodes
                EXPECT_EQ(tokenizer->decode(row["ids"].get<std::vector<TokenId>>(), true),
                          row["decoded"].get<std::string>())
                    << family << ": " << text;
        }
    }
}

std::string loadError(const std::filesystem::path& folder) {
    try {
        loadTokenizer(folder.string());
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(DualTokenizers, AMissingOrBrokenSpieceModelIsNamed) {
    namespace fs = std::filesystem;
    const auto dir = fs::temp_directory_path() / ("vqa-siglip-tok-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(dir / "tokenizer_config.json") << R"({"tokenizer_class": "SiglipTokenizer", "pad_token": "</s>"})";
    EXPECT_NE(loadError(dir).find("spiece.model"), std::string::npos) << loadError(dir);
    std::ofstream(dir / "spiece.model", std::ios::binary) << "not a sentencepiece model at all";
    const auto message = loadError(dir);
    EXPECT_NE(message.find("spiece.model"), std::string::npos) << message;
    EXPECT_NE(message.find("not a valid SentencePiece model"), std::string::npos) << message;
    fs::remove_all(dir);
}

} // namespace
} // namespace vqa
