// Mapping attention grids back to the original image, and rendering them.
#include <gtest/gtest.h>

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
    auto spans = wordSpans({"The", " cat", "s", " sat", ".", "\n", "Done"});
    std::vector<std::pair<int, int>> want{{0, 1}, {1, 3}, {3, 5}, {6, 7}};
    EXPECT_EQ(spans, want);
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
