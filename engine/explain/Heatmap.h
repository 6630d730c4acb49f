// Heatmaps over the original image, from the attention grids of the answer's tokens, and
// their rendering: colormap, overlay (colour with alpha), blend over the image, top-region
// contour, colour legend. The one implementation of these rules: the CLI writes its PNGs with
// renderHeatmap and the window shows colorizeHeatmap's overlay and saves blendOverlay's
// picture, so both draw the same pixels for the same answer.
// Plain C++ types in the interface (no OpenCV, no LibTorch, no Qt), so the CLI and UI can
// use it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/Types.h"

namespace vqa {

// A map of values over the original image, row-major, at the image's resolution or a
// reduced one (composeHeatmap's max_side). `covered` marks the pixels some grid reached (1)
// and the rest (0): those hold 0 and draw nothing. Empty `covered`: every pixel is covered.
struct Heatmap {
    int width = 0;
    int height = 0;
    std::vector<float> values;
    std::vector<std::uint8_t> covered;
    bool empty() const { return values.empty(); }
    bool isCovered(std::size_t i) const { return covered.empty() || covered[i] != 0; }
};

// 8-bit RGBA, row-major, not premultiplied.
struct RgbaImage {
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> pixels;
    bool empty() const { return width <= 0 || height <= 0; }
};

enum class HeatmapSource { Tiles, Global, Combined };
enum class Colormap { Turbo, Viridis, Jet, Gray };

// The longest side at which the CLI and the window compose heatmaps. A map holds nothing
// finer than its grid cells (a few dozen across an image), so this loses no detail, and it
// keeps the window's re-render on every hovered word cheap.
inline constexpr int kHeatmapMaxSide = 256;

// The element-wise mean of tokens [first, last)'s grids (one answer, so one layout).
std::vector<HeatmapGrid> averageGrids(const std::vector<std::vector<HeatmapGrid>>& per_token,
                                      int first, int last);

// Which picture of a conversation a grid lies on: an image, or one frame of a video.
struct PictureRef {
    int image = -1;  // Request::images index, or -1
    int video = -1;  // Request::videos index, or -1
    int frame = -1;  // the video's sampled frame
    double time_s = 0;
    bool operator==(const PictureRef& o) const { return image == o.image && video == o.video && frame == o.frame; }
};
PictureRef pictureOf(const HeatmapGrid& grid);

// The share of a token's (or word's) attention that falls on each picture: its grids' values
// summed per picture over the sum of them all, in the order the pictures first appear. The
// answer to "which image, which frame did the model look at for this word".
struct PictureShare {
    PictureRef picture;
    double share = 0;
};
std::vector<PictureShare> pictureShares(const std::vector<HeatmapGrid>& grids);

// The grids that lie on one picture: what a heatmap over that image or frame is drawn from.
std::vector<HeatmapGrid> gridsOn(const std::vector<HeatmapGrid>& grids, const PictureRef& picture);

// How attention rows were reduced to a map, in words: "mean over heads of the upper half of
// the layers", "head 2 of layers 1 to 1" (explain.json's "reduction", the window's exports).
std::string describeReduction(const ExplainParams& params);

// Token ranges [first, last) that make words. A word starts at a token whose text starts
// with white space, after a token that ends with it, and at a token that is one punctuation
// character ("house" | "," and "sat" | "."); the other tokens continue the word ("ho" +
// "use", and "don" | "'" + "t"). Tokens of white space alone belong to no word. White space and
// punctuation are Unicode's (in UTF-8 text), not only ASCII's. The CLI names its word PNGs
// by these spans and the window hovers and pins them.
std::vector<std::pair<int, int>> wordSpans(const std::vector<std::string>& token_texts);

// Places grids on the original image, `width` x `height` pixels: each grid is sampled
// bilinearly (cell centres at i + 0.5, edges clamped) at the centres of the pixels inside
// its rectangle; a rectangle may reach outside the image (a frame padded to a square) and
// only its part over the image counts; where rectangles of one kind overlap, their mean.
// Tiles fill their rectangles; the global view covers the whole image; Combined averages
// both, each first scaled to [0, 1] so neither dominates by its magnitude (each tile holds
// only its share of the attention). A light blur (1.5% of the longer side) then softens the
// seams where tiles meet, artefacts of the tiling. With max_side > 0 the map is at most that long
// on its longer side (the rectangles scale with it). Throws vqa::Error for a grid whose size does
// not match its values.
Heatmap composeHeatmap(const std::vector<HeatmapGrid>& grids, int width, int height,
                       HeatmapSource source = HeatmapSource::Combined, int max_side = 0);

// The map of several tokens (a word, a whole answer): of their averaged grids when all share
// one layout (the usual case: averageGrids, then composeHeatmap), else the mean of their maps
// (each scaled to [0, 1]) where they cover. Null and empty entries are passed over.
Heatmap meanHeatmap(const std::vector<const std::vector<HeatmapGrid>*>& tokens, int width,
                    int height, HeatmapSource source = HeatmapSource::Combined, int max_side = 0);

// Min-max over the covered pixels to [0, 1]; uncovered pixels and a flat map become 0.
void normalizeHeatmap(Heatmap& map);

// Colormaps: the tables OpenCV applies (Turbo, Viridis and Jet as published), and gray.
using ColormapTable = std::array<std::array<std::uint8_t, 3>, 256>;
const ColormapTable& colormapTable(Colormap map);
// The table's entry for t in [0, 1] (clamped; NaN is 0): index round(t * 255).
int colormapIndex(float t);
std::array<std::uint8_t, 3> colormapColor(Colormap map, float t);
const std::vector<std::string>& colormapNames(); // "turbo", "viridis", "jet", "gray"
std::string colormapName(Colormap map);
Colormap colormapFromName(const std::string& name); // throws vqa::Error for unknown names

// The overlay at the map's resolution: the map scaled to [0, 1], coloured, opaque where
// attention is high and partly see-through where it is low (alpha 0.35 to 1), so the image
// stays readable under the cold parts; clear where no grid reached.
RgbaImage colorizeHeatmap(const Heatmap& map, Colormap colormap);

// The image with the overlay stretched over all of it (bilinear, on premultiplied colour) at
// `opacity` (0..1), in the image's size.
RgbImage blendOverlay(const RgbImage& image, const RgbaImage& overlay, float opacity);

struct RenderOptions {
    Colormap colormap = Colormap::Turbo;
    float opacity = 0.55f;         // of the heatmap over the image
    float contour_top_percent = 0; // outline the hottest N% of the covered pixels (0: off)
    bool legend = true;            // a colour bar along the right edge
};

// The image with the heatmap blended over it: blendOverlay(image, colorizeHeatmap(map)),
// then the contour and the legend when asked for.
RgbImage renderHeatmap(const RgbImage& image, const Heatmap& map,
                       const RenderOptions& options = {});

// PNG export; throws vqa::Error naming the path when it cannot be written.
void writePng(const RgbImage& image, const std::string& path);

} // namespace vqa
