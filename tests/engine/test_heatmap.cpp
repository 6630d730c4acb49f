// Mapping attention grids back to the original image, and rendering them.
#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "models/base/Error.h"
#include "engine/explain/Heatmap.h"

using namespace vqa;

namespace {

// The peak of a heatmap, in original-image pixels.
std::pair<int, int> peak(const Heatmap& m) {
    auto it = std::max_element(m.values.begin(), m.values.end());
    auto i = static_cast<int>(it - m.values.begin());
    return {i % m.width, i / m.width};
}

HeatmapGrid grid(int rows, int cols, double x, double y, double w, double h, bool global) {
    HeatmapGrid g;
    g.rows = rows;
    g.cols = cols;
    g.values.assign(static_cast<std::size_t>(rows * cols), 0.0f);
    g.x = x, g.y = y, g.width = w, g.height = h;
    g.global_view = global;
    return g;
}

}  // namespace

TEST(Heatmap, HotTokenInATileLandsInItsRectangle) {
    // A 900x600 image split into 3x2 tiles of 300x300, 4x4 tokens each, plus the global view.
    std::vector<HeatmapGrid> grids;
    for (int r = 0; r < 2; ++r)
        for (int c = 0; c < 3; ++c)
            grids.push_back(grid(4, 4, c * 300.0, r * 300.0, 300, 300, false));
    grids.push_back(grid(4, 4, 0, 0, 900, 600, true));
    // All attention on tile (row 1, col 2), token (row 0, col 3): pixels x 825..900, y 300..375.
    grids[5].values[3] = 1.0f;
    auto map = composeHeatmap(grids, 900, 600, HeatmapSource::Tiles);
    auto [x, y] = peak(map);
    EXPECT_GE(x, 750);
    EXPECT_LT(x, 900);
    EXPECT_GE(y, 300);
    EXPECT_LT(y, 375 + 38);
}

TEST(Heatmap, HotTokenInTheGlobalViewLandsInItsCell) {
    std::vector<HeatmapGrid> grids{grid(4, 4, 0, 0, 800, 400, true)};
    grids[0].values[2 * 4 + 1] = 1.0f;  // row 2, col 1: x 200..400, y 200..300
    auto map = composeHeatmap(grids, 800, 400, HeatmapSource::Global);
    auto [x, y] = peak(map);
    EXPECT_GE(x, 200);
    EXPECT_LT(x, 400);
    EXPECT_GE(y, 200);
    EXPECT_LT(y, 300);
}

TEST(Heatmap, WordSpansMergeSubwordTokens) {
    // A lone punctuation token starts a word of its own ("sat" | "."); white space alone is
    // no word.
    auto spans = wordSpans({"The", " cat", "s", " sat", ".", "\n", "Done"});
    std::vector<std::pair<int, int>> want{{0, 1}, {1, 3}, {3, 4}, {4, 5}, {6, 7}};
    EXPECT_EQ(spans, want);
}

TEST(Heatmap, WordSpansFollowUnicodeSpaceAndPunctuation) {
    // "don" | "'t": punctuation starts a word, the next piece continues it; symbols ($) do
    // not split; a no-break space and the ideographic full stop are what they are in Unicode.
    auto spans = wordSpans({"don", "'", "t", " pay", "$", "5", "\u00a0now", "\u3002", "\u00a0\u3000", "ok"});
    std::vector<std::pair<int, int>> want{{0, 1}, {1, 3}, {3, 6}, {6, 7}, {7, 8}, {9, 10}};
    EXPECT_EQ(spans, want);
    EXPECT_TRUE(wordSpans({}).empty());
}

TEST(Heatmap, AverageOfTokensIsElementwise) {
    std::vector<std::vector<HeatmapGrid>> per_token(2, {grid(1, 2, 0, 0, 2, 1, true)});
    per_token[0][0].values = {1.0f, 0.0f};
    per_token[1][0].values = {0.0f, 3.0f};
    auto avg = averageGrids(per_token, 0, 2);
    ASSERT_EQ(avg.size(), 1u);
    EXPECT_FLOAT_EQ(avg[0].values[0], 0.5f);
    EXPECT_FLOAT_EQ(avg[0].values[1], 1.5f);
}

TEST(Heatmap, RenderBlendsColourWhereTheMapIsHot) {
    RgbImage image;
    image.width = 64;
    image.height = 32;
    image.pixels.assign(64 * 32 * 3, 128);
    std::vector<HeatmapGrid> grids{grid(1, 2, 0, 0, 64, 32, true)};
    grids[0].values = {0.0f, 1.0f};
    auto map = composeHeatmap(grids, 64, 32, HeatmapSource::Global);
    RenderOptions options;
    options.legend = true;
    auto out = renderHeatmap(image, map, options);
    EXPECT_GT(out.width, 64);  // the legend sits beside the image
    EXPECT_EQ(out.height, 32);
    auto px = [&](int x, int y) { return &out.pixels[(static_cast<std::size_t>(y) * out.width + x) * 3]; };
    // Turbo: cold is blue-ish, hot is red-ish.
    EXPECT_GT(px(60, 16)[0], px(60, 16)[2]);
    EXPECT_GT(px(2, 16)[2], px(2, 16)[0]);
    EXPECT_THROW(colormapFromName("rainbow"), vqa::Error);
}

