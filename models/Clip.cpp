#include "models/Clip.h"

#include <algorithm>
#include <cmath>

#include "models/base/Error.h"
#include "models/Interrupt.h"

namespace vqa::models {

ClipVisionModel::ClipVisionModel(const VisionConfig& config, WeightLoader& w, const std::string& prefix,
                                 const std::vector<int>& needed_states)
    : config_(config) {
    checkVisionConfig(config);
    const std::int64_t hidden = config.hidden_size;
    if (needed_states.empty())
        throw Error("vision_feature_layer names no layer");
    for (int i : needed_states)
        states_.push_back(stateIndex(i));
    const int deepest = *std::max_element(states_.begin(), states_.end());

    const std::int64_t side = patchesPerSide();
    const std::string e = prefix + ".embeddings.";
    class_embedding = w.take(e + "class_embedding", {hidden});
    patch_embedding_weight =
        w.take(e + "patch_embedding.weight", {hidden, config.num_channels, config.patch_size, config.patch_size});
    position_embedding = w.take(e + "position_embedding.weight", {1 + side * side, hidden});
    pre_layrnorm_weight = w.take(prefix + ".pre_layrnorm.weight", {hidden});
    pre_layrnorm_bias = w.take(prefix + ".pre_layrnorm.bias", {hidden});
    for (int i = 0; i < deepest; ++i) {
        const std::string l = prefix + ".encoder.layers." + std::to_string(i) + ".";
        layers_.push_back(VisionEncoderLayer::load(config, w, l));
    }
}

int ClipVisionModel::stateIndex(int i) const {
    const int n = config_.num_hidden_layers;
    const int k = i < 0 ? n + 1 + i : i;
    if (k < 0 || k > n)
        throw Error("vision_feature_layer " + std::to_string(i) + " is outside the vision tower's " +
                    std::to_string(n + 1) + " hidden states (embeddings and " + std::to_string(n) + " layers)");
    return k;
}

std::vector<torch::Tensor> ClipVisionModel::forward(const torch::Tensor& pixel_values, AttentionRollout* rollout) const {
    const auto& c = config_;
    if (pixel_values.dim() != 4 || pixel_values.size(1) != c.num_channels || pixel_values.size(2) != c.image_size ||
        pixel_values.size(3) != c.image_size)
        throw Error("the CLIP vision tower takes images of [N, " + std::to_string(c.num_channels) + ", " +
                    std::to_string(c.image_size) + ", " + std::to_string(c.image_size) + "]");
    const auto n = pixel_values.size(0);
    const auto hidden = c.hidden_size;

    auto patches = at::conv2d(pixel_values, patch_embedding_weight, {}, c.patch_size);  // [N, D, s, s]
    auto h = torch::cat({class_embedding.view({1, 1, -1}).expand({n, 1, hidden}), patches.flatten(2).transpose(1, 2)},
                        1);
    h = h + position_embedding.unsqueeze(0);
    h = layerNorm(h, pre_layrnorm_weight, pre_layrnorm_bias, c.layer_norm_eps);

    std::vector<torch::Tensor> out(states_.size());
    auto keep = [&](int index) {
        for (std::size_t k = 0; k < states_.size(); ++k)
            if (states_[k] == index)
                out[k] = h;
    };
    keep(0);
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        checkInterrupt();
        h = layers_[i](h, c, torch::Tensor(), rollout);
        keep(static_cast<int>(i) + 1);
    }
    return out;
}

}  // namespace vqa::models
