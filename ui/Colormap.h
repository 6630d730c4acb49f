// Colormaps for heatmaps in Qt's types: adapters over the engine's tables
// (engine/explain/Heatmap.h), so the window colours exactly as the CLI does.
#pragma once

#include <QImage>
#include <QString>
#include <QStringList>

#include "engine/explain/Heatmap.h"

namespace vqa::ui {

// The engine's vqa::Colormap, in the order of its names; the window's own enum so that Qt's
// signals and the settings name it in ui/ (and calls here never meet the engine's overloads).
enum class Colormap { Turbo, Viridis, Jet, Gray };
vqa::Colormap toEngine(Colormap map);

QStringList colormapNames(); // "turbo", "viridis", "jet", "gray"
QString colormapName(Colormap map);
Colormap colormapFromName(const QString& name); // unknown names give Turbo
QRgb colormapColor(Colormap map, float t);      // t in [0, 1], clamped

// A gradient bar, low values on the left (or bottom when vertical).
QImage colormapBar(Colormap map, QSize size, Qt::Orientation orientation = Qt::Horizontal);

} // namespace vqa::ui
