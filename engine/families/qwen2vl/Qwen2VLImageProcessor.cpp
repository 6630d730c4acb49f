#include "engine/families/qwen2vl/Qwen2VLImageProcessor.h"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "engine/io/JsonSettings.h"
#include "models/base/Error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace vqa {

namespace {

// The largest edge a resize may produce: far beyond any real max_pixels, it keeps a bad
// min_pixels from asking for an absurd image.
constexpr std::int64_t kMaxEdge = 1 << 16;

std::int64_t positiveSetting(const json& j, const char* key, const std::string& name,
                             std::int64_t fallback, const fs::path& path) {
    if (!j.contains(key) || j[key].is_null())
        return fallback;
    const auto& v = j[key];
    if (!v.is_number_integer() || v.get<std::int64_t>() < 1)
        throw Error(path.string() + ": " + name + " must be a positive integer, but it is " +
                    v.dump());
    return v.get<std::int64_t>();
}

int smallSetting(const json& j, const char* key, int fallback, const fs::path& path) {
    const auto v = positiveSetting(j, key, key, fallback, path);
    if (v > 1024)
        throw Error(path.string() + ": " + key + " is " + std::to_string(v) +
                    ", which is not a plausible size");
    return static_cast<int>(v);
}

void checkBounds(std::int64_t min_pixels, std::int64_t max_pixels) {
    if (min_pixels < 1 || max_pixels < 1)
        throw Error("the image's pixel bounds must be positive, but min_pixels is " +
                    std::to_string(min_pixels) + " and max_pixels is " +
                    std::to_string(max_pixels));
}

// Python's round() of a float: to nearest, halves to even.
double roundHalfEven(double x) {
    const int mode = std::fegetround();
    std::fesetround(FE_TONEAREST);
    const double r = std::nearbyint(x);
    std::fesetround(mode);
    return r;
}

} // namespace

Qwen2VLProcessorConfig Qwen2VLProcessorConfig::load(const std::string& model_dir) {
    Qwen2VLProcessorConfig c;
    const auto found =
        readImageProcessorSettings(model_dir, {"Qwen2VLImageProcessor", "Qwen2_5_VLImageProcessor"},
                                   "a Qwen2-VL or Qwen2.5-VL model");
    const json& j = found.settings;
    const fs::path& path = found.path;
    c.do_resize = settingOr<bool>(j, "do_resize", true, path);
    if (j.contains("size") && !j["size"].is_null()) {
        const json& s = j["size"];
        if (!s.is_object())
            throw Error(path.string() +
                        ": size must be {\"shortest_edge\": min_pixels, \"longest_edge\": "
                        "max_pixels}, but it is " +
                        s.dump());
        c.min_pixels = positiveSetting(s, "min_pixels", "size.min_pixels", c.min_pixels, path);
        c.max_pixels = positiveSetting(s, "max_pixels", "size.max_pixels", c.max_pixels, path);
        c.min_pixels =
            positiveSetting(s, "shortest_edge", "size.shortest_edge", c.min_pixels, path);
        c.max_pixels = positiveSetting(s, "longest_edge", "size.longest_edge", c.max_pixels, path);
    }
    c.min_pixels = positiveSetting(j, "min_pixels", "min_pixels", c.min_pixels, path);
    c.max_pixels = positiveSetting(j, "max_pixels", "max_pixels", c.max_pixels, path);
    c.patch_size = smallSetting(j, "patch_size", c.patch_size, path);
    c.merge_size = smallSetting(j, "merge_size", c.merge_size, path);
    c.temporal_patch_size = smallSetting(j, "temporal_patch_size", c.temporal_patch_size, path);
    c.resample = pilFilterFromNumber(settingOr<int>(j, "resample", 3, path));
    c.normalization.read(j, path);
    return c;
}

