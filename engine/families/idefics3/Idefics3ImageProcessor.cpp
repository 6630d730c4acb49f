#include "engine/families/idefics3/Idefics3ImageProcessor.h"

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "models/base/Error.h"
#include "engine/io/JsonSettings.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace vqa {

namespace {

// transformers caps any resize at 4k (MAX_IMAGE_SIZE in image_processing_idefics3).
constexpr int kMaxImageSize = 4096;

// _resize_output_size_rescale_to_max_len, then _resize_output_size_scale_below_upper_bound.
// Same double arithmetic and truncations as the Python code, so sizes agree exactly.
std::pair<int, int> resizeToLongestEdge(int width, int height, int max_len) {
    auto [w, h] = rescaleToLongestEdge(width, height, max_len);
    const double aspect = static_cast<double>(w) / h;
    if (w >= h && w > kMaxImageSize) {
        w = kMaxImageSize;
        h = static_cast<int>(w / aspect);
    } else if (h > w && h > kMaxImageSize) {
        h = kMaxImageSize;
        w = static_cast<int>(h * aspect);
    }
    return {std::max(w, 1), std::max(h, 1)};
}

} // namespace

std::pair<int, int> rescaleToLongestEdge(int width, int height, int max_len) {
    const double aspect = static_cast<double>(width) / height;
    int w = width, h = height;
    if (w >= h) {
        w = max_len;
        h = static_cast<int>(w / aspect);
        if (h % 2 != 0)
            ++h;
    } else {
        h = max_len;
        w = static_cast<int>(h * aspect);
        if (w % 2 != 0)
            ++w;
    }
    return {std::max(w, 1), std::max(h, 1)};
}

Idefics3ProcessorConfig Idefics3ProcessorConfig::load(const std::string& model_dir,
                                                      const std::vector<std::string>& types) {
    Idefics3ProcessorConfig c;
    const auto [j, pre, proc_json, proc] = readImageProcessorSettings(model_dir, types, "an Idefics3 model");
    c.do_resize = settingOr<bool>(j, "do_resize", c.do_resize, pre);
    c.longest_edge = longestEdgeSetting(j, "size", c.longest_edge, pre);
    c.tile_size = longestEdgeSetting(j, "max_image_size", c.tile_size, pre);
    c.resample = pilFilterFromNumber(settingOr<int>(j, "resample", 1, pre));
    c.do_image_splitting = settingOr<bool>(j, "do_image_splitting", c.do_image_splitting, pre);
    c.normalization.read(j, pre);
    c.image_seq_len = settingOr<int>(j, "image_seq_len", c.image_seq_len, pre);

    if (proc_json.is_object())
        c.image_seq_len = settingOr<int>(proc_json, "image_seq_len", c.image_seq_len, proc);
    if (c.image_seq_len < 1)
        throw Error(model_dir + ": image_seq_len is " + std::to_string(c.image_seq_len) +
                    ", but it must be positive");
    return c;
}

Idefics3ImageProcessor::Idefics3ImageProcessor(Idefics3ProcessorConfig config)
    : config_(std::move(config)) {}

std::pair<int, int> Idefics3ImageProcessor::resizedSize(int width, int height, int longest_edge) const {
    if (!config_.do_resize)
        return {width, height};
    return resizeToLongestEdge(width, height, longest_edge > 0 ? longest_edge : config_.longest_edge);
}

int Idefics3ImageProcessor::frames(int width, int height, int longest_edge) const {
    const auto [rw, rh] = resizedSize(width, height, longest_edge);
    const auto [cw, ch] = tileCanvasSize(rw, rh);
    const int t = config_.tile_size;
    if (config_.do_image_splitting && (ch > t || cw > t))
        return ((ch - t) / t + 1) * ((cw - t) / t + 1) + 1;
    return 1;
}

int Idefics3ImageProcessor::longestEdgeWithin(int width, int height, int max_image_tokens) const {
    const int configured = config_.longest_edge;
    if (max_image_tokens <= 0 || !config_.do_resize || imageTokens(width, height) <= max_image_tokens)
        return configured;
    const int t = config_.tile_size;
    for (int edge = (configured - 1) / t * t; edge > t; edge -= t)
        if (imageTokens(width, height, edge) <= max_image_tokens)
            return edge;
    return std::min(t, configured);
}

// resize_for_vision_encoder: both edges up to multiples of the tile size.
std::pair<int, int> Idefics3ImageProcessor::tileCanvasSize(int width, int height) const {
    const int t = config_.tile_size;
    if (!config_.do_image_splitting)
        return {t, t};
    const double aspect = static_cast<double>(width) / height;
    int w = width, h = height;
    if (w >= h) {
        w = static_cast<int>(std::ceil(static_cast<double>(w) / t)) * t;
        h = static_cast<int>(w / aspect);
        h = static_cast<int>(std::ceil(static_cast<double>(h) / t)) * t;
    } else {
        h = static_cast<int>(std::ceil(static_cast<double>(h) / t)) * t;
        w = static_cast<int>(h * aspect);
        w = static_cast<int>(std::ceil(static_cast<double>(w) / t)) * t;
    }
    return {w, h};
}

