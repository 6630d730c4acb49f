#include "engine/explain/Heatmap.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "models/base/Error.h"

namespace vqa {

std::vector<HeatmapGrid> averageGrids(const std::vector<std::vector<HeatmapGrid>>& per_token,
                                      int first, int last) {
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

PictureRef pictureOf(const HeatmapGrid& grid) {
    return {grid.video >= 0 ? -1 : grid.image, grid.video, grid.video >= 0 ? grid.frame : -1, grid.time_s};
}

std::vector<PictureShare> pictureShares(const std::vector<HeatmapGrid>& grids) {
    std::vector<PictureShare> out;
    double total = 0;
    for (const auto& g : grids) {
        const PictureRef p = pictureOf(g);
        auto it = std::find_if(out.begin(), out.end(), [&](const PictureShare& s) { return s.picture == p; });
        if (it == out.end())
            it = out.insert(out.end(), PictureShare{p, 0});
        for (float v : g.values) {
            it->share += v;
            total += v;
        }
    }
    for (auto& s : out)
        s.share = total > 0 ? s.share / total : 0;
    return out;
}

std::vector<HeatmapGrid> gridsOn(const std::vector<HeatmapGrid>& grids, const PictureRef& picture) {
    std::vector<HeatmapGrid> out;
    for (const auto& g : grids)
        if (pictureOf(g) == picture)
            out.push_back(g);
    return out;
}

// ---- words -------------------------------------------------------------------------------

namespace {

// The code point at `i` of UTF-8 text (a malformed byte reads as itself); `i` moves past it.
char32_t nextCodePoint(const std::string& s, std::size_t& i) {
    const auto b = static_cast<unsigned char>(s[i++]);
    int extra = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 0;
    char32_t cp = extra == 3 ? b & 0x07u : extra == 2 ? b & 0x0Fu : extra == 1 ? b & 0x1Fu : b;
    for (; extra > 0 && i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80; --extra)
        cp = (cp << 6) | (static_cast<unsigned char>(s[i++]) & 0x3Fu);
    return extra == 0 ? cp : b;
}

std::vector<char32_t> codePoints(const std::string& s) {
    std::vector<char32_t> out;
    for (std::size_t i = 0; i < s.size();)
        out.push_back(nextCodePoint(s, i));
    return out;
}

// Unicode's white space (categories Zs, Zl, Zp and the ASCII controls that space text).
bool isSpace(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

// Unicode's punctuation (categories Pc, Pd, Ps, Pe, Pi, Pf, Po) in ASCII, Latin-1, General
// Punctuation, CJK and full-width forms; symbols such as $ + < = > ^ ` | ~ are not.
bool isPunct(char32_t c) {
    if (c < 0x80)
        return c == '!' || c == '"' || c == '#' || c == '%' || c == '&' || c == '\'' || c == '(' ||
               c == ')' || c == '*' || c == ',' || c == '-' || c == '.' || c == '/' || c == ':' ||
               c == ';' || c == '?' || c == '@' || c == '[' || c == '\\' || c == ']' || c == '_' ||
               c == '{' || c == '}';
    if (c < 0x100)
        return c == 0xA1 || c == 0xA7 || c == 0xAB || c == 0xB6 || c == 0xB7 || c == 0xBB ||
               c == 0xBF;
    if (c >= 0x2010 && c <= 0x205E)
        return !(c >= 0x2028 && c <= 0x202F) && c != 0x2044 && c != 0x2052;
    if (c >= 0x3001 && c <= 0x303F)
        return c <= 0x3003 || (c >= 0x3008 && c <= 0x3011) || (c >= 0x3014 && c <= 0x301F) ||
               c == 0x3030 || c == 0x303D;
    if (c >= 0xFF01 && c <= 0xFF65)
        return (c >= 0xFF01 && c <= 0xFF03) || (c >= 0xFF05 && c <= 0xFF0A) ||
               (c >= 0xFF0C && c <= 0xFF0F) || c == 0xFF1A || c == 0xFF1B || c == 0xFF1F ||
               c == 0xFF20 || (c >= 0xFF3B && c <= 0xFF3D) || c == 0xFF3F || c == 0xFF5B ||
               c == 0xFF5D || c >= 0xFF5F;
    return c == 0x30FB;
}

} // namespace

std::string describeReduction(const ExplainParams& p) {
    const std::string heads = p.head >= 0 ? "head " + std::to_string(p.head) : p.head_max ? "max over heads" : "mean over heads";
    const std::string layers = p.layer_begin < 0 ? "the upper half of the layers"
                                                 : "layers " + std::to_string(p.layer_begin) + " to " +
                                                       std::to_string(p.layer_end);
    return heads + " of " + layers;
}

std::vector<std::pair<int, int>> wordSpans(const std::vector<std::string>& token_texts) {
    std::vector<std::pair<int, int>> spans;
    int start = -1;
    bool prev_ended_space = true;
    for (int i = 0; i < static_cast<int>(token_texts.size()); ++i) {
        const std::vector<char32_t> t = codePoints(token_texts[i]);
        if (!t.empty() && std::all_of(t.begin(), t.end(), isSpace)) {
            if (start >= 0)
                spans.emplace_back(start, i);
            start = -1;
            prev_ended_space = true;
            continue;
        }
        const bool begins_with_space = !t.empty() && isSpace(t.front());
        const bool lone_punctuation = t.size() == 1 && isPunct(t.front());
        if (start < 0 || begins_with_space || prev_ended_space || lone_punctuation) {
            if (start >= 0)
                spans.emplace_back(start, i);
            start = i;
        }
        prev_ended_space = !t.empty() && isSpace(t.back());
    }
    if (start >= 0)
        spans.emplace_back(start, static_cast<int>(token_texts.size()));
    return spans;
}

// ---- composition -------------------------------------------------------------------------

namespace {

void checkGrid(const HeatmapGrid& g) {
    if (g.rows <= 0 || g.cols <= 0 ||
        g.values.size() != static_cast<std::size_t>(g.rows) * static_cast<std::size_t>(g.cols))
        throw Error("a heatmap grid's size does not match its values");
}

// Bilinear sample of a grid at fractional cell coordinates (cell centres at i + 0.5, edges
// clamped): what cv::resize's INTER_LINEAR does when it stretches a grid over a rectangle.
float sampleGrid(const HeatmapGrid& g, double u, double v) {
    u = std::clamp(u - 0.5, 0.0, static_cast<double>(g.cols - 1));
    v = std::clamp(v - 0.5, 0.0, static_cast<double>(g.rows - 1));
    const int c0 = static_cast<int>(u), r0 = static_cast<int>(v);
    const int c1 = std::min(c0 + 1, g.cols - 1), r1 = std::min(r0 + 1, g.rows - 1);
    const auto fu = static_cast<float>(u - c0), fv = static_cast<float>(v - r0);
    auto at = [&](int r, int c) { return g.values[static_cast<std::size_t>(r) * g.cols + c]; };
    return (at(r0, c0) * (1 - fu) + at(r0, c1) * fu) * (1 - fv) +
           (at(r1, c0) * (1 - fu) + at(r1, c1) * fu) * fv;
}

// One kind of grid (tiles, or the global view) placed on the map: the mean where several
// reach a pixel; `covered` empty when none does.
Heatmap place(const std::vector<HeatmapGrid>& grids, bool global_view, int width, int height,
              int map_w, int map_h) {
    const std::size_t n = static_cast<std::size_t>(map_w) * map_h;
    std::vector<float> sum(n, 0.0f);
    std::vector<std::uint8_t> count(n, 0);
    const double px = static_cast<double>(width) / map_w; // image pixels per map pixel
    const double py = static_cast<double>(height) / map_h;
    bool any = false;
    for (const HeatmapGrid& g : grids) {
        if (g.global_view != global_view)
            continue;
        checkGrid(g);
        if (!(g.width > 0 && g.height > 0))
            continue; // tokens with no place in the frame (LLaVA's class token)
        const int x0 = std::max(0, static_cast<int>(std::floor(g.x / px)));
        const int x1 = std::min(map_w, static_cast<int>(std::ceil((g.x + g.width) / px)));
        const int y0 = std::max(0, static_cast<int>(std::floor(g.y / py)));
        const int y1 = std::min(map_h, static_cast<int>(std::ceil((g.y + g.height) / py)));
        for (int y = y0; y < y1; ++y) {
            const double iy = (y + 0.5) * py;
            if (iy < g.y || iy >= g.y + g.height)
                continue;
            const double v = (iy - g.y) / g.height * g.rows;
            for (int x = x0; x < x1; ++x) {
                const double ix = (x + 0.5) * px;
                if (ix < g.x || ix >= g.x + g.width)
                    continue;
                const std::size_t k = static_cast<std::size_t>(y) * map_w + x;
                sum[k] += sampleGrid(g, (ix - g.x) / g.width * g.cols, v);
                count[k] = static_cast<std::uint8_t>(std::min(255, count[k] + 1));
                any = true;
            }
        }
    }
    Heatmap out;
    out.width = map_w;
    out.height = map_h;
    out.values.assign(n, 0.0f);
    if (!any)
        return out;
    out.covered.assign(n, 0);
    for (std::size_t k = 0; k < n; ++k) {
        if (count[k] > 0) {
            out.values[k] = sum[k] / count[k];
            out.covered[k] = 1;
        }
    }
    return out;
}

bool sameLayout(const std::vector<HeatmapGrid>& a, const std::vector<HeatmapGrid>& b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].rows != b[i].rows || a[i].cols != b[i].cols ||
            a[i].values.size() != b[i].values.size() || a[i].x != b[i].x || a[i].y != b[i].y ||
            a[i].width != b[i].width || a[i].height != b[i].height ||
            a[i].global_view != b[i].global_view)
            return false;
    return true;
}

bool anyCovered(const Heatmap& m) {
    return !m.covered.empty();
}

// A light blur (two passes of a box over the covered pixels, its radius 1.5% of the map's
// longer side) softens the seams where tiles meet, which are artefacts of the tiling, not of
// where the model looked. Uncovered pixels neither take part nor change.
void smoothSeams(Heatmap& m) {
    const int radius =
        std::max(1, static_cast<int>(std::lround(0.015 * std::max(m.width, m.height))));
    std::vector<float> tmp(m.values.size());
    for (int pass = 0; pass < 2; ++pass) {
        for (int horizontal = 1; horizontal >= 0; --horizontal) {
            const int len = horizontal ? m.width : m.height;
            const int lines = horizontal ? m.height : m.width;
            for (int line = 0; line < lines; ++line) {
                auto index = [&](int i) {
                    return horizontal ? static_cast<std::size_t>(line) * m.width + i
                                      : static_cast<std::size_t>(i) * m.width + line;
                };
                // A running sum over the window [i - radius, i + radius] of covered pixels.
                float acc = 0, w = 0;
                for (int j = 0; j < std::min(radius, len); ++j)
                    if (m.isCovered(index(j))) {
                        acc += m.values[index(j)];
                        w += 1;
                    }
                for (int i = 0; i < len; ++i) {
                    const int in = i + radius, out = i - radius - 1;
                    if (in < len && m.isCovered(index(in))) {
                        acc += m.values[index(in)];
                        w += 1;
                    }
                    if (out >= 0 && m.isCovered(index(out))) {
                        acc -= m.values[index(out)];
                        w -= 1;
                    }
                    tmp[index(i)] = w > 0 ? acc / w : 0.0f;
                }
            }
            for (std::size_t k = 0; k < m.values.size(); ++k)
                if (m.isCovered(k))
                    m.values[k] = tmp[k];
        }
    }
}

} // namespace

void normalizeHeatmap(Heatmap& map) {
    float lo = INFINITY, hi = -INFINITY;
    for (std::size_t k = 0; k < map.values.size(); ++k) {
        if (map.isCovered(k)) {
            lo = std::min(lo, map.values[k]);
            hi = std::max(hi, map.values[k]);
        }
    }
    const float range = hi - lo;
    for (std::size_t k = 0; k < map.values.size(); ++k)
        map.values[k] = map.isCovered(k) && range > 1e-12f ? (map.values[k] - lo) / range : 0.0f;
}

Heatmap composeHeatmap(const std::vector<HeatmapGrid>& grids, int width, int height,
                       HeatmapSource source, int max_side) {
    if (grids.empty() || width <= 0 || height <= 0)
        return {};
    const double scale =
        max_side > 0 ? std::min(1.0, static_cast<double>(max_side) / std::max(width, height)) : 1.0;
    const int map_w = std::max(1, static_cast<int>(std::lround(width * scale)));
    const int map_h = std::max(1, static_cast<int>(std::lround(height * scale)));
    Heatmap tiles = place(grids, false, width, height, map_w, map_h);
    Heatmap global = place(grids, true, width, height, map_w, map_h);
    Heatmap result;
    if (source == HeatmapSource::Tiles ||
        (source == HeatmapSource::Combined && !anyCovered(global))) {
        result = std::move(tiles);
    } else if (source == HeatmapSource::Global || !anyCovered(tiles)) {
        result = std::move(global);
    } else {
        // Each tile holds only its share of the attention; scale both maps to [0, 1] first.
        normalizeHeatmap(tiles);
        normalizeHeatmap(global);
        result = std::move(tiles);
        for (std::size_t k = 0; k < result.values.size(); ++k) {
            const bool t = result.covered[k] != 0, g = global.covered[k] != 0;
            result.values[k] = t && g ? 0.5f * (result.values[k] + global.values[k])
                               : t    ? result.values[k]
                                      : global.values[k];
            result.covered[k] = t || g;
        }
    }
    if (!anyCovered(result))
        return {};
    smoothSeams(result);
    if (std::all_of(result.covered.begin(), result.covered.end(),
                    [](std::uint8_t c) { return c != 0; }))
        result.covered.clear();
    return result;
}

Heatmap meanHeatmap(const std::vector<const std::vector<HeatmapGrid>*>& tokens, int width,
                    int height, HeatmapSource source, int max_side) {
    std::vector<const std::vector<HeatmapGrid>*> present;
    for (const auto* grids : tokens)
        if (grids && !grids->empty())
            present.push_back(grids);
    if (present.empty())
        return {};
    const bool one_layout = std::all_of(present.begin(), present.end(), [&](const auto* grids) {
        return sameLayout(*grids, *present.front());
    });
    if (one_layout) {
        std::vector<HeatmapGrid> mean = *present.front();
        for (std::size_t t = 1; t < present.size(); ++t)
            for (std::size_t g = 0; g < mean.size(); ++g)
                for (std::size_t i = 0; i < mean[g].values.size(); ++i)
                    mean[g].values[i] += (*present[t])[g].values[i];
        for (auto& g : mean)
            for (auto& v : g.values)
                v /= static_cast<float>(present.size());
        return composeHeatmap(mean, width, height, source, max_side);
    }
    // Different layouts: the mean of the tokens' maps where each covers, each first scaled to
    // [0, 1] (as Combined does with its parts: a map of tiles alone holds smaller values).
    Heatmap out;
    std::vector<float> count;
    for (const auto* grids : present) {
        Heatmap m = composeHeatmap(*grids, width, height, source, max_side);
        if (m.empty())
            continue;
        normalizeHeatmap(m);
        if (out.empty()) {
            out.width = m.width;
            out.height = m.height;
            out.values.assign(m.values.size(), 0.0f);
            count.assign(m.values.size(), 0.0f);
        }
        for (std::size_t k = 0; k < m.values.size(); ++k) {
            if (m.isCovered(k)) {
                out.values[k] += m.values[k];
                count[k] += 1.0f;
            }
        }
    }
    if (out.empty())
        return {};
    out.covered.assign(out.values.size(), 0);
    for (std::size_t k = 0; k < out.values.size(); ++k) {
        if (count[k] > 0) {
            out.values[k] /= count[k];
            out.covered[k] = 1;
        }
    }
    if (std::all_of(count.begin(), count.end(), [](float c) { return c > 0; }))
        out.covered.clear();
    return out;
}

// ---- colour ------------------------------------------------------------------------------

namespace {

ColormapTable makeTable(Colormap map) {
    ColormapTable table{};
    cv::Mat ramp(256, 1, CV_8U);
    for (int i = 0; i < 256; ++i)
        ramp.at<std::uint8_t>(i) = static_cast<std::uint8_t>(i);
    cv::Mat bgr;
    if (map == Colormap::Gray) {
        cv::cvtColor(ramp, bgr, cv::COLOR_GRAY2BGR);
    } else {
        const int cv_map = map == Colormap::Turbo     ? cv::COLORMAP_TURBO
                           : map == Colormap::Viridis ? cv::COLORMAP_VIRIDIS
                                                      : cv::COLORMAP_JET;
        cv::applyColorMap(ramp, bgr, cv_map);
    }
    for (int i = 0; i < 256; ++i) {
        const auto& c = bgr.at<cv::Vec3b>(i);
        table[static_cast<std::size_t>(i)] = {c[2], c[1], c[0]}; // OpenCV works in BGR
    }
    return table;
}

} // namespace

const ColormapTable& colormapTable(Colormap map) {
    static const std::array<ColormapTable, 4> tables = {
        makeTable(Colormap::Turbo), makeTable(Colormap::Viridis), makeTable(Colormap::Jet),
        makeTable(Colormap::Gray)};
    return tables[static_cast<std::size_t>(map)];
}

int colormapIndex(float t) {
    if (!(t >= 0.0f))
        return 0; // NaN too
    return std::min(255, static_cast<int>(std::min(t, 1.0f) * 255.0f + 0.5f));
}

std::array<std::uint8_t, 3> colormapColor(Colormap map, float t) {
    return colormapTable(map)[static_cast<std::size_t>(colormapIndex(t))];
}

const std::vector<std::string>& colormapNames() {
    static const std::vector<std::string> names{"turbo", "viridis", "jet", "gray"};
    return names;
}

std::string colormapName(Colormap map) {
    return colormapNames().at(static_cast<std::size_t>(map));
}

Colormap colormapFromName(const std::string& name) {
    const auto& names = colormapNames();
    const auto it =
        std::find(names.begin(), names.end(), name == "grey" ? std::string("gray") : name);
    if (it == names.end())
        throw Error("unknown colormap '" + name + "'; choose turbo, viridis, jet or gray");
    return static_cast<Colormap>(it - names.begin());
}

RgbaImage colorizeHeatmap(const Heatmap& map, Colormap colormap) {
    RgbaImage out;
    if (map.empty() || map.width <= 0 || map.height <= 0)
        return out;
    Heatmap unit = map;
    normalizeHeatmap(unit);
    const ColormapTable& table = colormapTable(colormap);
    out.width = unit.width;
    out.height = unit.height;
    out.pixels.assign(unit.values.size() * 4, 0);
    for (std::size_t k = 0; k < unit.values.size(); ++k) {
        if (!unit.isCovered(k))
            continue; // clear
        const float v = unit.values[k];
        const auto& c = table[static_cast<std::size_t>(colormapIndex(v))];
        std::uint8_t* p = &out.pixels[k * 4];
        p[0] = c[0];
        p[1] = c[1];
        p[2] = c[2];
        p[3] =
            static_cast<std::uint8_t>(255.0f * (0.35f + 0.65f * std::clamp(v, 0.0f, 1.0f)) + 0.5f);
    }
    return out;
}

RgbImage blendOverlay(const RgbImage& image, const RgbaImage& overlay, float opacity) {
    if (image.empty())
        throw Error("cannot draw a heatmap over an empty image");
    RgbImage out = image;
    if (overlay.empty())
        return out;
    opacity = std::clamp(opacity, 0.0f, 1.0f);
    // Premultiplied, so a clear pixel next to a coloured one does not darken the edge.
    cv::Mat premultiplied(overlay.height, overlay.width, CV_32FC4);
    for (int y = 0; y < overlay.height; ++y) {
        const std::uint8_t* src = &overlay.pixels[static_cast<std::size_t>(y) * overlay.width * 4];
        auto* dst = premultiplied.ptr<cv::Vec4f>(y);
        for (int x = 0; x < overlay.width; ++x, src += 4) {
            const float a = src[3] / 255.0f;
            dst[x] = {src[0] * a, src[1] * a, src[2] * a, a};
        }
    }
    cv::Mat stretched = premultiplied;
    if (overlay.width != image.width || overlay.height != image.height)
        cv::resize(premultiplied, stretched, cv::Size(image.width, image.height), 0, 0,
                   cv::INTER_LINEAR);
    for (int y = 0; y < image.height; ++y) {
        const auto* o = stretched.ptr<cv::Vec4f>(y);
        std::uint8_t* p = &out.pixels[static_cast<std::size_t>(y) * image.width * 3];
        for (int x = 0; x < image.width; ++x, p += 3) {
            const float keep = 1.0f - opacity * o[x][3];
            for (int c = 0; c < 3; ++c)
                p[c] = static_cast<std::uint8_t>(
                    std::clamp(p[c] * keep + opacity * o[x][c] + 0.5f, 0.0f, 255.0f));
        }
    }
    return out;
}

RgbImage renderHeatmap(const RgbImage& image, const Heatmap& map, const RenderOptions& options) {
    if (image.empty())
        throw Error("cannot draw a heatmap over an empty image");
    RgbImage drawn = blendOverlay(image, colorizeHeatmap(map, options.colormap), options.opacity);
    cv::Mat blended(drawn.height, drawn.width, CV_8UC3, drawn.pixels.data());
    if (!map.empty() && options.contour_top_percent > 0) {
        // The hottest N% of the covered pixels, outlined at the image's resolution.
        Heatmap unit = map;
        normalizeHeatmap(unit);
        for (std::size_t k = 0; k < unit.values.size(); ++k)
            if (!unit.isCovered(k))
                unit.values[k] = -1.0f; // never in the top
        cv::Mat values(unit.height, unit.width, CV_32F, unit.values.data());
        cv::Mat full;
        cv::resize(values, full, blended.size(), 0, 0, cv::INTER_LINEAR);
        std::vector<float> sorted;
        for (auto it = full.begin<float>(); it != full.end<float>(); ++it)
            if (*it >= 0.0f)
                sorted.push_back(*it);
        if (!sorted.empty()) {
            auto k = static_cast<std::size_t>(sorted.size() *
                                              (1.0 - options.contour_top_percent / 100.0));
            k = std::min(k, sorted.size() - 1);
            std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k),
                             sorted.end());
            cv::Mat top = full >= sorted[k];
            std::vector<std::vector<cv::Point>> contours;
            cv::findContours(top, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
            const int thickness = std::max(1, std::min(image.width, image.height) / 200);
            cv::drawContours(blended, contours, -1, cv::Scalar(255, 255, 255), thickness,
                             cv::LINE_AA);
        }
    }
    if (!options.legend)
        return drawn;
    // A vertical colour bar beside the image (high at the top), never over it.
    const int bar_w = std::max(12, image.width / 40);
    const int margin = bar_w / 2;
    RgbImage out;
    out.width = drawn.width + bar_w + 2 * margin;
    out.height = drawn.height;
    out.pixels.assign(static_cast<std::size_t>(out.width) * out.height * 3, 255);
    const ColormapTable& table = colormapTable(options.colormap);
    for (int y = 0; y < out.height; ++y) {
        std::uint8_t* row = &out.pixels[static_cast<std::size_t>(y) * out.width * 3];
        std::copy_n(&drawn.pixels[static_cast<std::size_t>(y) * drawn.width * 3], drawn.width * 3,
                    row);
        const float t =
            1.0f - static_cast<float>(y) / static_cast<float>(std::max(1, out.height - 1));
        const auto& c = table[static_cast<std::size_t>(colormapIndex(t))];
        for (int x = drawn.width + margin; x < drawn.width + margin + bar_w; ++x)
            std::copy(c.begin(), c.end(), row + static_cast<std::size_t>(x) * 3);
    }
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

} // namespace vqa
