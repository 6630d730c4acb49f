// Colormaps for heatmaps: small lookup tables, no OpenCV in ui/.
#pragma once

#include <QImage>
#include <QString>
#include <QStringList>

#include <array>

namespace vqa::ui {

enum class Colormap { Turbo, Viridis, Jet, Gray };

QStringList colormapNames();                       // "turbo", "viridis", "jet", "gray"
QString colormapName(Colormap map);
Colormap colormapFromName(const QString& name);    // unknown names give Turbo
const std::array<QRgb, 256>& colormapTable(Colormap map);
QRgb colormapColor(Colormap map, float t);         // t in [0, 1], clamped

// A gradient bar, low values on the left (or bottom when vertical).
QImage colormapBar(Colormap map, QSize size, Qt::Orientation orientation = Qt::Horizontal);

}  // namespace vqa::ui
