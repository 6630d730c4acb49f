#include "ui/Heatmap.h"

#include <cstring>
#include <exception>

#include "ui/ImageLoader.h"

namespace vqa::ui {

HeatmapField buildHeatmap(const std::vector<const std::vector<HeatmapGrid>*>& tokens,
                          QSize image_size, int max_side) {
    if (image_size.isEmpty() || tokens.empty())
        return {};
    vqa::Heatmap map;
    try {
        map = vqa::meanHeatmap(tokens, image_size.width(), image_size.height(), HeatmapSource::Combined,
                               max_side);
    } catch (const std::exception&) {
        return {};  // a malformed grid draws nothing (the engine refuses it)
    }
    if (map.empty())
        return {};
    vqa::normalizeHeatmap(map);
    HeatmapField field;
    field.width = map.width;
    field.height = map.height;
    field.values = std::move(map.values);
    field.covered = map.covered.empty() ? std::vector<unsigned char>(field.values.size(), 1)
                                        : std::vector<unsigned char>(map.covered.begin(), map.covered.end());
    return field;
}

QImage colorizeHeatmap(const HeatmapField& field, Colormap map) {
    if (field.empty())
        return {};
    vqa::Heatmap heatmap;
    heatmap.width = field.width;
    heatmap.height = field.height;
    heatmap.values = field.values;
    heatmap.covered.assign(field.covered.begin(), field.covered.end());
    return toQImage(vqa::colorizeHeatmap(heatmap, toEngine(map)));
}

QImage blendOverlay(const QImage& image, const QImage& overlay, double opacity) {
    if (image.isNull())
        return {};
    const RgbImage rgb = ImageLoader::toRgb(image);
    return ImageLoader::fromRgb(vqa::blendOverlay(rgb, toRgba(overlay), float(opacity)));
}

QImage toQImage(const RgbaImage& image) {
    if (image.empty())
        return {};
    QImage out(image.width, image.height, QImage::Format_RGBA8888);
    const size_t row = size_t(image.width) * 4;
    for (int y = 0; y < image.height; ++y)
        std::memcpy(out.scanLine(y), image.pixels.data() + row * y, row);
    return out.convertToFormat(QImage::Format_ARGB32);
}

RgbaImage toRgba(const QImage& image) {
    RgbaImage out;
    if (image.isNull())
        return out;
    const QImage src = image.convertToFormat(QImage::Format_RGBA8888);
    out.width = src.width();
    out.height = src.height();
    out.pixels.resize(size_t(out.width) * out.height * 4);
    const size_t row = size_t(out.width) * 4;
    for (int y = 0; y < out.height; ++y)
        std::memcpy(out.pixels.data() + row * y, src.constScanLine(y), row);
    return out;
}

}  // namespace vqa::ui
