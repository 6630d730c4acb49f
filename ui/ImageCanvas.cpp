#include "ui/ImageCanvas.h"

#include <QDragEnterEvent>
#include <QDropEvent>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QMimeData>
#include <QPainter>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>

#include "engine/explain/Grounding.h"

namespace vqa::ui {
namespace {

QColor qcolor(const std::array<std::uint8_t, 3>& c) { return QColor(c[0], c[1], c[2]); }

bool sameBoxes(const std::vector<GroundingBox>& a, const std::vector<GroundingBox>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const GroundingBox& x, const GroundingBox& y) {
        return x.image == y.image && x.label == y.label && x.x1 == y.x1 && x.y1 == y.y1 && x.x2 == y.x2 &&
               x.y2 == y.y2 && x.point == y.point && x.token_begin == y.token_begin && x.token_end == y.token_end;
    });
}

}  // namespace

ImageCanvas::ImageCanvas(QWidget* parent) : QWidget(parent) {
    setAcceptDrops(true);
    setAccessibleName(tr("Image"));
    setAccessibleDescription(tr("The current image; drop an image here. Wheel to zoom, drag to pan."));
    setMinimumSize(240, 180);
    setFocusPolicy(Qt::StrongFocus);
    setMouseTracking(true);  // hovering a box shows the words that named it
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

void ImageCanvas::replaceImage(const QImage& display) {
    if (image_.isNull() || display.isNull()) {
        setImage(display);
        return;
    }
    image_ = display.size() == image_.size()
                 ? display
                 : display.scaled(image_.size(), Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
    cache_ = {};
    update();
}

void ImageCanvas::clear() {
    image_ = {};
    original_size_ = {};
    overlay_ = {};
    cache_ = {};
    boxes_.clear();
    highlighted_box_ = hovered_box_ = -1;
    update();
}

void ImageCanvas::setBoxes(const std::vector<GroundingBox>& boxes) {
    if (sameBoxes(boxes, boxes_))
        return;  // the view is computed again often (every hovered word)
    boxes_ = boxes;
    hovered_box_ = -1;
    if (highlighted_box_ >= int(boxes_.size()))
        highlighted_box_ = -1;
    update();
}

void ImageCanvas::setBoxesVisible(bool visible) {
    boxes_visible_ = visible;
    if (!visible)
        setHoveredBox(-1);
    update();
}

void ImageCanvas::setHighlightedBox(int index) {
    index = index >= 0 && index < int(boxes_.size()) ? index : -1;
    if (index == highlighted_box_)
        return;
    highlighted_box_ = index;
    update();
}

QRectF ImageCanvas::boxRect(int index) const {
    if (image_.isNull() || original_size_.isEmpty() || index < 0 || index >= int(boxes_.size()))
        return {};
    const GroundingBox& b = boxes_[size_t(index)];
    const QRectF r = imageRect();
    const double sx = r.width() / original_size_.width(), sy = r.height() / original_size_.height();
    return {r.x() + b.x1 * sx, r.y() + b.y1 * sy, (b.x2 - b.x1) * sx, (b.y2 - b.y1) * sy};
}

int ImageCanvas::boxAt(QPointF position) const {
    if (!boxes_visible_)
        return -1;
    int best = -1;
    double best_area = 0;
    for (int i = 0; i < int(boxes_.size()); ++i) {
        const QRectF r = boxRect(i).adjusted(-4, -4, 4, 4);  // thin boxes and points stay easy to hit
        const double area = r.width() * r.height();
        if (r.contains(position) && (best < 0 || area < best_area)) {
            best = i;
            best_area = area;
        }
    }
    return best;
}

void ImageCanvas::setHoveredBox(int index) {
    if (index == hovered_box_)
        return;
    hovered_box_ = index;
    update();
    emit boxHovered(index);
}

void ImageCanvas::paintBoxes(QPainter& painter) const {
    const QRectF area = imageRect();
    QFont caption_font = font();
    caption_font.setBold(true);
    const QFontMetrics fm(caption_font);
    painter.setFont(caption_font);
    for (int i = 0; i < int(boxes_.size()); ++i) {
        const GroundingBox& b = boxes_[size_t(i)];
        const QColor color = qcolor(groundingBoxColor(i));
        const bool strong = i == highlighted_box_ || i == hovered_box_;
        const QRectF r = boxRect(i);
        painter.setRenderHint(QPainter::Antialiasing, b.point);
        if (b.point) {
            const double radius = strong ? 7 : 5;
            painter.setPen(QPen(Qt::white, 2));
            painter.setBrush(color);
            painter.drawEllipse(r.topLeft(), radius, radius);
        } else {
            QColor fill = color;
            fill.setAlpha(strong ? 60 : 0);
            painter.setPen(QPen(color, strong ? 4 : 2, Qt::SolidLine, Qt::SquareCap, Qt::MiterJoin));
            painter.setBrush(fill);
            painter.drawRect(r);
        }
        // The caption in a tag of the box's colour: above its top-left corner, or inside it
        // when the image's top edge is in the way.
        const QString caption = fm.elidedText(QString::fromStdString(groundingBoxCaption(b, i)), Qt::ElideRight,
                                              std::max(40, int(width() * 0.4)));
        const QSizeF tag_size(fm.horizontalAdvance(caption) + 8, fm.height() + 2);
        double top = r.top() - tag_size.height() - 1;
        if (top < area.top())
            top = r.top() + 1;
        const QRectF tag(QPointF(std::min(r.left(), double(width()) - tag_size.width()), top), tag_size);
        painter.setPen(Qt::NoPen);
        painter.setBrush(color);
        painter.drawRect(tag);
        painter.setPen(qcolor(groundingCaptionColor(i)));
        painter.drawText(tag, Qt::AlignCenter, caption);
    }
    painter.setBrush(Qt::NoBrush);
    painter.setRenderHint(QPainter::Antialiasing, false);
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
    if (boxes_visible_ && !boxes_.empty())
        paintBoxes(painter);
    if (rubber_) {  // the region being picked: greyed, as the model will see it
        const QRectF r = QRectF(rubber_from_, rubber_to_).normalized().intersected(target);
        painter.fillRect(r, QColor(128, 128, 128, 200));
        painter.setPen(QPen(Qt::white, 1, Qt::DashLine));
        painter.drawRect(r);
    }
}

void ImageCanvas::wheelEvent(QWheelEvent* event) {
    const double steps = event->angleDelta().y() / 120.0;
    if (steps != 0 && !image_.isNull())
        zoomAt(scale_ * std::pow(1.15, steps), event->position());
    event->accept();
}

void ImageCanvas::setRegionPicking(bool on) {
    if (on == picking_)
        return;
    picking_ = on && !image_.isNull();
    rubber_ = false;
    if (picking_) {
        setCursor(Qt::CrossCursor);
        setFocus(Qt::OtherFocusReason);  // for Escape
    } else {
        unsetCursor();
    }
    update();
    emit regionPickingChanged(picking_);
}

QPointF ImageCanvas::toImage(QPointF p) const {
    const QRectF r = imageRect();
    if (r.isEmpty() || original_size_.isEmpty())
        return {};
    return {(p.x() - r.x()) * original_size_.width() / r.width(), (p.y() - r.y()) * original_size_.height() / r.height()};
}

void ImageCanvas::keyPressEvent(QKeyEvent* event) {
    if (picking_ && event->key() == Qt::Key_Escape) {
        setRegionPicking(false);
        return;
    }
    QWidget::keyPressEvent(event);
}

void ImageCanvas::mousePressEvent(QMouseEvent* event) {
    if (picking_ && event->button() == Qt::LeftButton) {
        rubber_ = true;
        rubber_from_ = rubber_to_ = event->position();
        update();
        return;
    }
    if (event->button() == Qt::LeftButton && !image_.isNull()) {
        dragging_ = true;
        drag_start_ = event->position().toPoint();
        drag_offset_ = offset_;
        setCursor(Qt::ClosedHandCursor);
    }
}

void ImageCanvas::mouseMoveEvent(QMouseEvent* event) {
    if (rubber_) {
        rubber_to_ = event->position();
        update();
        return;
    }
    if (dragging_) {
        offset_ = drag_offset_ + (event->position().toPoint() - drag_start_);
        fit_ = false;
        clampOffset();
        update();
    } else if (!boxes_.empty()) {
        setHoveredBox(boxAt(event->position()));
    }
}

void ImageCanvas::leaveEvent(QEvent* event) {
    setHoveredBox(-1);
    QWidget::leaveEvent(event);
}

void ImageCanvas::mouseReleaseEvent(QMouseEvent*) {
    if (rubber_) {
        rubber_ = false;
        const QPointF a = toImage(rubber_from_), b = toImage(rubber_to_);
        const QRect rect = QRectF(a, b).normalized().toAlignedRect();
        setRegionPicking(false);
        if (rect.width() > 0 && rect.height() > 0)
            emit regionPicked(rect);
        return;
    }
    dragging_ = false;
    if (!picking_)
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
    emit dropped(event->mimeData(), event->modifiers());
    event->acceptProposedAction();
}

}  // namespace vqa::ui
