#include "ui/ImagePanel.h"

#include <QDir>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QToolButton>
#include <QVBoxLayout>

#include "ui/ExplainBar.h"
#include "ui/ExplanationController.h"
#include "ui/ImageCanvas.h"
#include "ui/ImageLoader.h"
#include "ui/Settings.h"
#include "ui/VideoStrip.h"

namespace vqa::ui {

ImagePanel::ImagePanel(const AppSettings& settings, QWidget* parent)
    : QWidget(parent), canvas_(new ImageCanvas), explain_(new ExplainBar), legend_(new ColorLegend),
      zoom_label_(new QLabel), view_row_(new QWidget), thumbnails_(new QListWidget), video_(new VideoStrip) {
    zoom_label_->setMinimumWidth(zoom_label_->fontMetrics().horizontalAdvance("10000 %"));
    zoom_label_->setAccessibleName(tr("Zoom"));
    thumbnails_->setAccessibleName(tr("Images"));
    thumbnails_->setViewMode(QListView::IconMode);
    thumbnails_->setFlow(QListView::LeftToRight);
    thumbnails_->setWrapping(false);
    thumbnails_->setMovement(QListView::Static);
    thumbnails_->setIconSize(QSize(56, 56));
    thumbnails_->setSpacing(2);
    thumbnails_->setFixedHeight(56 + thumbnails_->fontMetrics().height() + 22);
    thumbnails_->setFrameShape(QFrame::NoFrame);
    thumbnails_->setHorizontalScrollBarPolicy(Qt::ScrollBarAsNeeded);
    thumbnails_->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    thumbnails_->setContextMenuPolicy(Qt::ActionsContextMenu);
    thumbnails_->hide();

    explain_->setColormap(colormapFromName(settings.colormap));
    explain_->setOpacity(settings.overlay_opacity);
    explain_->setOverlayVisible(settings.overlay_visible);
    explain_->setBoxesVisible(settings.boxes_visible);
    explain_->setLayers(settings.layer_begin, settings.layer_end, settings.head);
    canvas_->setOverlayOpacity(settings.overlay_opacity);
    canvas_->setOverlayVisible(settings.overlay_visible);
    canvas_->setBoxesVisible(settings.boxes_visible);
    legend_->setColormap(colormapFromName(settings.colormap));

    auto makeToolButton = [](const QString& text, const QString& tip) {
        auto* b = new QToolButton;
        b->setText(text);
        b->setToolTip(tip);
        b->setAccessibleName(tip);
        b->setAutoRaise(true);
        return b;
    };
    QToolButton* fit = makeToolButton(tr("Fit"), tr("Fit to window (Ctrl+0)"));
    QToolButton* one = makeToolButton(tr("1:1"), tr("Actual size (Ctrl+1)"));
    QToolButton* out = makeToolButton(QStringLiteral("−"), tr("Zoom out (Ctrl+-)"));
    QToolButton* in = makeToolButton(QStringLiteral("+"), tr("Zoom in (Ctrl++)"));
    connect(fit, &QToolButton::clicked, canvas_, &ImageCanvas::fitToWindow);
    connect(one, &QToolButton::clicked, canvas_, &ImageCanvas::actualSize);
    connect(out, &QToolButton::clicked, canvas_, &ImageCanvas::zoomOut);
    connect(in, &QToolButton::clicked, canvas_, &ImageCanvas::zoomIn);
    connect(canvas_, &ImageCanvas::zoomChanged, this,
            [this](double percent) { zoom_label_->setText(QString::number(percent, 'f', 0) + " %"); });

    auto* view_row = new QHBoxLayout(view_row_);
    view_row->setContentsMargins(6, 0, 6, 0);
    view_row->addWidget(fit);
    view_row->addWidget(one);
    view_row->addWidget(out);
    view_row->addWidget(in);
    view_row->addWidget(zoom_label_);
    view_row->addWidget(legend_, 1);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 4, 0, 4);
    layout->setSpacing(4);
    layout->addWidget(explain_);
    layout->addWidget(canvas_, 1);
    layout->addWidget(video_);
    layout->addWidget(view_row_);
    layout->addWidget(thumbnails_);

    // The bar's look reaches the canvas and the legend (the settings are the window's).
    connect(explain_, &ExplainBar::overlayToggled, canvas_, &ImageCanvas::setOverlayVisible);
    connect(explain_, &ExplainBar::boxesToggled, canvas_, &ImageCanvas::setBoxesVisible);
    connect(explain_, &ExplainBar::opacityChanged, canvas_, &ImageCanvas::setOverlayOpacity);
    connect(explain_, &ExplainBar::colormapChanged, legend_, &ColorLegend::setColormap);
    connect(thumbnails_, &QListWidget::currentRowChanged, this, &ImagePanel::thumbnailSelected);
    // A video's frames reach the canvas in place of its first frame (zoom and overlay stay).
    connect(video_, &VideoStrip::frameShown, canvas_, [this](qint64, const QImage& image) { canvas_->replaceImage(image); });
}

void ImagePanel::showImage(const LoadedImage* image, int index) {
    if (!image) {
        canvas_->clear();
        thumbnails_->hide();
        video_->setVideo(nullptr);
        shown_key_.clear();
        return;
    }
    showPicture(*image);
    const QSignalBlocker block(thumbnails_);
    thumbnails_->setCurrentRow(index);
}

void ImagePanel::showPicture(const LoadedImage& picture) {
    canvas_->setImage(picture.display, picture.original_size);
    shown_key_ = picture.key;
    video_->setVideo(picture.video && picture.missing.isEmpty() ? &picture : nullptr);  // a missing one: its placeholder
}

void ImagePanel::insertThumbnail(int index, const LoadedImage& image) {
    auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(image.thumbnail)), image.name);
    item->setToolTip(image.path.isEmpty() ? image.name : QDir::toNativeSeparators(image.path));
    item->setSizeHint(QSize(80, 56 + thumbnails_->fontMetrics().height() + 10));
    thumbnails_->insertItem(index, item);
    thumbnails_->setVisible(true);
}

void ImagePanel::removeThumbnail(int index) { delete thumbnails_->takeItem(index); }

void ImagePanel::showHeatmap(const HeatmapView& view) {
    canvas_->setOverlay(view.overlay);
    canvas_->setBoxes(view.boxes);
    canvas_->setHighlightedBox(view.highlight_box);
    legend_->setCaption(view.caption);
    explain_->setHeatmapAvailable(view.available);
    explain_->setBoxesAvailable(!view.boxes.empty());
}

void ImagePanel::setHasImage(bool has_image) {
    explain_->setVisible(has_image);
    view_row_->setVisible(has_image);
    thumbnails_->setVisible(has_image);
}

}  // namespace vqa::ui
