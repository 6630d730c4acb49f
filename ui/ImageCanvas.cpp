#include "ui/ImageCanvas.h"

#include <QDragEnterEvent>
#include <QDropEvent>
#include <QMimeData>
#include <QPainter>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>

namespace vqa::ui {

ImageCanvas::ImageCanvas(QWidget* parent) : QWidget(parent) {
    setAcceptDrops(true);
    setAccessibleName(tr("Image"));
    setAccessibleDescription(tr("The current image; drop an image here. Wheel to zoom, drag to pan."));
    setMinimumSize(240, 180);
    setFocusPolicy(Qt::StrongFocus);
    setPlaceholderText(tr("Drop an image here, paste one (Ctrl+V),\nor use File ▸ Open Image… (Ctrl+O)"));
}

void ImageCanvas::setPlaceholderText(const QString& text) {
    placeholder_ = text;
    update();
}

void ImageCanvas::setImage(const QImage& display, QSize original_size) {
    image_ = display;
    original_size_ = original_size.isValid() ? original_size : display.size();
    cache_ = {};
    fitToWindow();
}

void ImageCanvas::clear() {
    image_ = {};
    original_size_ = {};
    overlay_ = {};
    cache_ = {};
    update();
}

void ImageCanvas::setOverlay(const QImage& overlay) {
    overlay_ = overlay;
    update();
}

void ImageCanvas::setOverlayVisible(bool visible) {
    overlay_visible_ = visible;
    update();
}

void ImageCanvas::setOverlayOpacity(double opacity) {
    opacity_ = std::clamp(opacity, 0.0, 1.0);
    update();
}

QImage ImageCanvas::composite() const {
    if (image_.isNull())
        return {};
    QImage out = image_.convertToFormat(QImage::Format_ARGB32_Premultiplied);
    if (!overlay_.isNull() && overlay_visible_) {
        QPainter p(&out);
        p.setRenderHint(QPainter::SmoothPixmapTransform);
        p.setOpacity(opacity_);
        p.drawImage(QRect(QPoint(0, 0), out.size()), overlay_);
    }
    return out;
}

double ImageCanvas::fitScale() const {
    if (image_.isNull())
        return 1.0;
    const double margin = 16;
    return std::min((width() - margin) / image_.width(), (height() - margin) / image_.height());
}

QRectF ImageCanvas::imageRect() const { return {offset_, QSizeF(image_.size()) * scale_}; }

void ImageCanvas::fitToWindow() {
    fit_ = true;
    scale_ = std::max(1e-3, fitScale());
    clampOffset();
    emit zoomChanged(original_size_.width() > 0 ? 100.0 * scale_ * image_.width() / original_size_.width() : 100.0);
    update();
}

void ImageCanvas::actualSize() {
    if (image_.isNull())
        return;
    // One original pixel per device pixel.
    const double s = double(original_size_.width()) / image_.width() / devicePixelRatioF();
    zoomAt(s, rect().center());
}

void ImageCanvas::zoomIn() { zoomAt(scale_ * 1.25, rect().center()); }
void ImageCanvas::zoomOut() { zoomAt(scale_ / 1.25, rect().center()); }

void ImageCanvas::zoomAt(double new_scale, QPointF anchor) {
    if (image_.isNull())
        return;
    new_scale = std::clamp(new_scale, std::min(0.01, fitScale()), 32.0);
    const QPointF image_point = (anchor - offset_) / scale_;
    scale_ = new_scale;
    fit_ = false;
    offset_ = anchor - image_point * scale_;
    clampOffset();
    emit zoomChanged(100.0 * scale_ * image_.width() / std::max(1, original_size_.width()));
    update();
}

void ImageCanvas::clampOffset() {
    const QSizeF s = QSizeF(image_.size()) * scale_;
    auto clampAxis = [](double offset, double extent, double view) {
        if (extent <= view)
            return (view - extent) / 2;  // centred when it fits
        return std::clamp(offset, view - extent, 0.0);
    };
    offset_.setX(clampAxis(offset_.x(), s.width(), width()));
    offset_.setY(clampAxis(offset_.y(), s.height(), height()));
}

void ImageCanvas::resizeEvent(QResizeEvent*) {
    if (fit_)
        fitToWindow();
    else
        clampOffset();
}

void ImageCanvas::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    painter.fillRect(rect(), palette().color(QPalette::Window).darker(palette().color(QPalette::Window).lightness() > 128 ? 106 : 80));
    if (image_.isNull()) {
        QRectF box = QRectF(rect()).adjusted(24, 24, -24, -24);
        QPen pen(palette().color(QPalette::Mid), 2, Qt::DashLine);
        painter.setRenderHint(QPainter::Antialiasing);
        painter.setPen(pen);
        painter.drawRoundedRect(box, 12, 12);
        painter.setPen(palette().color(QPalette::PlaceholderText));
        QFont f = font();
        f.setPointSizeF(f.pointSizeF() * 1.15);
        painter.setFont(f);
        painter.drawText(box, Qt::AlignCenter | Qt::TextWordWrap, placeholder_);
        return;
    }
    const QRectF target = imageRect();
    const double dpr = devicePixelRatioF();
    if (scale_ * dpr < 1.0) {
        // Shrinking: scale once per zoom with a good filter, then draw 1:1.
        const QSize want = (target.size() * dpr).toSize();
        if (cache_.isNull() || cache_size_ != want) {
            cache_ = QPixmap::fromImage(image_.scaled(want, Qt::IgnoreAspectRatio, Qt::SmoothTransformation));
            cache_.setDevicePixelRatio(dpr);
            cache_size_ = want;
        }
        painter.drawPixmap(target.topLeft(), cache_);
    } else {
        painter.setRenderHint(QPainter::SmoothPixmapTransform, scale_ * dpr < 4.0);
        painter.drawImage(target, image_);
    }
    if (overlay_visible_ && !overlay_.isNull()) {
        painter.setRenderHint(QPainter::SmoothPixmapTransform);
        painter.setOpacity(opacity_);
        painter.drawImage(target, overlay_);
        painter.setOpacity(1.0);
    }
}

