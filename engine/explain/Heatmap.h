// Heatmaps over the original image, from the attention grids of the answer's tokens, and
// their rendering with OpenCV: colormap, alpha blend, top-region contour, colour legend.
// Plain C++ types in the interface (no OpenCV, no LibTorch), so the CLI and UI can use it.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/Types.h"

namespace vqa {

// A map of values at the original image's resolution, row-major.
struct Heatmap {
    int width = 0;
    int height = 0;
    std::vector<float> values;
    bool empty() const { return values.empty(); }
};

enum class HeatmapSource { Tiles, Global, Combined };
enum class Colormap { Turbo, Viridis, Jet, Gray };

// The element-wise mean of tokens [first, last)'s grids (one answer, so one layout).
std::vector<HeatmapGrid> averageGrids(const std::vector<std::vector<HeatmapGrid>>& per_token,
                                      int first, int last);

// Token ranges [first, last) that make words: a word starts at a token whose text starts
// with white space, or after a token that ends with it; punctuation stays with its word.
std::vector<std::pair<int, int>> wordSpans(const std::vector<std::string>& token_texts);

// Places grids on the original image (bilinear inside each rectangle). Tiles fill their
// rectangles; the global view covers the whole image; Combined averages both, each first
// scaled to [0, 1] so neither dominates by its magnitude.
Heatmap composeHeatmap(const std::vector<HeatmapGrid>& grids, int width, int height,
                       HeatmapSource source = HeatmapSource::Combined);

struct RenderOptions {
    Colormap colormap = Colormap::Turbo;
    float opacity = 0.55f;          // of the heatmap over the image
    float contour_top_percent = 0;  // outline the hottest N% of the pixels (0: off)
    bool legend = true;             // a colour bar along the right edge
};

// The image with the normalized heatmap blended over it.
RgbImage renderHeatmap(const RgbImage& image, const Heatmap& map, const RenderOptions& options = {});

Colormap colormapFromName(const std::string& name);  // throws vqa::Error for unknown names

// PNG export; throws vqa::Error naming the path when it cannot be written.
void writePng(const RgbImage& image, const std::string& path);

}  // namespace vqa
