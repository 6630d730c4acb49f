#include "models/Qwen3VL.h"

#include <algorithm>
#include <cmath>

#include "models/Interrupt.h"
#include "models/Qwen2VL.h"
#include "models/base/Error.h"

namespace vqa::models {

namespace {

std::string str(std::int64_t v) {
    return std::to_string(v);
}

// The taps and weights of bilinear resampling with aligned corners along one axis, as the
// reference computes them in float32: target index i of `size` maps to source i * (side - 1)
// / (size - 1); its taps are the source's floor and the next (clamped to the grid), weighted
// by one minus their distance. -> taps [N, 2] int64, weights [N, 2] float32.
std::pair<torch::Tensor, torch::Tensor> axisTaps(const torch::Tensor& index, std::int64_t size, std::int64_t side) {
    auto src = index.to(torch::kFloat32) * static_cast<double>(side - 1) /
               static_cast<double>(std::max<std::int64_t>(size - 1, 1));
    auto floor = src.floor();
    auto offsets = torch::arange(2, torch::dtype(torch::kInt64));
    auto taps = (floor.to(torch::kInt64).unsqueeze(1) + offsets).clamp(0, side - 1);
    auto distance = (src.unsqueeze(1) - floor.unsqueeze(1) - offsets).abs();
    return {taps, (1 - distance).clamp_min(0)};
}

} // namespace

// ---------------------------------------------------------------------------------------------
// The vision tower

Qwen3VLVisionModel::Qwen3VLVisionModel(const Qwen3VLVisionConfig& c, WeightLoader& w, const std::string& prefix)
    : config_(c) {
    const std::int64_t hidden = c.hidden_size, inter = c.intermediate_size, out = c.out_hidden_size;
    if (hidden <= 0 || c.num_heads <= 0 || hidden % c.num_heads != 0 || (hidden / c.num_heads) % 4 != 0)
        throw Error("vision_config: hidden_size " + str(hidden) + " and num_heads " + str(c.num_heads) +
                    " do not give a head size that is a multiple of 4 (2-D rotary positions)");
    if (c.patch_size <= 0 || c.spatial_merge_size <= 0 || c.temporal_patch_size <= 0 || inter <= 0 || out <= 0)
        throw Error("vision_config: sizes must be positive");
    side_ = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(c.num_position_embeddings))));
    if (side_ < 1 || side_ * side_ != c.num_position_embeddings)
        throw Error("vision_config: num_position_embeddings " + str(c.num_position_embeddings) +
                    " is not a square grid of learned positions");
    for (int level : c.deepstack_visual_indexes)
        if (level < 0 || level >= c.depth)
            throw Error("vision_config: deepstack_visual_indexes names block " + str(level) +
                        ", but the tower has blocks 0.." + str(c.depth - 1));
    if (!isKnownActivation(c.hidden_act))
        throw Error("vision_config: hidden_act '" + c.hidden_act + "' is not implemented");

    const std::int64_t patch_values = std::int64_t(c.in_channels) * c.temporal_patch_size * c.patch_size * c.patch_size;
    patch_embed_ = w.take(prefix + ".patch_embed.proj.weight",
                          {hidden, c.in_channels, c.temporal_patch_size, c.patch_size, c.patch_size})
                       .reshape({hidden, patch_values});
    patch_bias_ = w.take(prefix + ".patch_embed.proj.bias", {hidden});
    pos_embed_ = w.take(prefix + ".pos_embed.weight", {side_ * side_, hidden});
    rotary_ = Rotary::make(static_cast<int>(hidden / c.num_heads / 2), c.rope_theta, w.device());
    for (int i = 0; i < c.depth; ++i) {
        const std::string b = prefix + ".blocks." + std::to_string(i) + ".";
        QwenVisionBlock blk;
        blk.norm1_weight = w.take(b + "norm1.weight", {hidden});
        blk.norm1_bias = w.take(b + "norm1.bias", {hidden});
        blk.norm2_weight = w.take(b + "norm2.weight", {hidden});
        blk.norm2_bias = w.take(b + "norm2.bias", {hidden});
        blk.qkv = w.linear(b + "attn.qkv", hidden, 3 * hidden, true);
        blk.proj = w.linear(b + "attn.proj", hidden, hidden, true);
        blk.fc1 = w.linear(b + "mlp.linear_fc1", hidden, inter, true);
        blk.fc2 = w.linear(b + "mlp.linear_fc2", inter, hidden, true);
        blocks_.push_back(std::move(blk));
    }
    merger_ = loadMerger(w, prefix + ".merger", false);
    for (std::size_t i = 0; i < c.deepstack_visual_indexes.size(); ++i)
        deepstack_.push_back(loadMerger(w, prefix + ".deepstack_merger_list." + std::to_string(i), true));
}

