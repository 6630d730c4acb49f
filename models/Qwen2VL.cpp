#include "models/Qwen2VL.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "models/CpuRowOps.h"
#include "models/Interrupt.h"
#include "models/base/Error.h"

namespace vqa::models {

namespace {

std::string str(std::int64_t v) {
    return std::to_string(v);
}

// (t, h, w) of each row of grid_thw [images, 3].
std::vector<std::array<std::int64_t, 3>> gridRows(const torch::Tensor& grid_thw) {
    if (grid_thw.dim() != 2 || grid_thw.size(1) != 3)
        throw Error("image_grid_thw must be [images, 3], not " + str(grid_thw.dim()) + "-D");
    auto g = grid_thw.to(torch::kCPU, torch::kInt64).contiguous();
    const auto* p = g.data_ptr<std::int64_t>();
    std::vector<std::array<std::int64_t, 3>> rows;
    for (std::int64_t i = 0; i < g.size(0); ++i)
        rows.push_back({p[3 * i], p[3 * i + 1], p[3 * i + 2]});
    return rows;
}

} // namespace

std::vector<std::array<std::int64_t, 3>> qwenVisionGrids(const torch::Tensor& grid_thw, std::int64_t m) {
    auto grids = gridRows(grid_thw);
    for (const auto& [t, h, w] : grids)
        if (t < 1 || h < 1 || w < 1 || h % m != 0 || w % m != 0)
            throw Error("image_grid_thw (" + str(t) + ", " + str(h) + ", " + str(w) +
                        ") is not a grid of whole merge blocks of " + str(m) + " x " + str(m) + " patches");
    return grids;
}

std::pair<torch::Tensor, torch::Tensor> qwenVisionRotary(const Rotary& rotary,
                                                         const std::vector<std::array<std::int64_t, 3>>& grids,
                                                         std::int64_t m, torch::Device device) {
    const auto long_opts = torch::dtype(torch::kInt64);
    std::vector<torch::Tensor> rows, cols;
    for (const auto& [t, h, w] : grids) {
        auto r = torch::arange(h, long_opts).view({h / m, m, 1, 1}).expand({h / m, m, w / m, m});
        auto c = torch::arange(w, long_opts).view({1, 1, w / m, m}).expand({h / m, m, w / m, m});
        rows.push_back(r.permute({0, 2, 1, 3}).reshape({-1}).repeat({t}));
        cols.push_back(c.permute({0, 2, 1, 3}).reshape({-1}).repeat({t}));
    }
    auto [cos_r, sin_r] = rotary.cosSin(torch::cat(rows).to(device), torch::kFloat32);
    auto [cos_c, sin_c] = rotary.cosSin(torch::cat(cols).to(device), torch::kFloat32);
    // [S, D]: the first half of each head's frequencies turn with the row, the second with the
    // column, and the halves repeat (rotate_half pairs i with i + D/2).
    const auto q = cos_r.size(1) / 2;
    auto cos = torch::cat({cos_r.narrow(1, 0, q), cos_c.narrow(1, 0, q), cos_r.narrow(1, 0, q),
                           cos_c.narrow(1, 0, q)},
                          1);
    auto sin = torch::cat({sin_r.narrow(1, 0, q), sin_c.narrow(1, 0, q), sin_r.narrow(1, 0, q),
                           sin_c.narrow(1, 0, q)},
                          1);
    return {cos, sin};
}

torch::Tensor qwenVisionBlock(const QwenVisionBlock& b, const Qwen2VLVisionConfig& config,
                              const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                              const std::vector<std::int64_t>& segments) {
    auto norm = [&](const torch::Tensor& v, const torch::Tensor& weight, const torch::Tensor& bias) {
        return bias.defined() ? layerNorm(v, weight, bias, config.norm_eps) : rmsNorm(v, weight, config.norm_eps);
    };
    const std::int64_t s = x.size(0), heads = config.num_heads, d = config.hidden_size / heads;
    const auto qkv_rows = b.qkv(norm(x, b.norm1_weight, b.norm1_bias)); // [S, 3 H D]
    // Rotary in float32, as the reference's apply_rotary_pos_emb_vision does: in one pass over
    // the rows where the CPU's row ops take them (CpuRowOps.h).
    torch::Tensor q, k, v; // [H, S, D]
    if (auto fused = cpuVisionQkvRotary(qkv_rows, heads, cos, sin)) {
        q = (*fused)[0], k = (*fused)[1], v = (*fused)[2];
    } else {
        auto qkv = qkv_rows.view({s, 3, heads, d}).permute({1, 2, 0, 3}); // [3, H, S, D]
        q = applyRotary(qkv[0].to(torch::kFloat32), cos, sin).to(x.scalar_type());
        k = applyRotary(qkv[1].to(torch::kFloat32), cos, sin).to(x.scalar_type());
        v = qkv[2];
    }
    // Attention within each segment (an image, a frame or a window), none across.
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    std::vector<torch::Tensor> parts;
    for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
        const auto a = segments[i], len = segments[i + 1] - segments[i];
        parts.push_back(attention(q.narrow(1, a, len).unsqueeze(0),
                                  k.narrow(1, a, len).unsqueeze(0),
                                  v.narrow(1, a, len).unsqueeze(0), torch::Tensor(), false, scale)
                            .squeeze(0));
    }
    auto a = (parts.size() == 1 ? parts[0] : torch::cat(parts, 1))
                 .transpose(0, 1)
                 .reshape({s, heads * d});
    auto h = x + b.proj(a);
    auto n = norm(h, b.norm2_weight, b.norm2_bias);
    if (config.gated_mlp) {
        return h + b.down(gatedActivation(config.hidden_act, b.gate_up(n), config.intermediate_size));
    }
    return h + b.fc2(activation(config.hidden_act, b.fc1(n)));
}

