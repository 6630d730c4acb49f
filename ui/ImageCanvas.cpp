#include "ui/ImageCanvas.h"

#include <QDragEnterEvent>
#include <QDropEvent>
#include <QMimeData>
#include <QPainter>

namespace vqa::ui {

ImageCanvas::ImageCanvas(QWidget* parent) : QWidget(parent) {
    setAcceptDrops(true);
    setAccessibleName(tr("Image"));
    setMinimumSize(240, 180);
}

void ImageCanvas::setImage(const QImage& image) {
    image_ = image;
    update();
}

void ImageCanvas::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    painter.fillRect(rect(), palette().color(QPalette::Base));
    if (image_.isNull()) {
        painter.setPen(palette().color(QPalette::PlaceholderText));
        painter.drawText(rect(), Qt::AlignCenter | Qt::TextWordWrap,
                         tr("Drop an image here, paste one (Ctrl+V),\nor use File ▸ Open Image…"));
        return;
    }
    QSizeF fitted = QSizeF(image_.size()).scaled(size(), Qt::KeepAspectRatio);
    QRectF target(QPointF((width() - fitted.width()) / 2, (height() - fitted.height()) / 2), fitted);
    painter.setRenderHint(QPainter::SmoothPixmapTransform);
    painter.drawImage(target, image_);
}

void ImageCanvas::dragEnterEvent(QDragEnterEvent* event) {
    const QMimeData* mime = event->mimeData();
    if (mime->hasUrls() || mime->hasImage())
        event->acceptProposedAction();
}

void ImageCanvas::dropEvent(QDropEvent* event) {
    const QMimeData* mime = event->mimeData();
    if (mime->hasImage()) {
        emit imageDataDropped(qvariant_cast<QImage>(mime->imageData()));
    } else if (mime->hasUrls() && mime->urls().first().isLocalFile()) {
        emit imageDropped(mime->urls().first().toLocalFile());
    }
    event->acceptProposedAction();
}

}  // namespace vqa::ui
