// The window's heatmaps: thin adapters over engine/explain/Heatmap.h, which composes the
// attention grids over the image, colours the map and blends it (the CLI's rules, so the
// window and `vqa explain` draw the same pixels); here only Qt's types go in and out.
#pragma once

#include <QImage>
#include <QSize>

#include <vector>

#include "engine/Types.h"
#include "engine/explain/Heatmap.h"
#include "ui/Colormap.h"

namespace vqa::ui {

// Values over the whole image at a reduced resolution, in [0, 1], with the pixels some grid
// reached (the rest stays transparent in the overlay): the engine's map.
using HeatmapField = vqa::Heatmap;

// vqa::meanHeatmap of `tokens` (each one token's grids; the Combined source), normalised to
// [0, 1]. `image_size` is the original image's size; the field's longer side is at most
// max_side. Malformed grids give an empty field.
HeatmapField buildHeatmap(const std::vector<const std::vector<HeatmapGrid>*>& tokens,
                          QSize image_size, int max_side = vqa::kHeatmapMaxSide);

// ARGB32 image of the field's size: vqa::colorizeHeatmap (coloured, more opaque where hot,
// clear where not covered).
QImage colorizeHeatmap(const HeatmapField& field, Colormap map);

// vqa::blendOverlay: the image with the overlay stretched over it at `opacity` (0..1), in
// the image's size (transparent image pixels composed over white first, as for the engine).
QImage blendOverlay(const QImage& image, const QImage& overlay, double opacity);

} // namespace vqa::ui