// ---------------------------------------------------------------------------------------------
// The processor's patch order

Qwen2VLPatches flattenPatches(const torch::Tensor& frames, const Qwen2VLVisionConfig& c) {
    const std::int64_t p = c.patch_size, m = c.spatial_merge_size, tp = c.temporal_patch_size;
    if (frames.dim() != 4 || frames.size(0) < 1 || frames.size(1) != c.in_channels ||
        frames.size(2) % (p * m) != 0 || frames.size(3) % (p * m) != 0)
        throw Error("Qwen2-VL pixel values must be [frames, " + str(c.in_channels) +
                    ", H, W] with H and W multiples of " + str(p * m) + ", not " +
                    (frames.dim() == 4
                         ? "[" + str(frames.size(0)) + ", " + str(frames.size(1)) + ", " +
                               str(frames.size(2)) + ", " + str(frames.size(3)) + "]"
                         : str(frames.dim()) + "-D"));
    auto x = frames;
    if (const auto rest = x.size(0) % tp; rest != 0) // repeat the last frame
        x = torch::cat({x, x.narrow(0, x.size(0) - 1, 1).expand({tp - rest, -1, -1, -1})}, 0);
    const std::int64_t ch = x.size(1), gt = x.size(0) / tp, gh = x.size(2) / p, gw = x.size(3) / p;
    // [gt, T, C, gh/m, m, P, gw/m, m, P] -> [gt, gh/m, gw/m, m, m, C, T, P, P]
    x = x.reshape({gt, tp, ch, gh / m, m, p, gw / m, m, p}).permute({0, 3, 6, 4, 7, 2, 1, 5, 8});
    Qwen2VLPatches out;
    out.flat = x.reshape({gt * gh * gw, ch * tp * p * p}).contiguous();
    out.grid_thw = torch::tensor({gt, gh, gw}, torch::kInt64).view({1, 3});
    return out;
}

// ---------------------------------------------------------------------------------------------
// Multimodal rotary positions of a prompt

torch::Tensor qwen2VLRopePositions(const torch::Tensor& ids, const Qwen2VLConfig& config,
                                   const torch::Tensor& grids, std::int64_t start) {
    return qwenRopePositions(ids, config.image_token_id, config.video_token_id,
                             config.vision.spatial_merge_size, grids, start);
}

