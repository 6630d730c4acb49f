#include "engine/explain/Heatmap.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "models/base/Error.h"

namespace vqa {

std::vector<HeatmapGrid> averageGrids(const std::vector<std::vector<HeatmapGrid>>& per_token, int first,
                                      int last) {
    first = std::max(first, 0);
    last = std::min<int>(last, static_cast<int>(per_token.size()));
    std::vector<HeatmapGrid> out;
    int count = 0;
    for (int t = first; t < last; ++t) {
        const auto& grids = per_token[t];
        if (grids.empty())
            continue;
        if (out.empty()) {
            out = grids;
        } else {
            if (grids.size() != out.size())
                throw Error("the tokens' attention grids have different layouts");
            for (std::size_t g = 0; g < grids.size(); ++g)
                for (std::size_t i = 0; i < grids[g].values.size(); ++i)
                    out[g].values[i] += grids[g].values[i];
        }
        ++count;
    }
    for (auto& g : out)
        for (auto& v : g.values)
            v /= static_cast<float>(count);
    return out;
}

std::vector<std::pair<int, int>> wordSpans(const std::vector<std::string>& token_texts) {
    std::vector<std::pair<int, int>> spans;
    auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    int start = -1;
    bool prev_ended_space = true;
    for (int i = 0; i < static_cast<int>(token_texts.size()); ++i) {
        const std::string& t = token_texts[i];
        const bool only_space = !t.empty() && std::all_of(t.begin(), t.end(), is_space);
        if (only_space) {
            if (start >= 0)
                spans.emplace_back(start, i);
            start = -1;
            prev_ended_space = true;
            continue;
        }
        const bool begins_with_space = !t.empty() && is_space(t.front());
        if (start < 0 || begins_with_space || prev_ended_space) {
            if (start >= 0)
                spans.emplace_back(start, i);
            start = i;
        }
        prev_ended_space = !t.empty() && is_space(t.back());
    }
    if (start >= 0)
        spans.emplace_back(start, static_cast<int>(token_texts.size()));
    return spans;
}

namespace {

void normalizeInPlace(cv::Mat& m) {
    double lo = 0, hi = 0;
    cv::minMaxLoc(m, &lo, &hi);
    if (hi - lo > 1e-12)
        m = (m - lo) / (hi - lo);
    else
        m.setTo(0);
}

cv::Mat gridMat(const HeatmapGrid& grid) {
    if (grid.rows <= 0 || grid.cols <= 0 ||
        grid.values.size() != static_cast<std::size_t>(grid.rows) * static_cast<std::size_t>(grid.cols))
        throw Error("a heatmap grid's size does not match its values");
    return cv::Mat(grid.rows, grid.cols, CV_32F, const_cast<float*>(grid.values.data())).clone();
}

// OpenCV works in BGR; our images are RGB.
cv::Mat colorize(const cv::Mat& unit, Colormap cmap) {
    cv::Mat bytes, bgr;
    unit.convertTo(bytes, CV_8U, 255.0);
    switch (cmap) {
    case Colormap::Turbo: cv::applyColorMap(bytes, bgr, cv::COLORMAP_TURBO); break;
    case Colormap::Viridis: cv::applyColorMap(bytes, bgr, cv::COLORMAP_VIRIDIS); break;
    case Colormap::Jet: cv::applyColorMap(bytes, bgr, cv::COLORMAP_JET); break;
    case Colormap::Gray: cv::cvtColor(bytes, bgr, cv::COLOR_GRAY2BGR); break;
    }
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    return rgb;
}

}  // namespace

Heatmap composeHeatmap(const std::vector<HeatmapGrid>& grids, int width, int height, HeatmapSource source) {
    Heatmap out;
    if (grids.empty() || width <= 0 || height <= 0)
        return out;
    cv::Mat tiles = cv::Mat::zeros(height, width, CV_32F);
    cv::Mat global = cv::Mat::zeros(height, width, CV_32F);
    bool have_tiles = false, have_global = false;
    for (const auto& g : grids) {
        const cv::Rect full(static_cast<int>(std::lround(g.x)), static_cast<int>(std::lround(g.y)),
                            static_cast<int>(std::lround(g.width)), static_cast<int>(std::lround(g.height)));
        // A rectangle may reach outside the image (a frame padded to a square): place the
        // whole grid, keep the part over the image.
        const cv::Rect r = full & cv::Rect(0, 0, width, height);
        if (r.empty())
            continue;
        cv::Mat resized;
        cv::resize(gridMat(g), resized, full.size(), 0, 0, cv::INTER_LINEAR);
        resized(r - full.tl()).copyTo((g.global_view ? global : tiles)(r));
        (g.global_view ? have_global : have_tiles) = true;
    }
    cv::Mat result;
    if (source == HeatmapSource::Tiles || (source == HeatmapSource::Combined && !have_global)) {
        result = tiles;
    } else if (source == HeatmapSource::Global || !have_tiles) {
        result = global;
    } else {
        // Each tile holds only its share of the attention; scale both maps to [0, 1] first.
        normalizeInPlace(tiles);
        normalizeInPlace(global);
        result = 0.5 * (tiles + global);
    }
    out.width = width;
    out.height = height;
    out.values.assign(result.ptr<float>(), result.ptr<float>() + static_cast<std::size_t>(width) * height);
    return out;
}

Colormap colormapFromName(const std::string& name) {
    if (name == "turbo")
        return Colormap::Turbo;
    if (name == "viridis")
        return Colormap::Viridis;
    if (name == "jet")
        return Colormap::Jet;
    if (name == "gray" || name == "grey")
        return Colormap::Gray;
    throw Error("unknown colormap '" + name + "'; choose turbo, viridis, jet or gray");
}

RgbImage renderHeatmap(const RgbImage& image, const Heatmap& map, const RenderOptions& options) {
    if (image.empty())
        throw Error("cannot draw a heatmap over an empty image");
    cv::Mat base(image.height, image.width, CV_8UC3, const_cast<std::uint8_t*>(image.pixels.data()));
    cv::Mat blended = base.clone();
    if (!map.empty()) {
        cv::Mat values(map.height, map.width, CV_32F, const_cast<float*>(map.values.data()));
        cv::Mat unit;
        cv::resize(values, unit, base.size(), 0, 0, cv::INTER_LINEAR);
        normalizeInPlace(unit);
        cv::addWeighted(colorize(unit, options.colormap), options.opacity, base, 1.0 - options.opacity, 0.0,
                        blended);
        if (options.contour_top_percent > 0) {
            std::vector<float> sorted(unit.begin<float>(), unit.end<float>());
            auto k = static_cast<std::size_t>(sorted.size() * (1.0 - options.contour_top_percent / 100.0));
            k = std::min(k, sorted.size() - 1);
            std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k), sorted.end());
            cv::Mat top = unit >= sorted[k];
            std::vector<std::vector<cv::Point>> contours;
            cv::findContours(top, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
            const int thickness = std::max(1, std::min(image.width, image.height) / 200);
            cv::drawContours(blended, contours, -1, cv::Scalar(255, 255, 255), thickness, cv::LINE_AA);
        }
    }
    if (options.legend) {
        // A vertical colour bar beside the image (high at the top), never over it.
        const int bar_w = std::max(12, image.width / 40);
        const int margin = bar_w / 2;
        cv::Mat canvas(blended.rows, blended.cols + bar_w + 2 * margin, CV_8UC3, cv::Scalar(255, 255, 255));
        blended.copyTo(canvas(cv::Rect(0, 0, blended.cols, blended.rows)));
        cv::Mat ramp(blended.rows, 1, CV_32F);
        for (int y = 0; y < ramp.rows; ++y)
            ramp.at<float>(y) = 1.0f - static_cast<float>(y) / static_cast<float>(std::max(1, ramp.rows - 1));
        cv::Mat bar;
        cv::resize(colorize(ramp, options.colormap), bar, cv::Size(bar_w, blended.rows), 0, 0, cv::INTER_NEAREST);
        bar.copyTo(canvas(cv::Rect(blended.cols + margin, 0, bar_w, blended.rows)));
        blended = canvas;
    }
    RgbImage out;
    out.width = blended.cols;
    out.height = blended.rows;
    out.pixels.assign(blended.data, blended.data + blended.total() * 3);
    return out;
}

void writePng(const RgbImage& image, const std::string& path) {
    if (image.empty())
        throw Error(path + ": cannot write an empty image");
    cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<std::uint8_t*>(image.pixels.data()));
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    bool ok = false;
    try {
        ok = cv::imwrite(path, bgr);
    } catch (const cv::Exception& e) {
        throw Error(path + ": cannot be written (" + e.what() + ")");
    }
    if (!ok)
        throw Error(path + ": cannot be written");
}

}  // namespace vqa
