#include "ui/Colormap.h"

#include <algorithm>
#include <cmath>

namespace vqa::ui {
namespace {

int toByte(double v) { return std::clamp(static_cast<int>(std::lround(v * 255.0)), 0, 255); }

// Turbo (Google, 2019), polynomial fit by its authors; close to the published table.
QRgb turbo(double x) {
    const double x2 = x * x, x3 = x2 * x, x4 = x3 * x, x5 = x4 * x;
    const double r = 0.13572138 + 4.61539260 * x - 42.66032258 * x2 + 132.13108234 * x3 -
                     152.94239396 * x4 + 59.28637943 * x5;
    const double g = 0.09140261 + 2.19418839 * x + 4.84296658 * x2 - 14.18503333 * x3 +
                     4.27729857 * x4 + 2.82956604 * x5;
    const double b = 0.10667330 + 12.64194608 * x - 60.58204836 * x2 + 110.36276771 * x3 -
                     89.90310912 * x4 + 27.34824973 * x5;
    return qRgb(toByte(r), toByte(g), toByte(b));
}

// Viridis (matplotlib) at nine evenly spaced stops, linearly interpolated.
QRgb viridis(double x) {
    static constexpr int stops[9][3] = {{68, 1, 84},    {72, 40, 120},  {62, 73, 137},
                                        {49, 104, 142}, {38, 130, 142}, {31, 158, 137},
                                        {53, 183, 121}, {110, 206, 88}, {253, 231, 37}};
    const double f = x * 8.0;
    const int i = std::min(static_cast<int>(f), 7);
    const double t = f - i;
    auto mix = [&](int c) { return static_cast<int>(std::lround(stops[i][c] * (1 - t) + stops[i + 1][c] * t)); };
    return qRgb(mix(0), mix(1), mix(2));
}

QRgb jet(double x) {
    auto ramp = [](double v) { return std::clamp(1.5 - std::abs(v), 0.0, 1.0); };
    return qRgb(toByte(ramp(4 * x - 3)), toByte(ramp(4 * x - 2)), toByte(ramp(4 * x - 1)));
}

std::array<QRgb, 256> makeTable(Colormap map) {
    std::array<QRgb, 256> table{};
    for (int i = 0; i < 256; ++i) {
        const double x = i / 255.0;
        switch (map) {
        case Colormap::Turbo: table[i] = turbo(x); break;
        case Colormap::Viridis: table[i] = viridis(x); break;
        case Colormap::Jet: table[i] = jet(x); break;
        case Colormap::Gray: table[i] = qRgb(i, i, i); break;
        }
    }
    return table;
}

}  // namespace

QStringList colormapNames() { return {"turbo", "viridis", "jet", "gray"}; }

QString colormapName(Colormap map) { return colormapNames().at(static_cast<int>(map)); }

Colormap colormapFromName(const QString& name) {
    const int i = colormapNames().indexOf(name.trimmed().toLower());
    return i < 0 ? Colormap::Turbo : static_cast<Colormap>(i);
}

const std::array<QRgb, 256>& colormapTable(Colormap map) {
    static const std::array<std::array<QRgb, 256>, 4> tables = {
        makeTable(Colormap::Turbo), makeTable(Colormap::Viridis), makeTable(Colormap::Jet),
        makeTable(Colormap::Gray)};
    return tables[static_cast<int>(map)];
}

QRgb colormapColor(Colormap map, float t) {
    if (!(t >= 0.0f)) t = 0.0f;  // NaN too
    const int i = std::min(255, static_cast<int>(std::min(t, 1.0f) * 255.0f + 0.5f));
    return colormapTable(map)[i];
}

QImage colormapBar(Colormap map, QSize size, Qt::Orientation orientation) {
    QImage bar(size, QImage::Format_RGB32);
    const int n = orientation == Qt::Horizontal ? size.width() : size.height();
    for (int y = 0; y < size.height(); ++y) {
        auto* line = reinterpret_cast<QRgb*>(bar.scanLine(y));
        for (int x = 0; x < size.width(); ++x) {
            const int k = orientation == Qt::Horizontal ? x : size.height() - 1 - y;
            line[x] = colormapColor(map, n > 1 ? float(k) / float(n - 1) : 0.0f);
        }
    }
    return bar;
}

}  // namespace vqa::ui