torch::Tensor qwenRopePositions(const torch::Tensor& ids, std::int64_t image_token_id,
                                std::int64_t video_token_id, std::int64_t m,
                                const torch::Tensor& grids, std::int64_t start) {
    if (ids.dim() != 1)
        throw Error("rope positions need a 1-D tensor of token ids");
    auto idc = ids.to(torch::kCPU, torch::kInt64).contiguous();
    const auto* id = idc.data_ptr<std::int64_t>();
    const std::int64_t n = idc.size(0);
    const auto images = grids.defined() && grids.numel() > 0
                            ? gridRows(grids)
                            : std::vector<std::array<std::int64_t, 3>>{};
    auto out = torch::empty({3, n}, torch::kInt64);
    auto* t_pos = out[0].data_ptr<std::int64_t>();
    auto* h_pos = t_pos + n;
    auto* w_pos = h_pos + n;
    std::int64_t next = start;
    std::size_t image = 0;
    for (std::int64_t i = 0; i < n;) {
        if (id[i] == video_token_id && video_token_id != image_token_id)
            throw Error("the prompt holds video tokens; this build places images only");
        if (id[i] != image_token_id) {
            t_pos[i] = h_pos[i] = w_pos[i] = next++;
            ++i;
            continue;
        }
        if (image >= images.size())
            throw Error("the prompt has more images than the " +
                        str(static_cast<std::int64_t>(images.size())) + " image grids given");
        const auto [gt, gh, gw] = images[image++];
        const std::int64_t rows = gh / m, cols = gw / m, count = gt * rows * cols;
        if (i + count > n)
            throw Error("image " + str(static_cast<std::int64_t>(image)) + " needs " + str(count) +
                        " image tokens, but the prompt ends after " + str(n - i));
        for (std::int64_t k = 0; k < count; ++k) {
            if (id[i + k] != image_token_id)
                throw Error("image " + str(static_cast<std::int64_t>(image)) + " needs " +
                            str(count) + " image tokens in a row, but the prompt has " + str(k));
            const std::int64_t f = k / (rows * cols), r = (k / cols) % rows, c = k % cols;
            t_pos[i + k] = next + f;
            h_pos[i + k] = next + r;
            w_pos[i + k] = next + c;
        }
        i += count;
        next += std::max(rows, cols);
    }
    if (image != images.size())
        throw Error("the prompt has " + str(static_cast<std::int64_t>(image)) + " images but " +
                    str(static_cast<std::int64_t>(images.size())) + " image grids were given");
    return out;
}

// ---------------------------------------------------------------------------------------------
// The vision tower

Qwen2VLVisionModel::Qwen2VLVisionModel(const Qwen2VLVisionConfig& c, WeightLoader& w,
                                       const std::string& prefix)
    : config_(c) {
    const std::int64_t hidden = c.hidden_size, inter = c.intermediate_size, out = c.out_hidden_size;
    if (hidden <= 0 || c.num_heads <= 0 || hidden % c.num_heads != 0 ||
        (hidden / c.num_heads) % 4 != 0)
        throw Error("vision_config: hidden_size " + str(hidden) + " and num_heads " +
                    str(c.num_heads) +
                    " do not give a head size that is a multiple of 4 (2-D rotary positions)");
    if (c.patch_size <= 0 || c.spatial_merge_size <= 0 || c.temporal_patch_size <= 0 ||
        inter <= 0 || out <= 0)
        throw Error("vision_config: sizes must be positive");
    if (c.window_size > 0 && c.window_size / c.spatial_merge_size / c.patch_size < 1)
        throw Error("vision_config: window_size " + str(c.window_size) +
                    " is smaller than one merged patch (" +
                    str(std::int64_t(c.patch_size) * c.spatial_merge_size) + " pixels)");
    if (!isKnownActivation(c.hidden_act))
        throw Error("vision_config: hidden_act '" + c.hidden_act + "' is not implemented");
    const std::int64_t patch_values =
        std::int64_t(c.in_channels) * c.temporal_patch_size * c.patch_size * c.patch_size;
    patch_embed_ =
        w.take(prefix + ".patch_embed.proj.weight",
               {hidden, c.in_channels, c.temporal_patch_size, c.patch_size, c.patch_size})
            .reshape({hidden, patch_values});
    rotary_ = Rotary::make(static_cast<int>(hidden / c.num_heads / 2), 10000.0, w.device());
    const bool layer_norm = !c.gated_mlp; // Qwen2-VL normalizes with LayerNorm (weight and bias)
    for (int i = 0; i < c.depth; ++i) {
        const std::string b = prefix + ".blocks." + std::to_string(i) + ".";
        QwenVisionBlock blk;
        blk.norm1_weight = w.take(b + "norm1.weight", {hidden});
        blk.norm2_weight = w.take(b + "norm2.weight", {hidden});
        if (layer_norm) {
            blk.norm1_bias = w.take(b + "norm1.bias", {hidden});
            blk.norm2_bias = w.take(b + "norm2.bias", {hidden});
        }
        blk.qkv = w.linear(b + "attn.qkv", hidden, 3 * hidden, true);
        blk.proj = w.linear(b + "attn.proj", hidden, hidden, true);
        if (c.gated_mlp) {
            blk.gate_up = w.fusedLinear({b + "mlp.gate_proj", b + "mlp.up_proj"}, hidden,
                                        {inter, inter}, true);
            blk.down = w.linear(b + "mlp.down_proj", inter, hidden, true);
        } else {
            blk.fc1 = w.linear(b + "mlp.fc1", hidden, inter, true);
            blk.fc2 = w.linear(b + "mlp.fc2", inter, hidden, true);
        }
        blocks_.push_back(std::move(blk));
    }
    const std::int64_t merged = hidden * c.spatial_merge_size * c.spatial_merge_size;
    ln_q_weight_ = w.take(prefix + ".merger.ln_q.weight", {hidden});
    if (layer_norm)
        ln_q_bias_ = w.take(prefix + ".merger.ln_q.bias", {hidden});
    merger_1_ = w.linear(prefix + ".merger.mlp.0", merged, merged, true);
    merger_2_ = w.linear(prefix + ".merger.mlp.2", merged, out, true);
}