void ImageCanvas::wheelEvent(QWheelEvent* event) {
    const double steps = event->angleDelta().y() / 120.0;
    if (steps != 0 && !image_.isNull())
        zoomAt(scale_ * std::pow(1.15, steps), event->position());
    event->accept();
}

void ImageCanvas::mousePressEvent(QMouseEvent* event) {
    if (event->button() == Qt::LeftButton && !image_.isNull()) {
        dragging_ = true;
        drag_start_ = event->position().toPoint();
        drag_offset_ = offset_;
        setCursor(Qt::ClosedHandCursor);
    }
}

void ImageCanvas::mouseMoveEvent(QMouseEvent* event) {
    if (dragging_) {
        offset_ = drag_offset_ + (event->position().toPoint() - drag_start_);
        fit_ = false;
        clampOffset();
        update();
    }
}

void ImageCanvas::mouseReleaseEvent(QMouseEvent*) {
    dragging_ = false;
    unsetCursor();
}

void ImageCanvas::mouseDoubleClickEvent(QMouseEvent* event) {
    if (fit_)
        zoomAt(double(original_size_.width()) / std::max(1, image_.width()) / devicePixelRatioF(), event->position());
    else
        fitToWindow();
}

void ImageCanvas::dragEnterEvent(QDragEnterEvent* event) {
    const QMimeData* mime = event->mimeData();
    const QStringList formats = mime->formats();
    const bool encoded = std::any_of(formats.begin(), formats.end(),
                                     [](const QString& f) { return f.startsWith(QLatin1String("image/")); });
    if (mime->hasUrls() || mime->hasImage() || mime->hasHtml() || encoded)  // HTML: a browser's <img>
        event->acceptProposedAction();
}

void ImageCanvas::dragMoveEvent(QDragMoveEvent* event) { event->acceptProposedAction(); }

void ImageCanvas::dropEvent(QDropEvent* event) {
    emit dropped(event->mimeData());
    event->acceptProposedAction();
}

}  // namespace vqa::ui
