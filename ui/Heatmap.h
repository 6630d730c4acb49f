// Turns the engine's attention grids (rectangles in original image pixels) into an overlay
// image: resample each grid over its rectangle, average where grids overlap, average over
// tokens for a word or a whole answer, normalise to [0, 1], colour with a colormap.
#pragma once

#include <QImage>
#include <QSize>

#include <vector>

#include "engine/Types.h"
#include "ui/Colormap.h"

namespace vqa::ui {

// Values over the whole image at a reduced resolution; `covered` marks pixels some grid
// reached (the rest stays transparent in the overlay).
struct HeatmapField {
    int width = 0;
    int height = 0;
    std::vector<float> values;
    std::vector<unsigned char> covered;
    bool empty() const { return width <= 0 || height <= 0 || values.empty(); }
};

// Mean over `tokens` (each one token's grids) of the per-token maps, normalised to [0, 1].
// `image_size` is the original image's size; the field's longer side is at most max_side.
HeatmapField buildHeatmap(const std::vector<const std::vector<HeatmapGrid>*>& tokens,
                          QSize image_size, int max_side = 256);

// ARGB32 image of the field's size: colormapped, opaque where covered, clear elsewhere.
QImage colorizeHeatmap(const HeatmapField& field, Colormap map);

// The image with the overlay scaled over it at `opacity` (0..1), in the image's size.
QImage blendOverlay(const QImage& image, const QImage& overlay, double opacity);

}  // namespace vqa::ui