torch::Tensor Qwen2VLVisionModel::forward(const torch::Tensor& flat,
                                          const torch::Tensor& grid_thw) const {
    const std::int64_t m = config_.spatial_merge_size, unit = m * m;
    const auto grids = qwenVisionGrids(grid_thw, m);
    const auto dev = patch_embed_.device();
    const auto long_opts = torch::dtype(torch::kInt64);
    std::int64_t total = 0;
    for (const auto& [t, h, w] : grids)
        total += t * h * w;
    if (flat.dim() != 2 || flat.size(0) != total || flat.size(1) != patch_embed_.size(1))
        throw Error("Qwen2-VL pixel values must be [" + str(total) + ", " +
                    str(patch_embed_.size(1)) + "] for these image grids");

    // Per image: the full-attention segments (one per frame) and, with windows, the order of
    // the merge blocks window by window and the windows' boundaries (windows over the merged
    // grid; the padding of the last row and column of windows is dropped, and so are windows
    // left empty).
    std::vector<std::int64_t> order;
    std::vector<std::int64_t> full{0}, windows{0};
    const std::int64_t window =
        config_.window_size > 0 ? config_.window_size / m / config_.patch_size : 0;
    std::int64_t blocks_before = 0;
    for (const auto& [t, h, w] : grids) {
        for (std::int64_t f = 0; f < t; ++f)
            full.push_back(full.back() + h * w);
        if (window == 0)
            continue;
        const std::int64_t gh = h / m, gw = w / m;
        const std::int64_t nh = (gh + window - (gh % window)) / window,
                           nw = (gw + window - (gw % window)) / window;
        for (std::int64_t f = 0; f < t; ++f)
            for (std::int64_t wy = 0; wy < nh; ++wy)
                for (std::int64_t wx = 0; wx < nw; ++wx) {
                    std::int64_t count = 0;
                    for (std::int64_t y = wy * window; y < std::min(gh, (wy + 1) * window); ++y)
                        for (std::int64_t x = wx * window; x < std::min(gw, (wx + 1) * window);
                             ++x) {
                            order.push_back(blocks_before + (f * gh + y) * gw + x);
                            ++count;
                        }
                    if (count > 0)
                        windows.push_back(windows.back() + count * unit);
                }
        blocks_before += t * gh * gw;
    }
    auto [cos, sin] = qwenVisionRotary(rotary_, grids, m, dev);

    auto hidden =
        models::linear(flat.to(dev, patch_embed_.scalar_type()), patch_embed_); // [S, hidden]
    torch::Tensor window_order;
    if (window > 0) {
        window_order = torch::tensor(order, long_opts).to(dev);
        auto by_window = [&](const torch::Tensor& x) {
            return x.view({total / unit, unit, x.size(1)})
                .index_select(0, window_order)
                .reshape({total, x.size(1)});
        };
        hidden = by_window(hidden);
        cos = by_window(cos);
        sin = by_window(sin);
    }
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
        checkInterrupt();
        const bool whole =
            window == 0 ||
            std::find(config_.fullatt_block_indexes.begin(), config_.fullatt_block_indexes.end(),
                      static_cast<int>(i)) != config_.fullatt_block_indexes.end();
        hidden = qwenVisionBlock(blocks_[i], config_, hidden, cos, sin, whole ? full : windows);
    }
    auto normed = ln_q_bias_.defined() ? layerNorm(hidden, ln_q_weight_, ln_q_bias_, config_.norm_eps)
                                       : rmsNorm(hidden, ln_q_weight_, config_.norm_eps);
    auto merged = normed.reshape({total / unit, hidden.size(1) * unit});
    merged = merger_2_(at::gelu(merger_1_(merged)));
    if (window > 0) // back to the processor's order
        merged = merged.index_select(0, torch::argsort(window_order));
    return merged;
}

