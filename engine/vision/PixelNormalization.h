// How an image processor turns a byte of a channel into a pixel value: rescale (v *
// rescale_factor) then normalize ((x - image_mean) / image_std), in numpy's float32 steps, so
// the values equal the reference's bit for bit. Every family's processor has these settings.
#pragma once

#include <array>
#include <filesystem>

#include <nlohmann/json.hpp>

namespace vqa {

struct PixelNormalization {
    bool do_rescale = true;
    double rescale_factor = 1.0 / 255.0;
    bool do_normalize = true;
    double image_mean[3] = {0.5, 0.5, 0.5};
    double image_std[3] = {0.5, 0.5, 0.5};

    // Reads do_rescale, rescale_factor, do_normalize, image_mean and image_std from a
    // processor's settings (absent keys keep the values set), and checks do_convert_rgb.
    // Throws vqa::Error naming `path` when image_std holds a 0 or do_convert_rgb is false (only
    // RGB input is supported).
    void read(const nlohmann::json& settings, const std::filesystem::path& path);

    // table()[channel][byte]: the pixel value of that byte.
    using Table = std::array<std::array<float, 256>, 3>;
    Table table() const;
};

}  // namespace vqa
