#include "ui/Heatmap.h"

#include <exception>

#include "ui/ImageLoader.h"

namespace vqa::ui {

HeatmapField buildHeatmap(const std::vector<const std::vector<HeatmapGrid>*>& tokens,
                          QSize image_size, int max_side) {
    if (image_size.isEmpty() || tokens.empty())
        return {};
    HeatmapField field;
    try {
        field = vqa::meanHeatmap(tokens, image_size.width(), image_size.height(),
                                 HeatmapSource::Combined, max_side);
    } catch (const std::exception&) {
        return {}; // a malformed grid draws nothing (the engine refuses it)
    }
    vqa::normalizeHeatmap(field);
    return field;
}

QImage colorizeHeatmap(const HeatmapField& field, Colormap map) {
    return ImageLoader::fromRgba(vqa::colorizeHeatmap(field, toEngine(map)));
}

QImage blendOverlay(const QImage& image, const QImage& overlay, double opacity) {
    if (image.isNull())
        return {};
    return ImageLoader::fromRgb(
        vqa::blendOverlay(ImageLoader::toRgb(image), ImageLoader::toRgba(overlay), float(opacity)));
}

} // namespace vqa::ui