// ---------------------------------------------------------------------------------------------
// The model

namespace {

// Where a checkpoint keeps the vision tower, the decoder and the head.
struct Qwen2VLTensorNames {
    std::string vision, text, lm_head;
    static Qwen2VLTensorNames detect(const WeightSource& w) {
        if (w.contains("model.visual.patch_embed.proj.weight")) // transformers 5
            return {"model.visual", "model.language_model", "lm_head.weight"};
        if (w.contains("visual.patch_embed.proj.weight")) // transformers 4
            return {"visual", "model", "lm_head.weight"};
        throw Error(
            "the weights are not a Qwen2-VL checkpoint's: no visual.patch_embed.proj.weight "
            "(nor model.visual.patch_embed.proj.weight)");
    }
};

} // namespace

Qwen2VLModel::Qwen2VLModel(const Qwen2VLConfig& config, const WeightSource& weights,
                           torch::Device device, torch::ScalarType dtype, const Quantization& quantization,
                           torch::ScalarType vision_dtype)
    : LlamaBackedModel(device, dtype, vision_dtype), config_(config) {
    if (config.vision.out_hidden_size != config.text.hidden_size)
        throw Error("config.json: the vision merger's output (" +
                    str(config.vision.out_hidden_size) + ") is not the text model's hidden_size (" +
                    str(config.text.hidden_size) + ")");
    const auto names = Qwen2VLTensorNames::detect(weights);
    torch::NoGradGuard no_grad;
    WeightLoader w(weights, device, dtype), wv(weights, device, vision_dtype_);
    vision_ = std::make_unique<Qwen2VLVisionModel>(config.vision, wv, names.vision);
    text_ = std::make_unique<LlamaDecoder>(config.text, w, names.text, names.lm_head, quantization);
    parameters_ = w.parameterCount() + wv.parameterCount();
}

torch::Tensor Qwen2VLModel::encodePatches(const torch::Tensor& flat,
                                          const torch::Tensor& grid_thw) {
    return vision_->forward(flat.to(device_, vision_dtype_), grid_thw).to(dtype_);
}

torch::Tensor Qwen2VLModel::encodeImages(const torch::Tensor& pixel_values, const torch::Tensor&) {
    auto patches = flattenPatches(pixel_values, config_.vision);
    return encodePatches(patches.flat, patches.grid_thw).unsqueeze(0);
}

std::unique_ptr<VisionLanguageModel> makeQwen2VL(const Qwen2VLConfig& config,
                                                 const WeightSource& weights, torch::Device device,
                                                 torch::ScalarType dtype, const Quantization& quantization,
                                                 torch::ScalarType vision_dtype) {
    return std::make_unique<Qwen2VLModel>(config, weights, device, dtype, quantization, vision_dtype);
}

} // namespace vqa::models
