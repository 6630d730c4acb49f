#include "ui/ExplainBar.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QMenu>
#include <QPainter>
#include <QSlider>
#include <QSpinBox>
#include <QToolButton>

namespace vqa::ui {

ColorLegend::ColorLegend(QWidget* parent) : QWidget(parent) {
    setAccessibleName(tr("Heatmap legend"));
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
}

void ColorLegend::setColormap(Colormap map) {
    map_ = map;
    update();
}

void ColorLegend::setCaption(const QString& caption) {
    caption_ = caption;
    setAccessibleDescription(caption);
    update();
}

QSize ColorLegend::sizeHint() const { return {360, fontMetrics().height() + 10}; }

void ColorLegend::paintEvent(QPaintEvent*) {
    QPainter p(this);
    const QFontMetrics fm = fontMetrics();
    const int h = height();
    const QString low = tr("low"), high = tr("high attention");
    int x = 4;
    p.setPen(palette().color(QPalette::PlaceholderText));
    p.drawText(QRect(x, 0, fm.horizontalAdvance(low), h), Qt::AlignVCenter, low);
    x += fm.horizontalAdvance(low) + 6;
    const QRect bar(x, h / 2 - 5, 140, 10);
    p.drawImage(bar, colormapBar(map_, bar.size()));
    p.setPen(palette().color(QPalette::Mid));
    p.drawRect(bar.adjusted(0, 0, -1, -1));
    x = bar.right() + 7;
    p.setPen(palette().color(QPalette::PlaceholderText));
    p.drawText(QRect(x, 0, fm.horizontalAdvance(high), h), Qt::AlignVCenter, high);
    x += fm.horizontalAdvance(high) + 16;
    p.setPen(palette().color(QPalette::WindowText));
    p.drawText(QRect(x, 0, width() - x - 4, h), Qt::AlignVCenter,
               fm.elidedText(caption_, Qt::ElideRight, width() - x - 4));
}

ExplainBar::ExplainBar(QWidget* parent)
    : QWidget(parent), toggle_(new QCheckBox(tr("&Heatmap"))), boxes_(new QCheckBox(tr("&Boxes"))),
      mode_(new QComboBox), colormap_(new QComboBox),
      opacity_(new QSlider(Qt::Horizontal)), layer_begin_(new QSpinBox), layer_end_(new QSpinBox),
      head_(new QSpinBox), whole_(new QToolButton), save_(new QToolButton), check_(new QToolButton),
      heads_(new QToolButton) {
    setAccessibleName(tr("Heatmap controls"));
    toggle_->setChecked(true);
    toggle_->setToolTip(tr("Show or hide the heatmap over the image (Ctrl+H)"));
    boxes_->setChecked(true);
    boxes_->setToolTip(tr("Show or hide the boxes the answer names on the image (Ctrl+B); "
                          "hover a box to see the words that named it"));
    boxes_->setAccessibleName(tr("Boxes"));
    boxes_->hide();
    mode_->addItem(tr("Attention"));
    mode_->addItem(tr("Relevancy"));
    mode_->addItem(tr("Rollout"));
    mode_->setAccessibleName(tr("Heatmap kind"));
    mode_->setToolTip(tr("Attention: where the model looked while writing each word (instant).\n"
                         "Relevancy: gradient-weighted attention, what actually made the word "
                         "(computed when you click a word).\n"
                         "Rollout: a word's attention carried through the vision tower's own attention onto its "
                         "patches (Abnar & Zuidema; SmolVLM and LLaVA; computed when you click a word)."));
    colormap_->addItems(colormapNames());
    colormap_->setAccessibleName(tr("Colormap"));
    colormap_->setToolTip(tr("Colormap of the heatmap"));
    opacity_->setRange(0, 100);
    opacity_->setValue(55);
    opacity_->setMinimumWidth(64);  // squeezed by a crowded row, a slider is only its handle
    opacity_->setMaximumWidth(110);
    opacity_->setAccessibleName(tr("Heatmap opacity"));
    opacity_->setToolTip(tr("Opacity of the heatmap"));
    for (QSpinBox* s : {layer_begin_, layer_end_, head_}) {
        s->setRange(-1, 255);
        s->setValue(-1);
        s->setSpecialValueText(tr("auto"));
    }
    head_->setSpecialValueText(tr("mean"));
    layer_begin_->setAccessibleName(tr("First layer"));
    layer_end_->setAccessibleName(tr("Last layer"));
    head_->setAccessibleName(tr("Attention head"));
    const QString layer_tip = tr("Decoder layers whose attention is averaged (auto: the upper half). "
                                 "Redraws the last answer's maps at once.");
    layer_begin_->setToolTip(layer_tip);
    layer_end_->setToolTip(layer_tip);
    head_->setToolTip(tr("Attention head (mean: average of all heads). Redraws the last answer's maps at once."));
    whole_->setText(tr("Whole answer"));
    whole_->setToolTip(tr("Mean heatmap over all tokens of the last answer"));
    whole_->setAccessibleName(tr("Whole-answer heatmap"));
    save_->setText(tr("Save…"));
    save_->setToolTip(tr("Save the image with the heatmap as PNG"));
    save_->setAccessibleName(tr("Save heatmap"));
    heads_->setText(tr("Heads…"));
    heads_->setToolTip(tr("Every layer's and head's map of the word in view (or of the whole answer), side by side"));
    heads_->setAccessibleName(tr("Explore the attention heads"));
    check_->setText(tr("Check"));
    check_->setAccessibleName(tr("Check the answer"));
    check_->setToolTip(tr("What did the answer depend on? Score it again with the image changed"));
    check_->setPopupMode(QToolButton::InstantPopup);
    auto* checks = new QMenu(check_);
    reliance_ = checks->addAction(tr("How much did each word rely on the image?"));
    reliance_->setToolTip(tr("Scores the answer again with the image made its mean colour; a bar under each word "
                             "shows how much it fell (orange: the word came from the image)"));
    occlude_ = checks->addAction(tr("Hide a region of the image…"));
    occlude_->setToolTip(tr("Drag a rectangle on the image: the answer is scored again with it greyed, and the "
                            "words that fell get a bar"));
    occlusion_map_ = checks->addAction(tr("Occlusion map (8×8)"));
    occlusion_map_->setToolTip(tr("Greys each of 64 cells in turn and maps how much the answer fell: what the "
                                  "answer needed, to set beside where the model looked (65 passes)"));
    checks->addSeparator();
    stop_check_ = checks->addAction(tr("Stop the check"));
    stop_check_->setEnabled(false);
    check_->setMenu(checks);
    setHeatmapAvailable(false);

    auto* row = new QHBoxLayout(this);
    row->setContentsMargins(6, 2, 6, 2);
    row->setSpacing(6);
    row->addWidget(toggle_);
    row->addWidget(boxes_);
    no_attention_ = new QLabel(this);
    no_attention_->setWordWrap(true);
    no_attention_->hide();
    row->addWidget(no_attention_, 1);
    row->addWidget(mode_);
    row->addWidget(colormap_);
    auto* op = new QLabel(tr("Opacity"));
    op->setBuddy(opacity_);
    row->addWidget(op);
    row->addWidget(opacity_);
    row->addSpacing(8);
    auto* layers = new QLabel(tr("Layers"));
    layers->setBuddy(layer_begin_);
    row->addWidget(layers);
    row->addWidget(layer_begin_);
    auto* dash = new QLabel(QStringLiteral("–"));
    dash->setBuddy(layer_end_);
    row->addWidget(dash);
    row->addWidget(layer_end_);
    auto* heads = new QLabel(tr("Head"));
    heads->setBuddy(head_);
    row->addWidget(heads);
    row->addWidget(head_);
    row->addStretch(1);
    row->addWidget(whole_);
    row->addWidget(heads_);
    row->addWidget(check_);
    row->addWidget(save_);

    connect(toggle_, &QCheckBox::toggled, this, &ExplainBar::overlayToggled);
    connect(boxes_, &QCheckBox::toggled, this, &ExplainBar::boxesToggled);
    connect(mode_, &QComboBox::currentIndexChanged, this, [this](int i) {
        const auto mode = static_cast<ExplainMode>(std::clamp(i, 0, 2));
        for (QSpinBox* s : {layer_begin_, layer_end_, head_})
            s->setEnabled(mode != ExplainMode::Relevancy);  // relevancy sums all layers and heads
        emit modeChanged(mode);
    });
    connect(colormap_, &QComboBox::currentIndexChanged, this,
            [this](int i) { emit colormapChanged(static_cast<Colormap>(std::max(0, i))); });
    connect(opacity_, &QSlider::valueChanged, this, [this](int v) { emit opacityChanged(v / 100.0); });
    for (QSpinBox* s : {layer_begin_, layer_end_, head_})
        connect(s, &QSpinBox::valueChanged, this, &ExplainBar::layersChanged);
    connect(whole_, &QToolButton::clicked, this, &ExplainBar::wholeAnswerRequested);
    connect(save_, &QToolButton::clicked, this, &ExplainBar::saveRequested);
    connect(heads_, &QToolButton::clicked, this, &ExplainBar::headsRequested);
    connect(reliance_, &QAction::triggered, this, &ExplainBar::relianceRequested);
    connect(occlude_, &QAction::triggered, this, &ExplainBar::occludeRequested);
    connect(occlusion_map_, &QAction::triggered, this, [this] { emit occlusionMapRequested(8); });
    connect(stop_check_, &QAction::triggered, this, &ExplainBar::stopCheckRequested);
}

void ExplainBar::setCheckRunning(bool running) {
    for (QAction* a : {reliance_, occlude_, occlusion_map_})
        a->setEnabled(!running);
    stop_check_->setEnabled(running);
}

bool ExplainBar::overlayVisible() const { return toggle_->isChecked(); }
void ExplainBar::setOverlayVisible(bool visible) { toggle_->setChecked(visible); }
bool ExplainBar::boxesVisible() const { return boxes_->isChecked(); }
void ExplainBar::setBoxesVisible(bool visible) { boxes_->setChecked(visible); }
void ExplainBar::setBoxesAvailable(bool available) { boxes_->setVisible(available); }
Colormap ExplainBar::colormap() const { return static_cast<Colormap>(std::max(0, colormap_->currentIndex())); }
void ExplainBar::setColormap(Colormap map) { colormap_->setCurrentIndex(static_cast<int>(map)); }
double ExplainBar::opacity() const { return opacity_->value() / 100.0; }
void ExplainBar::setOpacity(double opacity) { opacity_->setValue(int(opacity * 100 + 0.5)); }
int ExplainBar::layerBegin() const { return layer_begin_->value(); }
int ExplainBar::layerEnd() const { return layer_end_->value(); }
int ExplainBar::head() const { return head_->value(); }

void ExplainBar::setLayers(int begin, int end, int head) {
    const QSignalBlocker b1(layer_begin_), b2(layer_end_), b3(head_);
    layer_begin_->setValue(begin);
    layer_end_->setValue(end);
    head_->setValue(head);
}

void ExplainBar::chooseLayers(int begin, int end, int head) {
    if (begin == layerBegin() && end == layerEnd() && head == this->head())
        return;
    setLayers(begin, end, head);
    emit layersChanged();
}

void ExplainBar::setModelShape(int layers, int heads) {
    const QSignalBlocker b1(layer_begin_), b2(layer_end_), b3(head_);
    const int max_layer = layers > 0 ? layers - 1 : 255;
    layer_begin_->setMaximum(max_layer);
    layer_end_->setMaximum(max_layer);
    head_->setMaximum(heads > 0 ? heads - 1 : 255);
    if (layers > 0) {
        const QString tip = tr("Decoder layers 0–%1 whose attention is averaged (auto: the upper half). "
                               "Redraws the last answer's maps at once.").arg(max_layer);
        layer_begin_->setToolTip(tip);
        layer_end_->setToolTip(tip);
    }
}

ExplainMode ExplainBar::mode() const { return static_cast<ExplainMode>(std::clamp(mode_->currentIndex(), 0, 2)); }
void ExplainBar::setMode(ExplainMode mode) { mode_->setCurrentIndex(int(mode)); }

void ExplainBar::setNoAttention(const QString& why) {
    no_attention_->setText(why);
    no_attention_->setVisible(!why.isEmpty());
    for (QWidget* w : std::initializer_list<QWidget*>{toggle_, mode_, colormap_, opacity_, layer_begin_, layer_end_, head_})
        w->setVisible(why.isEmpty());
    for (QLabel* label : findChildren<QLabel*>())
        if (label != no_attention_ && label->buddy())
            label->setVisible(why.isEmpty());
    if (!why.isEmpty())
        setHeatmapAvailable(false);
}

QString ExplainBar::noAttention() const { return no_attention_->text(); }

void ExplainBar::setHeatmapAvailable(bool available) {
    whole_->setEnabled(available);
    save_->setEnabled(available);
}

}  // namespace vqa::ui