ProcessedImage Idefics3ImageProcessor::process(const RgbImage& image, int longest_edge) const {
    if (image.empty() ||
        image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 3)
        throw Error("the image is empty or its pixel buffer does not match its size");
    const auto& c = config_;
    const int t = c.tile_size;

    ProcessedImage out;
    out.original_width = image.width;
    out.original_height = image.height;

    auto [rw, rh] = resizedSize(image.width, image.height, longest_edge);
    RgbImage resized = c.do_resize ? pilResize(image, rw, rh, c.resample) : image;
    auto [cw, ch] = tileCanvasSize(resized.width, resized.height);
    RgbImage canvas = pilResize(resized, cw, ch, c.resample);
    out.resized_width = cw;
    out.resized_height = ch;

    // The frames, as (source image, x, y) crops of t x t.
    struct Crop {
        const RgbImage* src;
        int x, y;
    };
    std::vector<Crop> crops;
    RgbImage global;
    if (c.do_image_splitting && (ch > t || cw > t)) {
        out.rows = (ch - t) / t + 1;
        out.cols = (cw - t) / t + 1;
        for (int r = 0; r < out.rows; ++r)
            for (int col = 0; col < out.cols; ++col)
                crops.push_back({&canvas, col * t, r * t});
        global = pilResize(canvas, t, t, c.resample);
        crops.push_back({&global, 0, 0});
    } else {
        crops.push_back({&canvas, 0, 0});
    }

    const auto lut = c.normalization.table();  // per channel and byte value

    const auto n = static_cast<std::int64_t>(crops.size());
    out.pixel_values = torch::zeros({n, 3, t, t}, torch::kFloat32);
    out.pixel_attention_mask = torch::zeros({n, t, t}, torch::kBool);
    float* pv = out.pixel_values.data_ptr<float>();
    bool* pm = out.pixel_attention_mask.data_ptr<bool>();
    for (std::int64_t f = 0; f < n; ++f) {
        const Crop& cr = crops[f];
        // A crop may reach past the source only if the canvas is smaller than a tile; the rest
        // stays zero with mask false, which is the reference's padding.
        const int h = std::min(t, cr.src->height - cr.y);
        const int w = std::min(t, cr.src->width - cr.x);
        for (int y = 0; y < h; ++y) {
            const std::uint8_t* row =
                cr.src->pixels.data() +
                (static_cast<std::size_t>(cr.y + y) * cr.src->width + cr.x) * 3;
            for (int k = 0; k < 3; ++k) {
                float* dst = pv + ((f * 3 + k) * t + y) * static_cast<std::int64_t>(t);
                for (int x = 0; x < w; ++x)
                    dst[x] = lut[k][row[3 * x + k]];
            }
            bool* m = pm + (f * t + y) * static_cast<std::int64_t>(t);
            std::fill(m, m + w, true);
        }
    }

    // Layout in original pixels: the canvas stretches the original to cw x ch.
    const double sx = static_cast<double>(image.width) / cw;
    const double sy = static_cast<double>(image.height) / ch;
    for (int r = 0; r < out.rows; ++r)
        for (int col = 0; col < out.cols; ++col)
            out.tiles.push_back({col * t * sx, r * t * sy, t * sx, t * sy});
    out.global_view = {0, 0, static_cast<double>(image.width), static_cast<double>(image.height)};
    return out;
}

std::string Idefics3ImageProcessor::expandImageTokens(int rows, int cols) const {
    return expandIdefics3ImageTokens(rows, cols, config_.image_seq_len);
}

std::string expandIdefics3ImageTokens(int rows, int cols, int image_seq_len) {
    static const std::string fake = "<fake_token_around_image>";
    std::string images;
    images.reserve(static_cast<std::size_t>(image_seq_len) * 7);
    for (int i = 0; i < image_seq_len; ++i)
        images += "<image>";
    std::string out;
    if (rows > 0 || cols > 0) {
        for (int r = 0; r < rows; ++r) {
            for (int c = 0; c < cols; ++c) {
                out += fake;
                out += "<row_" + std::to_string(r + 1) + "_col_" + std::to_string(c + 1) + ">";
                out += images;
            }
            out += "\n";
        }
        out += "\n";
    }
    out += fake;
    out += "<global-img>";
    out += images;
    out += fake;
    return out;
}

void checkIdefics3Consistency(const models::Idefics3Config& model,
                              const Idefics3ProcessorConfig& processor,
                              const std::string& model_dir) {
    if (processor.tile_size != model.vision.image_size)
        throw Error(model_dir + ": preprocessor_config.json cuts tiles of " +
                    std::to_string(processor.tile_size) + " pixels (max_image_size), but the " +
                    "vision encoder in config.json takes " +
                    std::to_string(model.vision.image_size) + "x" +
                    std::to_string(model.vision.image_size) + " images");
    const int side = model.vision.image_size / model.vision.patch_size / model.scale_factor;
    if (processor.image_seq_len != side * side)
        throw Error(model_dir + ": image_seq_len is " + std::to_string(processor.image_seq_len) +
                    ", but config.json's vision encoder and scale_factor make " +
                    std::to_string(side * side) + " tokens per tile");
}

} // namespace vqa
