// Image preprocessing of the Qwen2-VL / Qwen2.5-VL family, as transformers' slow
// Qwen2VLImageProcessor (PIL backend) does it:
//   1. smart resize: both edges multiples of patch_size * merge_size, the area within
//      [min_pixels, max_pixels], the aspect ratio kept as nearly as that allows (images whose
//      aspect ratio is over 200:1 are refused, as the reference refuses them);
//   2. resize to that size, Pillow-exact (bicubic by default; engine/vision/PilResize.h);
//   3. rescale and normalize with numpy's float32 steps (OpenAI CLIP's mean and std), CHW.
// The result is one frame [1, 3, H, W]: the reference then repeats a still image
// temporal_patch_size times and flattens it into patches ordered (t, h / merge, w / merge,
// merge, merge) x (C, T, P, P); the model does that itself from the frame. The pixel values
// equal the reference's bit for bit on the same RGB input (the tests allow 1e-6).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <torch/torch.h>

#include "engine/Types.h"
#include "engine/vision/PilResize.h"
#include "engine/vision/PixelNormalization.h"

namespace vqa {

// preprocessor_config.json, or processor_config.json's "image_processor" (transformers 5).
// Absent keys take the defaults of transformers' Qwen2VLImageProcessor.
struct Qwen2VLProcessorConfig {
    bool do_resize = true;
    // The area bounds of the smart resize: min_pixels / max_pixels (top level, as the
    // checkpoints on the Hub write them; they win), else size.shortest_edge /
    // size.longest_edge (transformers 5), else size.min_pixels / size.max_pixels (transformers
    // 4's saved form).
    std::int64_t min_pixels = 56 * 56;
    std::int64_t max_pixels = 28 * 28 * 1280;
    int patch_size = 14;
    int merge_size = 2;
    int temporal_patch_size = 2;
    PilFilter resample = PilFilter::Bicubic;
    PixelNormalization normalization{
        .image_mean = {0.48145466, 0.4578275, 0.40821073},  // OPENAI_CLIP_MEAN
        .image_std = {0.26862954, 0.26130258, 0.27577711}}; // OPENAI_CLIP_STD

    // The factor both resized edges are multiples of: patch_size * merge_size (28).
    int factor() const { return patch_size * merge_size; }

    // Reads <model_dir>'s settings. Throws vqa::Error naming the file and key for a value out
    // of range or of the wrong type, or another image_processor_type.
    static Qwen2VLProcessorConfig load(const std::string& model_dir);
};

// A request's override of the area bounds (the window's "detail" setting: fewer pixels, fewer
// image tokens, faster). An absent bound keeps the processor's.
struct Qwen2VLPixelBounds {
    std::optional<std::int64_t> min_pixels;
    std::optional<std::int64_t> max_pixels;
};

struct Qwen2VLProcessedImage {
    torch::Tensor pixel_values; // [1, 3, resized_height, resized_width] float32: one frame
    int original_width = 0, original_height = 0;
    int resized_width = 0, resized_height = 0;
    // image_grid_thw: patches along time (1 for a still image), height and width.
    int grid_t = 1, grid_h = 0, grid_w = 0;
    int merge_size = 2;
    // The <|image_pad|> tokens the processor puts in place of the image's one placeholder:
    // one per merged patch, grid_t * grid_h * grid_w / merge_size^2.
    int numImageTokens() const { return grid_t * grid_h * grid_w / (merge_size * merge_size); }
};

// transformers' smart_resize: the (height, width) an image of height x width is resized to.
// Python's round-half-to-even and float arithmetic, step for step. Throws vqa::Error for an
// empty size, bounds that are not positive, or an aspect ratio over 200:1 (a message that
// names the image's size, the limit, and what to do).
std::pair<int, int> qwen2VLSmartResize(int height, int width, int factor, std::int64_t min_pixels,
                                       std::int64_t max_pixels);

class Qwen2VLImageProcessor {
  public:
    explicit Qwen2VLImageProcessor(Qwen2VLProcessorConfig config);
    const Qwen2VLProcessorConfig& config() const { return config_; }

    // Throws vqa::Error for an empty image, an aspect ratio over 200:1, bounds that are not
    // positive, or (with do_resize false) edges that are not multiples of factor().
    Qwen2VLProcessedImage process(const RgbImage& image,
                                  const Qwen2VLPixelBounds& bounds = {}) const;

    // The resize step's output (width, height) for an input of this size, without resizing.
    std::pair<int, int> resizedSize(int width, int height,
                                    const Qwen2VLPixelBounds& bounds = {}) const;

  private:
    Qwen2VLProcessorConfig config_;
};

} // namespace vqa
