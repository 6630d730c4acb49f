#include "ui/Heatmap.h"

#include <QPainter>

#include <algorithm>
#include <cmath>

namespace vqa::ui {
namespace {

// Bilinear sample of a grid at fractional cell coordinates (cell centres at i + 0.5).
float sampleGrid(const HeatmapGrid& g, double u, double v) {
    u = std::clamp(u - 0.5, 0.0, double(g.cols - 1));
    v = std::clamp(v - 0.5, 0.0, double(g.rows - 1));
    const int c0 = static_cast<int>(u), r0 = static_cast<int>(v);
    const int c1 = std::min(c0 + 1, g.cols - 1), r1 = std::min(r0 + 1, g.rows - 1);
    const float fu = float(u - c0), fv = float(v - r0);
    auto at = [&](int r, int c) { return g.values[size_t(r) * g.cols + c]; };
    return (at(r0, c0) * (1 - fu) + at(r0, c1) * fu) * (1 - fv) + (at(r1, c0) * (1 - fu) + at(r1, c1) * fu) * fv;
}

bool validGrid(const HeatmapGrid& g) {
    return g.rows > 0 && g.cols > 0 && g.values.size() == size_t(g.rows) * size_t(g.cols) &&
           g.width > 0 && g.height > 0;
}

bool sameLayout(const std::vector<const std::vector<HeatmapGrid>*>& tokens) {
    const auto* first = tokens.front();
    if (!first || first->empty())
        return false;
    for (const auto* grids : tokens) {
        if (!grids || grids->size() != first->size())
            return false;
        for (size_t i = 0; i < grids->size(); ++i) {
            const HeatmapGrid &a = (*grids)[i], &b = (*first)[i];
            if (!validGrid(a) || a.rows != b.rows || a.cols != b.cols || a.x != b.x || a.y != b.y ||
                a.width != b.width || a.height != b.height)
                return false;
        }
    }
    return true;
}

}  // namespace

HeatmapField buildHeatmap(const std::vector<const std::vector<HeatmapGrid>*>& tokens,
                          QSize image_size, int max_side) {
    HeatmapField field;
    if (image_size.isEmpty() || tokens.empty())
        return field;
    const double scale = std::min(1.0, double(max_side) / std::max(image_size.width(), image_size.height()));
    field.width = std::max(1, int(std::lround(image_size.width() * scale)));
    field.height = std::max(1, int(std::lround(image_size.height() * scale)));
    const size_t n = size_t(field.width) * field.height;
    field.values.assign(n, 0.0f);
    field.covered.assign(n, 0);
    const double px = double(image_size.width()) / field.width;   // image pixels per field pixel
    const double py = double(image_size.height()) / field.height;

    // Many tokens over the same grid layout (the usual case: a whole answer): average the
    // grids first, then resample once.
    std::vector<HeatmapGrid> averaged;
    std::vector<const std::vector<HeatmapGrid>*> averaged_list;
    if (tokens.size() > 1 && sameLayout(tokens)) {
        averaged = *tokens.front();
        for (auto& g : averaged)
            std::fill(g.values.begin(), g.values.end(), 0.0f);
        for (const auto* grids : tokens)
            for (size_t i = 0; i < averaged.size(); ++i)
                for (size_t k = 0; k < averaged[i].values.size(); ++k)
                    averaged[i].values[k] += (*grids)[i].values[k] / float(tokens.size());
        averaged_list.push_back(&averaged);
    }
    const auto& sets = averaged_list.empty() ? tokens : averaged_list;

    std::vector<float> sum(n), count(n);
    int used_tokens = 0;
    for (const auto* grids : sets) {
        if (!grids)
            continue;
        std::fill(sum.begin(), sum.end(), 0.0f);
        std::fill(count.begin(), count.end(), 0.0f);
        bool any = false;
        for (const HeatmapGrid& g : *grids) {
            if (!validGrid(g))
                continue;
            const int x0 = std::max(0, int(std::floor(g.x / px)));
            const int x1 = std::min(field.width, int(std::ceil((g.x + g.width) / px)));
            const int y0 = std::max(0, int(std::floor(g.y / py)));
            const int y1 = std::min(field.height, int(std::ceil((g.y + g.height) / py)));
            for (int y = y0; y < y1; ++y) {
                const double iy = (y + 0.5) * py;
                if (iy < g.y || iy >= g.y + g.height)
                    continue;
                const double v = (iy - g.y) / g.height * g.rows;
                for (int x = x0; x < x1; ++x) {
                    const double ix = (x + 0.5) * px;
                    if (ix < g.x || ix >= g.x + g.width)
                        continue;
                    const size_t k = size_t(y) * field.width + x;
                    sum[k] += sampleGrid(g, (ix - g.x) / g.width * g.cols, v);
                    count[k] += 1.0f;
                    any = true;
                }
            }
        }
        if (!any)
            continue;
        ++used_tokens;
        for (size_t k = 0; k < n; ++k) {
            if (count[k] > 0) {
                field.values[k] += sum[k] / count[k];
                field.covered[k] = 1;
            }
        }
    }
    if (used_tokens == 0)
        return {};
    // A light blur (two box passes, about 1.5% of the longer side) softens the seams where
    // tiles meet, which are artefacts of the tiling, not of where the model looked.
    const int radius = std::max(1, int(std::lround(0.015 * std::max(field.width, field.height))));
    std::vector<float> tmp(n);
    for (int pass = 0; pass < 2; ++pass) {
        for (int horizontal = 1; horizontal >= 0; --horizontal) {
            const int len = horizontal ? field.width : field.height;
            const int lines = horizontal ? field.height : field.width;
            for (int line = 0; line < lines; ++line) {
                auto index = [&](int i) {
                    return horizontal ? size_t(line) * field.width + i : size_t(i) * field.width + line;
                };
                // A running sum over the window [i - radius, i + radius] of covered pixels.
                float acc = 0, w = 0;
                for (int j = 0; j < std::min(radius, len); ++j)
                    if (field.covered[index(j)]) {
                        acc += field.values[index(j)];
                        w += 1;
                    }
                for (int i = 0; i < len; ++i) {
                    const int in = i + radius, out = i - radius - 1;
                    if (in < len && field.covered[index(in)]) {
                        acc += field.values[index(in)];
                        w += 1;
                    }
                    if (out >= 0 && field.covered[index(out)]) {
                        acc -= field.values[index(out)];
                        w -= 1;
                    }
                    tmp[index(i)] = w > 0 ? acc / w : 0.0f;
                }
            }
            for (size_t k = 0; k < n; ++k)
                if (field.covered[k])
                    field.values[k] = tmp[k];
        }
    }
    // Min-max over covered pixels: the map shows where, relative to the rest of the image.
    float lo = INFINITY, hi = -INFINITY;
    for (size_t k = 0; k < n; ++k) {
        if (field.covered[k]) {
            lo = std::min(lo, field.values[k]);
            hi = std::max(hi, field.values[k]);
        }
    }
    const float range = hi - lo;
    for (size_t k = 0; k < n; ++k)
        field.values[k] = field.covered[k] && range > 0 ? (field.values[k] - lo) / range : 0.0f;
    return field;
}

QImage colorizeHeatmap(const HeatmapField& field, Colormap map) {
    if (field.empty())
        return {};
    QImage image(field.width, field.height, QImage::Format_ARGB32);
    const auto& table = colormapTable(map);
    for (int y = 0; y < field.height; ++y) {
        auto* line = reinterpret_cast<QRgb*>(image.scanLine(y));
        for (int x = 0; x < field.width; ++x) {
            const size_t k = size_t(y) * field.width + x;
            if (!field.covered[k]) {
                line[x] = 0u;
                continue;
            }
            // Opaque where attention is high, partly see-through where it is low, so the
            // image stays readable under the cold parts.
            const float v = std::clamp(field.values[k], 0.0f, 1.0f);
            const QRgb c = table[std::clamp(int(v * 255.0f + 0.5f), 0, 255)];
            line[x] = qRgba(qRed(c), qGreen(c), qBlue(c), int(255.0f * (0.35f + 0.65f * v) + 0.5f));
        }
    }
    return image;
}

QImage blendOverlay(const QImage& image, const QImage& overlay, double opacity) {
    QImage out = image.convertToFormat(QImage::Format_ARGB32_Premultiplied);
    if (overlay.isNull())
        return out;
    QPainter painter(&out);
    painter.setRenderHint(QPainter::SmoothPixmapTransform);
    painter.setOpacity(std::clamp(opacity, 0.0, 1.0));
    painter.drawImage(QRect(QPoint(0, 0), out.size()), overlay);
    return out;
}

}  // namespace vqa::ui
