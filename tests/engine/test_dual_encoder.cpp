// The dual encoders (CLIP, SigLIP) against transformers' CLIPModel and SiglipModel, on the
// random checkpoints and the generated set of shapes and colours of tests/reference/make_dual.py:
// pixel values, token ids, normalized embeddings, logits, the rankings they give, zero-shot
// label scores; and the errors of folders that are not dual encoders.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "engine/Engine.h"
#include "engine/families/Families.h"
#include "engine/families/llava/ClipImageProcessor.h"
#include "engine/io/SafetensorsFile.h"
#include "engine/retrieval/DualEncoder.h"
#include "models/base/Error.h"
#include "tests/common/ParityHelpers.h"
#include "tests/common/TestPaths.h"

namespace vqa {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using retrieval::DualEncoder;

constexpr const char* kWhy = "written by tests/reference/make_dual.py (ctest runs it first)";

torch::Tensor rows(const std::vector<float>& v, std::int64_t n) {
    return torch::from_blob(const_cast<float*>(v.data()), {n, static_cast<std::int64_t>(v.size()) / n}, torch::kFloat32)
        .clone();
}

// The order `scores` puts the columns in, best first; columns whose scores are within `tie`
// of the one before may come in either order, so they are compared as the reference's order
// only where the reference's own gap is larger than `tie`.
void expectSameRanking(const torch::Tensor& ours, const torch::Tensor& reference_scores,
                       const torch::Tensor& reference_ranking, double tie, const std::string& what) {
    for (std::int64_t r = 0; r < reference_ranking.size(0); ++r) {
        auto order = torch::argsort(ours[r], /*stable=*/true, /*dim=*/0, /*descending=*/true);
        for (std::int64_t k = 0; k < order.size(0); ++k) {
            const auto want = reference_ranking[r][k].item<std::int64_t>();
            const auto got = order[k].item<std::int64_t>();
            if (got == want)
                continue;
            const double gap = std::abs(reference_scores[r][want].item<double>() - reference_scores[r][got].item<double>());
            EXPECT_LE(gap, tie) << what << " row " << r << " place " << k << ": ours " << got << ", reference " << want;
        }
    }
}

class DualCase : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        dir_ = test::referenceDir("dual") / GetParam();
        VQA_SKIP_UNLESS_EXISTS(dir_ / "case.json", kWhy);
        ref_ = SafetensorsFile::open((dir_ / "reference.safetensors").string());
        case_ = json::parse(std::ifstream(dir_ / "case.json"));
        for (const auto& f : case_["images"])
            images_.push_back(loadImageFile((dir_.parent_path() / "images" / f.get<std::string>()).string()));
        encoder_ = DualEncoder::load((dir_ / "model").string());
    }
    fs::path dir_;
    std::shared_ptr<SafetensorsFile> ref_;
    json case_;
    std::vector<RgbImage> images_;
    std::unique_ptr<DualEncoder> encoder_;
};

TEST_P(DualCase, PixelValuesEqualTheReference) {
    const auto model = (dir_ / "model").string();
    ClipImageProcessor processor(case_["family"] == "siglip" ? ClipProcessorConfig::loadSiglip(model)
                                                             : ClipProcessorConfig::loadClip(model));
    auto expected = ref_->tensor("pixel_values");
    for (std::size_t i = 0; i < images_.size(); ++i) {
        auto got = processor.process(images_[i]).pixel_values;
        ASSERT_EQ(got.sizes(), expected[i].unsqueeze(0).sizes());
        EXPECT_LE(test::maxAbsDiff(got, expected[i].unsqueeze(0)), 1e-6) << "image " << i;
    }
}

TEST_P(DualCase, TokenIdsEqualTheReference) {
    EXPECT_EQ(encoder_->family(), case_["family"].get<std::string>());
    const auto& queries = case_["queries"];
    for (std::size_t i = 0; i < queries.size(); ++i) {
        const auto want = case_["input_ids"][i].get<std::vector<std::int32_t>>();
        EXPECT_EQ(encoder_->textIds(queries[i].get<std::string>()), want) << "text " << i << ": " << queries[i];
    }
}

