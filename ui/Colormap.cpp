#include "ui/Colormap.h"

namespace vqa::ui {

static_assert(int(Colormap::Turbo) == int(vqa::Colormap::Turbo) &&
              int(Colormap::Viridis) == int(vqa::Colormap::Viridis) &&
              int(Colormap::Jet) == int(vqa::Colormap::Jet) &&
              int(Colormap::Gray) == int(vqa::Colormap::Gray));

vqa::Colormap toEngine(Colormap map) {
    return static_cast<vqa::Colormap>(map);
}

QStringList colormapNames() {
    QStringList names;
    for (const std::string& name : vqa::colormapNames())
        names << QString::fromStdString(name);
    return names;
}

QString colormapName(Colormap map) {
    return QString::fromStdString(vqa::colormapName(toEngine(map)));
}

Colormap colormapFromName(const QString& name) {
    const int i = colormapNames().indexOf(name.trimmed().toLower());
    return i < 0 ? Colormap::Turbo : static_cast<Colormap>(i);
}

QRgb colormapColor(Colormap map, float t) {
    const auto c = vqa::colormapColor(toEngine(map), t);
    return qRgb(c[0], c[1], c[2]);
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

} // namespace vqa::ui
