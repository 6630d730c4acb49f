// Image preprocessing of the Idefics3 / SmolVLM family, as transformers' Idefics3ImageProcessor
// (PIL backend) and Idefics3Processor do it:
//   1. resize so the longest edge is size.longest_edge (small images are enlarged too), the
//      other edge even, aspect kept;
//   2. resize again so both edges are multiples of max_image_size.longest_edge (the tile);
//   3. cut into rows x cols tiles of tile x tile, row-major, plus a global view: the whole
//      image resized to tile x tile; an image that is a single tile is only the global view;
//   4. rescale to [0,1], normalize with image_mean / image_std, CHW float32.
// Resizing is Pillow-exact (engine/vision/PilResize.h) and the arithmetic of rescale and
// normalize follows numpy's float32 steps, so pixel values equal the reference's bit for bit
// on the same RGB input (the tests allow 1e-6).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "engine/Types.h"
#include "engine/vision/PilResize.h"
#include "engine/vision/PixelNormalization.h"
#include "models/Config.h"

namespace vqa {

// preprocessor_config.json + processor_config.json. Absent keys take the defaults of
// transformers' Idefics3ImageProcessor / Idefics3Processor.
struct Idefics3ProcessorConfig {
    bool do_resize = true;
    int longest_edge = 4 * 364; // size.longest_edge
    int tile_size = 364;        // max_image_size.longest_edge
    PilFilter resample = PilFilter::Lanczos;
    bool do_image_splitting = true;
    PixelNormalization normalization;  // image_mean and image_std 0.5
    int image_seq_len = 169; // <image> tokens per tile or global view

    // Reads <model_dir>/preprocessor_config.json (required) and processor_config.json
    // (optional; image_seq_len may also sit in preprocessor_config.json). Throws vqa::Error.
    // `types`: the image_processor_type names accepted (SmolVLM2's is SmolVLMImageProcessor).
    static Idefics3ProcessorConfig load(const std::string& model_dir,
                                        const std::vector<std::string>& types = {"Idefics3ImageProcessor"});
};

// A rectangle in the original image's pixels (x right, y down).
struct ImageRect {
    double x = 0, y = 0, width = 0, height = 0;
};

struct ProcessedImage {
    torch::Tensor pixel_values;         // [N, 3, tile, tile] float32; tiles row-major, then global
    torch::Tensor pixel_attention_mask; // [N, tile, tile] bool, true where pixels are real
    int rows = 0, cols = 0;             // tile grid; 0/0 when the image is only the global view
    int original_width = 0, original_height = 0;
    int resized_width = 0, resized_height = 0; // the canvas the tiles are cut from
    std::vector<ImageRect> tiles; // rows*cols rectangles, row-major, in original pixels
    ImageRect global_view;        // the global view's rectangle (the whole image)
    int numFrames() const { return rows * cols + 1; }
};

class Idefics3ImageProcessor {
  public:
    explicit Idefics3ImageProcessor(Idefics3ProcessorConfig config);
    const Idefics3ProcessorConfig& config() const { return config_; }

    // Throws vqa::Error for an empty image. `longest_edge` > 0 resizes to that instead of
    // size.longest_edge (the image detail: longestEdgeWithin), as the reference processor does
    // when called with size={"longest_edge": N}.
    ProcessedImage process(const RgbImage& image, int longest_edge = 0) const;

    // The sizes the two resize steps produce, (width, height), without doing them.
    std::pair<int, int> resizedSize(int width, int height, int longest_edge = 0) const;
    std::pair<int, int> tileCanvasSize(int width, int height) const;

    // The frames (tiles and the global view, or the global view alone) and the image tokens
    // a width x height image makes when resized to `longest_edge` (0: size.longest_edge).
    int frames(int width, int height, int longest_edge = 0) const;
    int imageTokens(int width, int height, int longest_edge = 0) const { return frames(width, height, longest_edge) * config_.image_seq_len; }
    // The image detail: the longest edge that keeps such an image within `max_image_tokens`,
    // size.longest_edge itself when that fits (or the limit is 0), else the largest multiple
    // of the tile below it that fits, else one tile (the global view alone: the least a model
    // sees of an image).
    int longestEdgeWithin(int width, int height, int max_image_tokens) const;

    // The text Idefics3Processor puts in place of one "<image>" in the prompt.
    std::string expandImageTokens(int rows, int cols) const;

  private:
    Idefics3ProcessorConfig config_;
};

// (width, height) with the longest edge made `max_len` and the other edge scaled to keep the
// aspect, truncated, then made even (transformers' _resize_output_size_rescale_to_max_len, and
// SmolVLM2's video frames' get_resize_output_image_size); at least 1.
std::pair<int, int> rescaleToLongestEdge(int width, int height, int max_len);

// The text Idefics3Processor substitutes for "<image>": for each tile row, per tile
// "<fake_token_around_image><row_R_col_C>" + image_seq_len x "<image>", then "\n"; then
// "\n<fake_token_around_image><global-img>" + image_seq_len x "<image>" +
// "<fake_token_around_image>". With rows == cols == 0 only the global part, without the
// leading "\n".
std::string expandIdefics3ImageTokens(int rows, int cols, int image_seq_len);

// Throws vqa::Error naming `model_dir` when the processor files and config.json disagree: the
// tile must be the vision encoder's image_size, and image_seq_len must be the number of tokens
// the connector makes per tile, ((image_size / patch_size) / scale_factor)^2.
void checkIdefics3Consistency(const models::Idefics3Config& model,
                              const Idefics3ProcessorConfig& processor,
                              const std::string& model_dir);

} // namespace vqa
