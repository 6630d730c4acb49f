// Heatmap controls above the canvas (overlay on/off, colormap, opacity, layers, head,
// whole-answer map, save) and the legend below it.
#pragma once

#include <QWidget>

#include "ui/Colormap.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QSlider;
class QSpinBox;
class QToolButton;

namespace vqa::ui {

class ColorLegend : public QWidget {
    Q_OBJECT
public:
    explicit ColorLegend(QWidget* parent = nullptr);
    void setColormap(Colormap map);
    void setCaption(const QString& caption);
    QString caption() const { return caption_; }
    QSize sizeHint() const override;

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    Colormap map_ = Colormap::Turbo;
    QString caption_;
};

class ExplainBar : public QWidget {
    Q_OBJECT
public:
    explicit ExplainBar(QWidget* parent = nullptr);

    bool overlayVisible() const;
    void setOverlayVisible(bool visible);
    Colormap colormap() const;
    void setColormap(Colormap map);
    double opacity() const;
    void setOpacity(double opacity);
    int layerBegin() const;
    int layerEnd() const;
    int head() const;
    void setLayers(int begin, int end, int head);
    void setHeatmapAvailable(bool available);  // enables save and whole-answer

    QCheckBox* overlayToggle() const { return toggle_; }
    QComboBox* colormapBox() const { return colormap_; }
    QSlider* opacitySlider() const { return opacity_; }

signals:
    void overlayToggled(bool visible);
    void colormapChanged(vqa::ui::Colormap map);
    void opacityChanged(double opacity);
    void layersChanged();  // layer range or head
    void wholeAnswerRequested();
    void saveRequested();

private:
    QCheckBox* toggle_;
    QComboBox* colormap_;
    QSlider* opacity_;
    QSpinBox* layer_begin_;
    QSpinBox* layer_end_;
    QSpinBox* head_;
    QToolButton* whole_;
    QToolButton* save_;
};

}  // namespace vqa::ui