TEST_P(DualCase, EmbeddingsLogitsAndRankingsMatch) {
    const auto n = static_cast<std::int64_t>(images_.size());
    auto image = rows(encoder_->embedImages(images_), n);
    auto want_image = ref_->tensor("image_embeds");
    ASSERT_EQ(image.sizes(), want_image.sizes());
    EXPECT_EQ(encoder_->dim(), case_["dim"].get<int>());
    EXPECT_LE(test::maxAbsDiff(image, want_image), 1e-5);
    EXPECT_GE((image * want_image).sum(1).min().item<double>(), 0.99999);

    std::vector<std::string> queries = case_["queries"];
    auto text = rows(encoder_->embedTexts(queries), static_cast<std::int64_t>(queries.size()));
    auto want_text = ref_->tensor("text_embeds");
    ASSERT_EQ(text.sizes(), want_text.sizes());
    EXPECT_LE(test::maxAbsDiff(text, want_text), 1e-5);
    EXPECT_GE((text * want_text).sum(1).min().item<double>(), 0.99999);

    EXPECT_NEAR(encoder_->logitScale(), case_["logit_scale"].get<double>(), 1e-5);
    EXPECT_NEAR(encoder_->logitBias(), case_["logit_bias"].get<double>(), 1e-6);
    auto logits = encoder_->logitScale() * at::matmul(text, image.t()) + encoder_->logitBias();
    auto want_logits = ref_->tensor("logits_per_text");
    EXPECT_LE(test::maxAbsDiff(logits, want_logits), 1e-4);

    // Text -> images and image -> images: the order the reference's scores give.
    expectSameRanking(logits, want_logits, ref_->tensor("text_ranking"), 1e-4, "text query");
    auto want_sim = at::matmul(want_image, want_image.t());
    expectSameRanking(at::matmul(image, image.t()), want_sim, ref_->tensor("image_ranking"), 1e-5, "image query");

    // Zero-shot labels: softmax over the labels (CLIP) or a sigmoid each (SigLIP).
    auto want_scores = ref_->tensor("label_scores");  // [images, texts]
    const auto d = encoder_->dim();
    for (std::int64_t i = 0; i < n; ++i) {
        std::vector<float> v(image[i].data_ptr<float>(), image[i].data_ptr<float>() + d);
        auto scores = encoder_->labelScores(v, queries);
        ASSERT_EQ(scores.size(), queries.size());
        for (std::size_t k = 0; k < scores.size(); ++k)
            EXPECT_NEAR(scores[k], want_scores[i][static_cast<std::int64_t>(k)].item<double>(), 1e-5)
                << "image " << i << " label " << k;
    }
}

TEST_P(DualCase, ModelIdIsStableAndNamesTheFamily) {
    auto again = DualEncoder::load((dir_ / "model").string());
    EXPECT_EQ(encoder_->modelId(), again->modelId());
    EXPECT_EQ(encoder_->modelId().rfind(case_["family"].get<std::string>() + "-", 0), 0u) << encoder_->modelId();
}

INSTANTIATE_TEST_SUITE_P(Cases, DualCase,
                         ::testing::Values("clip", "clip_legacy", "siglip", "siglip2", "clip_base", "siglip_base"));

