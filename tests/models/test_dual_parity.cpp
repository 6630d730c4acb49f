// The dual encoders' networks (models/ClipDual, models/SiglipDual, models/TextTransformer) against
// transformers' CLIPModel and SiglipModel, fed the reference's own pixel values and token ids,
// so that a difference here is the network's and not the tokenizer's or the image processor's
// (tests/engine/test_dual_encoder.cpp checks the whole path from files). Data:
// tests/reference/make_dual.py.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/io/Checkpoint.h"
#include "engine/io/ModelConfig.h"
#include "engine/io/SafetensorsFile.h"
#include "engine/retrieval/DualEncoderConfig.h"
#include "models/ClipDual.h"
#include "models/SiglipDual.h"
#include "tests/common/ParityHelpers.h"
#include "tests/common/TestPaths.h"

namespace {

namespace fs = std::filesystem;
using vqa::models::DualEncoderConfig;

class DualParity : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        dir_ = vqa::test::referenceDir("dual") / GetParam();
        VQA_SKIP_UNLESS_EXISTS(dir_ / "case.json", "run tests/reference/make_dual.py (ctest runs it as reference.dual)");
        const auto model_dir = (dir_ / "model").string();
        case_ = nlohmann::json::parse(std::ifstream(dir_ / "case.json"));
        ref_ = vqa::SafetensorsFile::open((dir_ / "reference.safetensors").string());
        checkpoint_ = vqa::Checkpoint::open(model_dir);
        config_ = vqa::retrieval::parseDualEncoderConfig(vqa::readModelConfig(model_dir), model_dir + "/config.json");
        vqa::models::WeightLoader weights(*checkpoint_, torch::kCPU, torch::kFloat32);
        if (config_.family == DualEncoderConfig::Family::Siglip)
            model_ = std::make_unique<vqa::models::SiglipDual>(config_, weights);
        else
            model_ = std::make_unique<vqa::models::ClipDual>(config_, weights);
    }
    fs::path dir_;
    nlohmann::json case_;
    std::shared_ptr<vqa::SafetensorsFile> ref_;
    std::unique_ptr<vqa::Checkpoint> checkpoint_;
    DualEncoderConfig config_;
    std::unique_ptr<vqa::models::DualEncoderModel> model_;
};

torch::Tensor unit(const torch::Tensor& t) { return t / t.norm(2, -1, true); }

TEST_P(DualParity, ImageEmbeddings) {
    torch::NoGradGuard no_grad;
    auto got = unit(model_->imageFeatures(ref_->tensor("pixel_values")));
    auto want = ref_->tensor("image_embeds");
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_LE(vqa::test::maxAbsDiff(got, want), 1e-5);
}

TEST_P(DualParity, TextEmbeddingsFromTheReferenceIds) {
    torch::NoGradGuard no_grad;
    auto want = ref_->tensor("text_embeds");
    const auto& ids = case_["input_ids"];
    ASSERT_EQ(static_cast<std::int64_t>(ids.size()), want.size(0));
    for (std::size_t i = 0; i < ids.size(); ++i) {
        auto row = torch::tensor(ids[i].get<std::vector<std::int64_t>>(), torch::kInt64).unsqueeze(0);
        auto got = unit(model_->textFeatures(row));
        EXPECT_LE(vqa::test::maxAbsDiff(got[0], want[static_cast<std::int64_t>(i)]), 1e-5) << "text " << i;
    }
}

TEST_P(DualParity, LogitScaleAndBias) {
    EXPECT_NEAR(model_->logitScale(), case_["logit_scale"].get<double>(), 1e-5);
    EXPECT_NEAR(model_->logitBias(), case_["logit_bias"].get<double>(), 1e-6);
}

TEST_P(DualParity, TooLongATextIsRefused) {
    const auto too_long = torch::zeros({1, config_.text.max_position_embeddings + 1}, torch::kInt64);
    EXPECT_THROW(model_->textFeatures(too_long), vqa::Error);
    const auto outside = torch::full({1, 3}, config_.text.vocab_size, torch::kInt64);
    EXPECT_THROW(model_->textFeatures(outside), vqa::Error);
}

INSTANTIATE_TEST_SUITE_P(Cases, DualParity,
                         ::testing::Values("clip", "clip_legacy", "siglip", "clip_base", "siglip_base"));

} // namespace