Qwen3VLVisionModel::Merger Qwen3VLVisionModel::loadMerger(WeightLoader& w, const std::string& prefix,
                                                          bool after_concat) const {
    const std::int64_t m = config_.spatial_merge_size;
    const std::int64_t merged = std::int64_t(config_.hidden_size) * m * m;
    const std::int64_t normed = after_concat ? merged : config_.hidden_size;
    Merger merger;
    merger.after_concat = after_concat;
    merger.norm_weight = w.take(prefix + ".norm.weight", {normed});
    merger.norm_bias = w.take(prefix + ".norm.bias", {normed});
    merger.fc1 = w.linear(prefix + ".linear_fc1", merged, merged, true);
    merger.fc2 = w.linear(prefix + ".linear_fc2", merged, config_.out_hidden_size, true);
    return merger;
}

torch::Tensor Qwen3VLVisionModel::merge(const Merger& merger, const torch::Tensor& hidden) const {
    const std::int64_t unit = std::int64_t(config_.spatial_merge_size) * config_.spatial_merge_size;
    const std::int64_t merged = hidden.size(1) * unit;
    constexpr double eps = 1e-6; // fixed in the reference's mergers
    auto x = merger.after_concat
                 ? layerNorm(hidden.reshape({-1, merged}), merger.norm_weight, merger.norm_bias, eps)
                 : layerNorm(hidden, merger.norm_weight, merger.norm_bias, eps).reshape({-1, merged});
    return merger.fc2(at::gelu(merger.fc1(x)));
}

torch::Tensor Qwen3VLVisionModel::positionEmbeddings(const torch::Tensor& grid_thw) const {
    const std::int64_t m = config_.spatial_merge_size;
    const auto long_opts = torch::dtype(torch::kInt64);
    std::vector<torch::Tensor> indices, weights;
    for (const auto& [t, h, w] : qwenVisionGrids(grid_thw, m)) {
        // Each patch's (row, column) in the processor's order: merge blocks row-major, the
        // patches of a block together; the frames repeat it.
        auto rows = torch::arange(h, long_opts).view({h / m, 1, m, 1}).expand({h / m, w / m, m, m}).reshape({-1});
        auto cols = torch::arange(w, long_opts).view({1, w / m, 1, m}).expand({h / m, w / m, m, m}).reshape({-1});
        auto [h_taps, h_weights] = axisTaps(rows, h, side_);
        auto [w_taps, w_weights] = axisTaps(cols, w, side_);
        // Separable: the outer product of the two axes' taps, four per patch.
        auto index = (h_taps.unsqueeze(2) * side_ + w_taps.unsqueeze(1)).reshape({-1, 4});
        auto weight = (h_weights.unsqueeze(2) * w_weights.unsqueeze(1)).reshape({-1, 4});
        indices.push_back(index.repeat({t, 1}));
        weights.push_back(weight.repeat({t, 1}));
    }
    const auto dev = pos_embed_.device();
    auto taps = at::embedding(pos_embed_, torch::cat(indices).to(dev)); // [patches, 4, hidden]
    return (taps * torch::cat(weights).to(dev).unsqueeze(-1)).sum(1);   // float32, as the reference
}

torch::Tensor Qwen3VLVisionModel::forward(const torch::Tensor& flat, const torch::Tensor& grid_thw,
                                          std::vector<torch::Tensor>* deepstack) const {
    const std::int64_t m = config_.spatial_merge_size;
    const auto grids = qwenVisionGrids(grid_thw, m);
    std::int64_t total = 0;
    std::vector<std::int64_t> frames{0}; // attention within each frame, none across
    for (const auto& [t, h, w] : grids) {
        total += t * h * w;
        for (std::int64_t f = 0; f < t; ++f)
            frames.push_back(frames.back() + h * w);
    }
    if (flat.dim() != 2 || flat.size(0) != total || flat.size(1) != patch_embed_.size(1))
        throw Error("Qwen3-VL pixel values must be [" + str(total) + ", " + str(patch_embed_.size(1)) +
                    "] for these image grids");
    const auto dev = patch_embed_.device();
    auto hidden = models::linear(flat.to(dev, patch_embed_.scalar_type()), patch_embed_, patch_bias_);
    hidden = hidden + positionEmbeddings(grid_thw).to(hidden.scalar_type());
    auto [cos, sin] = qwenVisionRotary(rotary_, grids, m, dev);
    if (deepstack)
        deepstack->clear();
    const auto& levels = config_.deepstack_visual_indexes;
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
        checkInterrupt();
        hidden = qwenVisionBlock(blocks_[i], config_, hidden, cos, sin, frames);
        if (!deepstack)
            continue;
        const auto level = std::find(levels.begin(), levels.end(), static_cast<int>(i));
        if (level != levels.end())
            deepstack->push_back(merge(deepstack_[static_cast<std::size_t>(level - levels.begin())], hidden));
    }
    return merge(merger_, hidden);
}

