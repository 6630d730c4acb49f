// Heatmap controls above the canvas (overlay on/off, boxes on/off, colormap, opacity, layers,
// head, whole-answer map, save) and the legend below it.
#pragma once

#include <QWidget>

#include "ui/Colormap.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QSlider;
class QSpinBox;
class QAction;
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

// What the heatmap shows: the attention captured while answering, relevancy (gradient-
// weighted attention), or rollout (the attention carried through the vision tower); the last
// two computed on request for a clicked word.
enum class ExplainMode { Attention = 0, Relevancy = 1, Rollout = 2 };

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
    void setLayers(int begin, int end, int head);  // quietly (settings restored)
    void chooseLayers(int begin, int end, int head);  // as a person would: layersChanged once
    // The loaded model's decoder layers and attention heads bound the spin boxes (0: unknown).
    void setModelShape(int layers, int heads);
    ExplainMode mode() const;
    void setMode(ExplainMode mode);
    void setHeatmapAvailable(bool available);  // enables save and whole-answer
    // Answers that come with no attention (a model on a third-party server): the heatmap
    // controls are off and `why` says so beside them. Empty: attention comes again.
    void setNoAttention(const QString& why);
    QString noAttention() const;
    bool boxesVisible() const;
    void setBoxesVisible(bool visible);
    void setBoxesAvailable(bool available);  // the boxes' toggle shows once an answer names boxes

    QCheckBox* overlayToggle() const { return toggle_; }
    QCheckBox* boxesToggle() const { return boxes_; }
    QComboBox* colormapBox() const { return colormap_; }
    QSlider* opacitySlider() const { return opacity_; }
    QComboBox* modeBox() const { return mode_; }
    QSpinBox* layerBeginBox() const { return layer_begin_; }
    QSpinBox* layerEndBox() const { return layer_end_; }
    QSpinBox* headBox() const { return head_; }
    // The checks of an answer (what it depended on): a button with their menu.
    QToolButton* checkButton() const { return check_; }
    QToolButton* headsButton() const { return heads_; }
    QAction* relianceAction() const { return reliance_; }
    QAction* occludeAction() const { return occlude_; }
    QAction* occlusionMapAction() const { return occlusion_map_; }
    QAction* stopCheckAction() const { return stop_check_; }
    void setCheckRunning(bool running);  // the checks off, Stop on

signals:
    void overlayToggled(bool visible);
    void boxesToggled(bool visible);
    void colormapChanged(vqa::ui::Colormap map);
    void opacityChanged(double opacity);
    void layersChanged();  // layer range or head
    void modeChanged(vqa::ui::ExplainMode mode);
    void wholeAnswerRequested();
    void headsRequested();  // the layer x head explorer
    void relianceRequested();
    void occludeRequested();             // the user is to drag the region on the image
    void occlusionMapRequested(int grid);
    void stopCheckRequested();
    void saveRequested();

private:
    QCheckBox* toggle_;
    QCheckBox* boxes_;
    QComboBox* mode_;
    QComboBox* colormap_;
    QSlider* opacity_;
    QSpinBox* layer_begin_;
    QSpinBox* layer_end_;
    QSpinBox* head_;
    QToolButton* whole_;
    QToolButton* save_;
    QToolButton* check_;
    QToolButton* heads_;
    QAction* reliance_;
    QAction* occlude_;
    QAction* occlusion_map_;
    QAction* stop_check_;
    QLabel* no_attention_;
};

}  // namespace vqa::ui