// SigLIP 2: Gemma's tokenizer from tokenizer.json alone (no spiece.model), an <eos> after the
// text, <pad> after that, and the text lower-cased first (what the model card asks of callers);
// a tokenizer_config.json saying do_lower_case false keeps the case.
TEST(DualEncoderSiglip2, GemmaTokenizerLowerCasedTextsEosAndPadding) {
    const auto source = test::referenceDir("dual") / "siglip2" / "model";
    VQA_SKIP_UNLESS_EXISTS(source / "tokenizer.json", kWhy);
    EXPECT_FALSE(fs::exists(source / "spiece.model"));
    const auto encoder = DualEncoder::load(source.string());
    EXPECT_EQ(encoder->family(), "siglip");
    const auto ids = encoder->textIds("A Red CIRCLE");
    ASSERT_EQ(ids.size(), 64u);
    EXPECT_EQ(ids, encoder->textIds("a red circle"));
    const auto eos = std::find(ids.begin(), ids.end(), 1);
    ASSERT_NE(eos, ids.end());
    EXPECT_TRUE(std::all_of(eos + 1, ids.end(), [](std::int32_t id) { return id == 0; }));
    // A character the vocabulary lacks is spelled by its bytes' tokens (<0x00> is id 13).
    const auto snowman = encoder->textIds("\u2603");
    EXPECT_EQ(std::vector<std::int32_t>(snowman.begin(), snowman.begin() + 3),
              (std::vector<std::int32_t>{13 + 0xE2, 13 + 0x98, 13 + 0x83}));

    const auto dir = fs::temp_directory_path() / ("vqa-dual-siglip2-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::copy(source, dir, fs::copy_options::recursive);
    auto config = json::parse(std::ifstream(dir / "tokenizer_config.json"));
    config["do_lower_case"] = false;
    std::ofstream(dir / "tokenizer_config.json") << config.dump();
    const auto cased = DualEncoder::load(dir.string());
    EXPECT_NE(cased->textIds("A Red CIRCLE"), cased->textIds("a red circle"));
    EXPECT_EQ(cased->textIds("a red circle"), encoder->textIds("a red circle"));
    fs::remove_all(dir);
}

TEST(DualEncoderErrors, ModelIdsOfTwoCheckpointsDiffer) {
    const auto a = test::referenceDir("dual") / "clip" / "model";
    const auto b = test::referenceDir("dual") / "clip_legacy" / "model";
    VQA_SKIP_UNLESS_EXISTS(b, kWhy);
    EXPECT_NE(DualEncoder::load(a.string())->modelId(), DualEncoder::load(b.string())->modelId());
}

std::string loadError(const fs::path& folder) {
    try {
        DualEncoder::load(folder.string());
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(DualEncoderErrors, AVisionLanguageModelIsNotADualEncoder) {
    const auto smol = test::smolvlmFixture();
    VQA_SKIP_UNLESS_EXISTS(smol, "the SmolVLM fixture (../shared/fixtures)");
    const auto message = loadError(smol);
    EXPECT_NE(message.find("not a dual encoder"), std::string::npos) << message;
    EXPECT_NE(message.find("'idefics3'"), std::string::npos) << message;
}

TEST(DualEncoderErrors, TheQuestionEngineSendsADualEncoderToSearch) {
    for (const char* type : {"clip", "siglip"}) {
        std::string message;
        try {
            detectFamily(json{{"model_type", type}}, "m/config.json");
        } catch (const Error& e) {
            message = e.what();
        }
        EXPECT_NE(message.find("finds images"), std::string::npos) << message;
    }
}

TEST(DualEncoderErrors, MissingPiecesAreNamed) {
    const auto source = test::referenceDir("dual") / "clip" / "model";
    VQA_SKIP_UNLESS_EXISTS(source, kWhy);
    const auto dir = fs::temp_directory_path() / ("vqa-dual-errors-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto copy = [&](const fs::path& to) {
        fs::remove_all(to);
        fs::copy(source, to, fs::copy_options::recursive);
    };
    EXPECT_NE(loadError(dir / "absent").find("absent"), std::string::npos);

    copy(dir / "no_weights");
    for (const auto& e : fs::directory_iterator(dir / "no_weights"))
        if (e.path().extension() == ".safetensors")
            fs::remove(e.path());
    EXPECT_FALSE(loadError(dir / "no_weights").empty());

    copy(dir / "truncated");
    {
        const auto file = dir / "truncated" / "model.safetensors";
        fs::resize_file(file, fs::file_size(file) / 2);
    }
    EXPECT_NE(loadError(dir / "truncated").find("model.safetensors"), std::string::npos) << loadError(dir / "truncated");

    copy(dir / "no_tokenizer");
    for (const char* f : {"tokenizer.json", "vocab.json", "merges.txt"})
        fs::remove(dir / "no_tokenizer" / f);
    EXPECT_NE(loadError(dir / "no_tokenizer").find("tokenizer"), std::string::npos) << loadError(dir / "no_tokenizer");

    // A byte-fallback tokenizer.json with a decoder it has no equivalent for is refused by name.
    {
        const auto siglip = test::referenceDir("dual") / "siglip" / "model";
        fs::copy(siglip, dir / "gemma_tokenizer", fs::copy_options::recursive);
        fs::remove(dir / "gemma_tokenizer" / "spiece.model");
        std::ofstream(dir / "gemma_tokenizer" / "tokenizer.json")
            << R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0}, "merges": []},
                  "decoder": {"type": "WordPiece"}})";
        const auto message = loadError(dir / "gemma_tokenizer");
        EXPECT_NE(message.find("tokenizer.json"), std::string::npos) << message;
        EXPECT_NE(message.find("decoder 'WordPiece'"), std::string::npos) << message;
    }

    copy(dir / "siglip2");
    {
        auto config = json::parse(std::ifstream(dir / "siglip2" / "config.json"));
        config["model_type"] = "siglip2";
        std::ofstream(dir / "siglip2" / "config.json") << config.dump();
    }
    EXPECT_NE(loadError(dir / "siglip2").find("SigLIP 2 NaFlex"), std::string::npos) << loadError(dir / "siglip2");
    EXPECT_NE(loadError(dir / "siglip2").find("model_type 'siglip'"), std::string::npos) << loadError(dir / "siglip2");
    fs::remove_all(dir);
}

} // namespace
} // namespace vqa