TEST(Heatmap, ColormapsAreOpenCVsTables) {
    EXPECT_EQ(colormapColor(Colormap::Viridis, 0.0f), (std::array<std::uint8_t, 3>{68, 1, 84}));
    EXPECT_EQ(colormapColor(Colormap::Viridis, 1.0f), (std::array<std::uint8_t, 3>{253, 231, 37}));
    EXPECT_EQ(colormapColor(Colormap::Gray, 0.5f), (std::array<std::uint8_t, 3>{128, 128, 128}));
    EXPECT_EQ(colormapIndex(-1.0f), 0);
    EXPECT_EQ(colormapIndex(std::nanf("")), 0);
    EXPECT_EQ(colormapIndex(2.0f), 255);
    EXPECT_EQ(colormapFromName("grey"), Colormap::Gray);
    EXPECT_EQ(colormapName(Colormap::Jet), "jet");
}

TEST(Heatmap, OverlayIsClearWhereNoGridReachesAndMoreOpaqueWhereHot) {
    // A 1x2 grid over the right half of a 40x10 image.
    std::vector<HeatmapGrid> grids{grid(1, 2, 20, 0, 20, 10, false)};
    grids[0].values = {0.0f, 2.0f};
    const Heatmap map = composeHeatmap(grids, 40, 10);
    ASSERT_EQ(map.covered.size(), 400u);
    EXPECT_FALSE(map.isCovered(5 * 40 + 5));
    EXPECT_TRUE(map.isCovered(5 * 40 + 35));
    const RgbaImage overlay = colorizeHeatmap(map, Colormap::Gray);
    auto px = [&](int x, int y) { return &overlay.pixels[(static_cast<std::size_t>(y) * 40 + x) * 4]; };
    EXPECT_EQ(px(5, 5)[3], 0);
    EXPECT_EQ(px(39, 5)[0], 255);  // normalised: the hottest pixel is white
    EXPECT_EQ(px(39, 5)[3], 255);
    EXPECT_LT(px(21, 5)[3], 120);  // cold: see-through
    // Blending leaves uncovered pixels alone and mixes the rest at the opacity.
    RgbImage image;
    image.width = 40;
    image.height = 10;
    image.pixels.assign(40 * 10 * 3, 0);
    const RgbImage out = blendOverlay(image, overlay, 0.5f);
    EXPECT_EQ(out.pixels[(5 * 40 + 5) * 3], 0);
    EXPECT_EQ(out.pixels[(5 * 40 + 39) * 3], 128);
}

TEST(Heatmap, ReducedMapsAndTheMeanOverTokens) {
    // At most 100 pixels long: a 400x200 image gives a 100x50 map.
    std::vector<HeatmapGrid> a{grid(2, 2, 0, 0, 400, 200, true)};
    a[0].values = {1, 0, 0, 0};
    const Heatmap small = composeHeatmap(a, 400, 200, HeatmapSource::Combined, 100);
    EXPECT_EQ(small.width, 100);
    EXPECT_EQ(small.height, 50);
    // One layout: the mean of the grids; another layout: the mean of the maps.
    std::vector<HeatmapGrid> b{grid(2, 2, 0, 0, 400, 200, true)};
    b[0].values = {0, 0, 0, 1};
    const Heatmap ab = meanHeatmap({&a, &b, nullptr}, 400, 200, HeatmapSource::Combined, 100);
    const Heatmap mean = composeHeatmap(averageGrids({a, b}, 0, 2), 400, 200, HeatmapSource::Combined, 100);
    EXPECT_EQ(ab.values, mean.values);
    std::vector<HeatmapGrid> c{grid(1, 1, 0, 0, 200, 200, false)};
    c[0].values = {1};
    const Heatmap ac = meanHeatmap({&a, &c}, 400, 200, HeatmapSource::Combined, 100);
    ASSERT_FALSE(ac.empty());
    EXPECT_TRUE(ac.isCovered(25 * 100 + 90));  // a covers all of it
    EXPECT_TRUE(meanHeatmap({}, 400, 200).empty());
    std::vector<HeatmapGrid> bad{grid(2, 2, 0, 0, 10, 10, true)};
    bad[0].values = {1.0f};
    EXPECT_THROW(composeHeatmap(bad, 10, 10), vqa::Error);
}
