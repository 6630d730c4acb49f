#include "engine/families/llava/ClipImageProcessor.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "models/base/Error.h"
#include "engine/io/JsonSettings.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace vqa {

namespace {

int positive(const json& v, const char* what, const fs::path& path) {
    if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > 65536)
        throw Error(path.string() + ": " + what + " must be a positive integer, but it is " + v.dump());
    return v.get<int>();
}

// Python's floor division, for the center crop's offsets.
int floorDiv(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace

ClipProcessorConfig ClipProcessorConfig::load(const std::string& model_dir) {
    return read(ClipProcessorConfig{}, model_dir, {"CLIPImageProcessor", "LlavaImageProcessor"}, "a LLaVA-1.5 model");
}

ClipProcessorConfig ClipProcessorConfig::loadClip(const std::string& model_dir) {
    return read(ClipProcessorConfig{}, model_dir, {"CLIPImageProcessor"}, "a CLIP model");
}

ClipProcessorConfig ClipProcessorConfig::loadSiglip(const std::string& model_dir) {
    // SiglipImageProcessor's defaults: a plain resize to 224 x 224, no crop, mean and std 0.5.
    ClipProcessorConfig d;
    d.shortest_edge = 0;
    d.resize_height = d.resize_width = 224;
    d.do_center_crop = false;
    d.normalization = PixelNormalization{};  // IMAGENET_STANDARD_MEAN / _STD: 0.5
    return read(d, model_dir, {"SiglipImageProcessor"}, "a SigLIP model");
}

ClipProcessorConfig ClipProcessorConfig::read(ClipProcessorConfig c, const std::string& model_dir,
                                              const std::vector<std::string>& types, const std::string& model) {
    const auto [j, pre, proc_json, proc] = readImageProcessorSettings(model_dir, types, model);
    c.do_pad = settingOr<bool>(j, "do_pad", c.do_pad, pre);
    c.do_resize = settingOr<bool>(j, "do_resize", true, pre);
    if (j.contains("size") && !j["size"].is_null()) {
        const auto& s = j["size"];
        if (s.is_number()) {
            c.shortest_edge = positive(s, "size", pre);
        } else if (s.is_object() && s.contains("shortest_edge")) {
            c.shortest_edge = positive(s["shortest_edge"], "size.shortest_edge", pre);
        } else if (s.is_object() && s.contains("height") && s.contains("width")) {
            c.shortest_edge = 0;
            c.resize_height = positive(s["height"], "size.height", pre);
            c.resize_width = positive(s["width"], "size.width", pre);
        } else {
            throw Error(pre.string() + ": size must be {\"shortest_edge\": n} or {\"height\": h, \"width\": w}, but it is " +
                        s.dump());
        }
    }
    c.resample = pilFilterFromNumber(settingOr<int>(j, "resample", 3, pre));
    c.do_center_crop = settingOr<bool>(j, "do_center_crop", c.do_center_crop, pre);
    if (j.contains("crop_size") && !j["crop_size"].is_null()) {
        const auto& s = j["crop_size"];
        if (s.is_number()) {
            c.crop_height = c.crop_width = positive(s, "crop_size", pre);
        } else if (s.is_object() && s.contains("height") && s.contains("width")) {
            c.crop_height = positive(s["height"], "crop_size.height", pre);
            c.crop_width = positive(s["width"], "crop_size.width", pre);
        } else {
            throw Error(pre.string() + ": crop_size must be {\"height\": h, \"width\": w}, but it is " + s.dump());
        }
    }
    c.normalization.read(j, pre);

    if (proc_json.is_object()) {
        c.patch_size = settingOr<int>(proc_json, "patch_size", 0, proc);
        c.num_additional_image_tokens = settingOr<int>(proc_json, "num_additional_image_tokens", 0, proc);
        c.vision_feature_select_strategy = settingOr<std::string>(proc_json, "vision_feature_select_strategy", "", proc);
        c.image_token = settingOr<std::string>(proc_json, "image_token", c.image_token, proc);
        if (c.patch_size < 0 || c.num_additional_image_tokens < 0 || c.image_token.empty())
            throw Error(proc.string() + ": patch_size, num_additional_image_tokens or image_token is out of range");
    }
    return c;
}

ClipImageProcessor::ClipImageProcessor(ClipProcessorConfig config) : config_(std::move(config)) {}

std::pair<int, int> ClipImageProcessor::resizedSize(int width, int height) const {
    const auto& c = config_;
    if (!c.do_resize)
        return {width, height};
    if (c.shortest_edge == 0)
        return {c.resize_width, c.resize_height};
    // get_resize_output_image_size(default_to_square=False): int(size * long / short).
    const bool wide = width > height;
    const int shorter = wide ? height : width, longer = wide ? width : height;
    const int new_long = static_cast<int>(static_cast<double>(c.shortest_edge) * longer / shorter);
    return wide ? std::pair{new_long, c.shortest_edge} : std::pair{c.shortest_edge, new_long};
}

ClipProcessedImage ClipImageProcessor::process(const RgbImage& image) const {
    if (image.empty() || image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 3)
        throw Error("the image is empty or its pixel buffer does not match its size");
    const auto& c = config_;

    // 1. Pad to a square, the image centred, with the mean colour.
    RgbImage canvas;
    int pad_x = 0, pad_y = 0;
    const RgbImage* source = &image;
    if (c.do_pad && image.width != image.height) {
        const int side = std::max(image.width, image.height);
        canvas.width = canvas.height = side;
        canvas.pixels.resize(static_cast<std::size_t>(side) * side * 3);
        std::uint8_t fill[3];
        for (int k = 0; k < 3; ++k)
            fill[k] = static_cast<std::uint8_t>(static_cast<int>(c.normalization.image_mean[k] * 255));  // Python's int()
        for (std::size_t i = 0; i < canvas.pixels.size(); i += 3)
            std::copy(fill, fill + 3, canvas.pixels.begin() + static_cast<std::ptrdiff_t>(i));
        pad_x = (side - image.width) / 2;
        pad_y = (side - image.height) / 2;
        for (int y = 0; y < image.height; ++y)
            std::copy_n(image.pixels.begin() + static_cast<std::ptrdiff_t>(y) * image.width * 3, image.width * 3,
                        canvas.pixels.begin() + (static_cast<std::ptrdiff_t>(y + pad_y) * side + pad_x) * 3);
        source = &canvas;
    }

    // 2. Resize.
    auto [rw, rh] = resizedSize(source->width, source->height);
    RgbImage resized = c.do_resize ? pilResize(*source, rw, rh, c.resample) : *source;

    // 3. Center crop: frame pixel (x, y) is resized pixel (x + left, y + top), zero outside.
    const int fw = c.do_center_crop ? c.crop_width : resized.width;
    const int fh = c.do_center_crop ? c.crop_height : resized.height;
    const int left = c.do_center_crop ? floorDiv(resized.width - fw, 2) : 0;
    const int top = c.do_center_crop ? floorDiv(resized.height - fh, 2) : 0;

    // 4. Rescale and normalize; what the crop adds beyond the image is the value of a zero byte.
    const auto lut = c.normalization.table();
    ClipProcessedImage out;
    out.pixel_values = torch::empty({1, 3, fh, fw}, torch::kFloat32);
    float* pv = out.pixel_values.data_ptr<float>();
    for (int y = 0; y < fh; ++y) {
        const int sy = y + top;
        for (int k = 0; k < 3; ++k) {
            float* dst = pv + (static_cast<std::int64_t>(k) * fh + y) * fw;
            for (int x = 0; x < fw; ++x) {
                const int sx = x + left;
                dst[x] = (sy < 0 || sy >= resized.height || sx < 0 || sx >= resized.width)
                             ? lut[k][0]
                             : lut[k][resized.pixels[(static_cast<std::size_t>(sy) * resized.width + sx) * 3 + k]];
            }
        }
    }

    // The frame in original pixels: undo the crop, the resize's scale and the padding.
    const double sx = static_cast<double>(source->width) / resized.width;
    const double sy = static_cast<double>(source->height) / resized.height;
    out.frame_x = left * sx - pad_x;
    out.frame_y = top * sy - pad_y;
    out.frame_width = fw * sx;
    out.frame_height = fh * sy;
    return out;
}

}  // namespace vqa