std::pair<int, int> qwen2VLSmartResize(int height, int width, int factor, std::int64_t min_pixels,
                                       std::int64_t max_pixels) {
    if (height < 1 || width < 1)
        throw Error("the image is empty (" + std::to_string(width) + "x" + std::to_string(height) +
                    " pixels)");
    if (factor < 1)
        throw Error("the resize factor must be positive");
    checkBounds(min_pixels, max_pixels);
    const double ratio = static_cast<double>(std::max(height, width)) / std::min(height, width);
    if (ratio > 200) {
        char shown[32];
        std::snprintf(shown, sizeof shown, "%.0f", ratio);
        throw Error("the image is " + std::to_string(width) + "x" + std::to_string(height) +
                    " pixels, an aspect ratio of " + shown +
                    ":1; Qwen2-VL models accept at most 200:1 (as the reference processor does). "
                    "Crop the image, "
                    "or pad it nearer to a square, and try again");
    }
    const double h = height, w = width, f = factor;
    std::int64_t h_bar = static_cast<std::int64_t>(roundHalfEven(h / f)) * factor;
    std::int64_t w_bar = static_cast<std::int64_t>(roundHalfEven(w / f)) * factor;
    if (h_bar * w_bar > max_pixels) {
        const double beta = std::sqrt((h * w) / static_cast<double>(max_pixels));
        h_bar = std::max<std::int64_t>(factor, static_cast<std::int64_t>(std::floor(h / beta / f)) *
                                                   factor);
        w_bar = std::max<std::int64_t>(factor, static_cast<std::int64_t>(std::floor(w / beta / f)) *
                                                   factor);
    } else if (h_bar * w_bar < min_pixels) {
        const double beta = std::sqrt(static_cast<double>(min_pixels) / (h * w));
        const double hc = std::ceil(h * beta / f), wc = std::ceil(w * beta / f);
        if (hc * f > kMaxEdge || wc * f > kMaxEdge)
            throw Error("min_pixels " + std::to_string(min_pixels) + " asks for an image over " +
                        std::to_string(kMaxEdge) + " pixels on an edge");
        h_bar = static_cast<std::int64_t>(hc) * factor;
        w_bar = static_cast<std::int64_t>(wc) * factor;
    }
    if (h_bar > kMaxEdge || w_bar > kMaxEdge)
        throw Error("the resized image would be over " + std::to_string(kMaxEdge) +
                    " pixels on an edge");
    return {static_cast<int>(h_bar), static_cast<int>(w_bar)};
}

Qwen2VLImageProcessor::Qwen2VLImageProcessor(Qwen2VLProcessorConfig config)
    : config_(std::move(config)) {
    checkBounds(config_.min_pixels, config_.max_pixels);
}

std::pair<int, int> Qwen2VLImageProcessor::resizedSize(int width, int height,
                                                       const Qwen2VLPixelBounds& bounds) const {
    if (!config_.do_resize)
        return {width, height};
    const auto [h, w] = qwen2VLSmartResize(height, width, config_.factor(),
                                           bounds.min_pixels.value_or(config_.min_pixels),
                                           bounds.max_pixels.value_or(config_.max_pixels));
    return {w, h};
}

Qwen2VLProcessedImage Qwen2VLImageProcessor::process(const RgbImage& image,
                                                     const Qwen2VLPixelBounds& bounds) const {
    if (image.empty() ||
        image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 3)
        throw Error("the image is empty or its pixel buffer does not match its size");
    const auto& c = config_;
    const auto [rw, rh] = resizedSize(image.width, image.height, bounds);
    if (rw % c.factor() != 0 || rh % c.factor() != 0)
        throw Error("the image is " + std::to_string(image.width) + "x" +
                    std::to_string(image.height) +
                    " pixels; with do_resize false, Qwen2-VL needs both edges to be multiples of "
                    "patch_size x "
                    "merge_size (" +
                    std::to_string(c.factor()) + ")");
    const RgbImage resized =
        (rw == image.width && rh == image.height) ? image : pilResize(image, rw, rh, c.resample);

    const auto lut = c.normalization.table();
    Qwen2VLProcessedImage out;
    out.pixel_values = torch::empty({1, 3, rh, rw}, torch::kFloat32);
    float* pv = out.pixel_values.data_ptr<float>();
    const std::uint8_t* src = resized.pixels.data();
    for (int k = 0; k < 3; ++k) {
        float* dst = pv + static_cast<std::int64_t>(k) * rh * rw;
        const auto& table = lut[k];
        for (std::int64_t i = 0, n = static_cast<std::int64_t>(rh) * rw; i < n; ++i)
            dst[i] = table[src[i * 3 + k]];
    }
    out.original_width = image.width;
    out.original_height = image.height;
    out.resized_width = rw;
    out.resized_height = rh;
    out.grid_t = 1;
    out.grid_h = rh / c.patch_size;
    out.grid_w = rw / c.patch_size;
    out.merge_size = c.merge_size;
    return out;
}

} // namespace vqa