// ---------------------------------------------------------------------------------------------
// The model

namespace {

// Where a checkpoint keeps the vision tower, the decoder and the head.
struct Qwen3VLTensorNames {
    std::string vision, text, lm_head;
    static Qwen3VLTensorNames detect(const WeightSource& w) {
        if (w.contains("model.visual.patch_embed.proj.weight"))
            return {"model.visual", "model.language_model", "lm_head.weight"};
        if (w.contains("visual.patch_embed.proj.weight")) // transformers 4's layout
            return {"visual", "model", "lm_head.weight"};
        throw Error("the weights are not a Qwen3-VL checkpoint's: no model.visual.patch_embed.proj.weight");
    }
};

} // namespace

Qwen3VLModel::Qwen3VLModel(const Qwen3VLConfig& config, const WeightSource& weights, torch::Device device,
                           torch::ScalarType dtype, const Quantization& quantization, torch::ScalarType vision_dtype)
    : LlamaBackedModel(device, dtype, vision_dtype), config_(config) {
    if (config.vision.out_hidden_size != config.text.hidden_size)
        throw Error("config.json: the vision merger's output (" + str(config.vision.out_hidden_size) +
                    ") is not the text model's hidden_size (" + str(config.text.hidden_size) + ")");
    if (config.vision.deepstack_visual_indexes.size() > static_cast<std::size_t>(config.text.num_hidden_layers))
        throw Error("config.json: " + str(static_cast<std::int64_t>(config.vision.deepstack_visual_indexes.size())) +
                    " DeepStack levels, but the decoder has only " + str(config.text.num_hidden_layers) +
                    " layers to add them to");
    const auto names = Qwen3VLTensorNames::detect(weights);
    torch::NoGradGuard no_grad;
    WeightLoader w(weights, device, dtype), wv(weights, device, vision_dtype_);
    vision_ = std::make_unique<Qwen3VLVisionModel>(config.vision, wv, names.vision);
    text_ = std::make_unique<LlamaDecoder>(config.text, w, names.text, names.lm_head, quantization);
    parameters_ = w.parameterCount() + wv.parameterCount();
}

torch::Tensor Qwen3VLModel::encodePatches(const torch::Tensor& flat, const torch::Tensor& grid_thw,
                                          std::vector<torch::Tensor>* deepstack) {
    auto tokens = vision_->forward(flat.to(device_, vision_dtype_), grid_thw, deepstack).to(dtype_);
    if (deepstack)
        for (auto& level : *deepstack)
            level = level.to(dtype_);
    return tokens;
}

ImageFeatures Qwen3VLModel::encodeImageFeatures(const torch::Tensor& pixel_values, const torch::Tensor&) {
    auto patches = flattenPatches(pixel_values, config_.vision);
    ImageFeatures features;
    features.tokens = encodePatches(patches.flat, patches.grid_thw, &features.layers).unsqueeze(0);
    for (auto& level : features.layers)
        level = level.unsqueeze(0);
    return features;
}

torch::Tensor Qwen3VLModel::encodeImages(const torch::Tensor& pixel_values, const torch::Tensor&) {
    auto patches = flattenPatches(pixel_values, config_.vision);
    return encodePatches(patches.flat, patches.grid_thw).unsqueeze(0);
}

std::unique_ptr<VisionLanguageModel> makeQwen3VL(const Qwen3VLConfig& config, const WeightSource& weights,
                                                 torch::Device device, torch::ScalarType dtype,
                                                 const Quantization& quantization, torch::ScalarType vision_dtype) {
    return std::make_unique<Qwen3VLModel>(config, weights, device, dtype, quantization, vision_dtype);
}

} // namespace vqa::models
