#include "engine/vision/PixelNormalization.h"

#include "engine/io/JsonSettings.h"
#include "models/base/Error.h"

namespace vqa {

void PixelNormalization::read(const nlohmann::json& j, const std::filesystem::path& path) {
    do_rescale = settingOr<bool>(j, "do_rescale", do_rescale, path);
    rescale_factor = settingOr<double>(j, "rescale_factor", rescale_factor, path);
    do_normalize = settingOr<bool>(j, "do_normalize", do_normalize, path);
    readChannelTriple(j, "image_mean", image_mean, path);
    readChannelTriple(j, "image_std", image_std, path);
    for (double s : image_std)
        if (s == 0.0)
            throw Error(path.string() + ": image_std contains 0");
    if (!settingOr<bool>(j, "do_convert_rgb", true, path))
        throw Error(path.string() + ": do_convert_rgb is false; only RGB input is supported");
}

PixelNormalization::Table PixelNormalization::table() const {
    Table table;
    for (int k = 0; k < 3; ++k) {
        const float mean = static_cast<float>(image_mean[k]);
        const float std = static_cast<float>(image_std[k]);
        for (int v = 0; v < 256; ++v) {
            float x = do_rescale ? static_cast<float>(v * rescale_factor) : static_cast<float>(v);
            if (do_normalize)
                x = (x - mean) / std;
            table[k][v] = x;
        }
    }
    return table;
}

}  // namespace vqa
