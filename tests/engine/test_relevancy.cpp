// Gradient-weighted attention relevancy (engine/explain/Relevancy): its gradients agree with
// finite differences through the model, and the map it draws is not raw attention again.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/base/Error.h"
#include "engine/explain/Relevancy.h"
#include "engine/io/Checkpoint.h"
#include "engine/families/idefics3/Idefics3Config.h"
#include "engine/generation/PromptEmbedding.h"
#include "engine/io/ModelConfig.h"
#include "engine/io/SafetensorsFile.h"
#include "models/Idefics3Model.h"
#include "tests/common/TestPaths.h"

namespace fs = std::filesystem;

namespace {

class RelevancyTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto dir = vqa::test::referenceDir("idefics3") / "tiny_untied";
        const auto model_dir = (dir / "model").string();
        if (!fs::exists(dir / "reference.safetensors"))
            GTEST_SKIP() << "no reference checkpoint at " << dir
                         << " (written by tests/reference/make_idefics3.py, the reference.idefics3 fixture)";
        torch::NoGradGuard no_grad;
        checkpoint_ = vqa::Checkpoint::open(model_dir);
        auto config = vqa::parseIdefics3Config(vqa::readModelConfig(model_dir), model_dir + "/config.json");
        model_ = std::make_unique<vqa::models::Idefics3Model>(config, *checkpoint_, torch::kCPU, torch::kFloat32);
        auto ref = vqa::SafetensorsFile::open((dir / "reference.safetensors").string());
        auto ids = ref->tensor("input_ids").clone().to(torch::kInt64);
        auto features = model_->encodeImages(ref->tensor("pixel_values").clone(),
                                             ref->tensor("pixel_attention_mask").clone());
        embeds_ = vqa::embedPrompt(*model_, ids, features);
        image_positions_ = (ids == model_->imageTokenId()).nonzero().reshape({-1});
        ASSERT_GT(image_positions_.numel(), 0);
        target_ = logitsWith({}).argmax().item<std::int64_t>();
    }

    // The logits of the last position, with optional offsets added to each layer's row.
    torch::Tensor logitsWith(std::vector<torch::Tensor> offsets) {
        torch::NoGradGuard no_grad;
        auto cache = model_->newCache(embeds_.size(0));
        vqa::models::AttentionCapture capture;
        capture.positions = torch::empty({0}, torch::kInt64);
        capture.row_offsets = std::move(offsets);
        return model_->forward(embeds_, cache, false, &capture).reshape({-1});
    }

    std::unique_ptr<vqa::Checkpoint> checkpoint_;
    std::unique_ptr<vqa::models::Idefics3Model> model_;
    torch::Tensor embeds_, image_positions_;
    std::int64_t target_ = 0;
};

// d logit / d row, from autograd, against central differences along random directions, in
// every layer: the gradients relevancy weighs the attention with are the model's own.
TEST_F(RelevancyTest, GradientsMatchFiniteDifferences) {
    auto g = vqa::attentionGradients(*model_, embeds_, target_);
    ASSERT_FALSE(g.rows.empty());
    ASSERT_EQ(g.rows.size(), g.grads.size());
    torch::manual_seed(7);
    const double eps = 1e-2;
    for (std::size_t l = 0; l < g.rows.size(); ++l) {
        ASSERT_TRUE(g.grads[l].defined()) << "layer " << l;
        ASSERT_EQ(g.grads[l].sizes(), g.rows[l].sizes());
        for (int trial = 0; trial < 2; ++trial) {
            // A unit direction: a small step through the whole row, so the check sees the
            // first-order term and not the layers' curvature.
            auto direction = torch::randn(g.rows[l].sizes());
            direction = direction / direction.norm();
            std::vector<torch::Tensor> plus(g.rows.size()), minus(g.rows.size());
            plus[l] = eps * direction;
            minus[l] = -eps * direction;
            const double numeric =
                (logitsWith(plus)[target_] - logitsWith(minus)[target_]).item<double>() / (2 * eps);
            const double analytic = (g.grads[l] * direction).sum().item<double>();
            EXPECT_NEAR(numeric, analytic, 2e-3 + 1e-2 * std::abs(analytic))
                << "layer " << l << ", direction " << trial;
        }
    }
    // A direction along which nothing changes would make the check vacuous.
    double largest = 0;
    for (const auto& grad : g.grads)
        largest = std::max(largest, grad.abs().max().item<double>());
    EXPECT_GT(largest, 1e-3);
}

TEST_F(RelevancyTest, DiffersFromRawAttention) {
    auto relevancy = vqa::relevancyOverPositions(*model_, embeds_, target_, image_positions_);
    ASSERT_EQ(relevancy.numel(), image_positions_.numel());
    EXPECT_TRUE(torch::isfinite(relevancy).all().item<bool>());
    EXPECT_GE(relevancy.min().item<double>(), 0.0);
    ASSERT_GT(relevancy.sum().item<double>(), 0.0);

    // Raw attention over the same positions: mean over heads and layers.
    auto g = vqa::attentionGradients(*model_, embeds_, target_);
    torch::Tensor attention;
    for (const auto& row : g.rows) {
        auto r = row.index_select(1, image_positions_).mean(0);
        attention = attention.defined() ? attention + r : r;
    }
    auto a = attention / attention.sum();
    auto r = relevancy / relevancy.sum();
    const double total_variation = 0.5 * (a - r).abs().sum().item<double>();
    EXPECT_GT(total_variation, 0.02) << "relevancy is raw attention again";
    // And the combination rule on the gradients is what relevancyOverPositions returns.
    EXPECT_TRUE(torch::allclose(vqa::combineRelevancy(g, image_positions_), relevancy, 1e-5, 1e-8));
}

TEST_F(RelevancyTest, RefusesInferenceMode) {
    c10::InferenceMode guard;
    EXPECT_THROW(vqa::attentionGradients(*model_, embeds_, target_), vqa::Error);
}

} // namespace
