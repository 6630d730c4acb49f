// The image area: zoom (wheel, fit, 1:1), pan (drag), a heatmap overlay blended over the
// image, the boxes an answer names (outlined with their captions, drawn at screen resolution so
// they stay sharp at any zoom; hovering one reports it), and drops of files or image data.
#pragma once

#include <QImage>
#include <QPixmap>
#include <QWidget>

#include <vector>

#include "engine/Types.h"

class QMimeData;

namespace vqa::ui {

class ImageCanvas : public QWidget {
    Q_OBJECT
public:
    explicit ImageCanvas(QWidget* parent = nullptr);

    // `display` may be a reduced copy of an image of `original_size` (overlay rectangles
    // and 1:1 refer to the original's pixels).
    void setImage(const QImage& display, QSize original_size = {});
    // Another picture of the same image in place of the shown one (a video's next frame),
    // stretched to the shown one's size: the zoom, the overlay and the boxes stay.
    void replaceImage(const QImage& display);
    void clear();
    const QImage& image() const { return image_; }
    QSize imageSize() const { return original_size_; }

    void setOverlay(const QImage& overlay);  // any size; stretched over the whole image
    const QImage& overlay() const { return overlay_; }
    void setOverlayVisible(bool visible);
    bool overlayVisible() const { return overlay_visible_; }
    void setOverlayOpacity(double opacity);
    double overlayOpacity() const { return opacity_; }
    // The image with the overlay over it, at the display copy's resolution.
    QImage composite() const;

    // Boxes in the original image's pixels, drawn over the image and the overlay in the
    // colours and with the captions the CLI uses (engine/explain/Grounding.h).
    void setBoxes(const std::vector<GroundingBox>& boxes);
    const std::vector<GroundingBox>& boxes() const { return boxes_; }
    void setBoxesVisible(bool visible);
    bool boxesVisible() const { return boxes_visible_; }
    void setHighlightedBox(int index);  // drawn stronger; -1: none
    int highlightedBox() const { return highlighted_box_; }
    // Where box `index` is drawn, in widget coordinates (empty when there is no such box).
    QRectF boxRect(int index) const;
    // The box under a widget position (the smallest that holds it), or -1.
    int boxAt(QPointF position) const;

    double zoom() const { return scale_; }  // screen pixels per display-image pixel
    bool isFitToWindow() const { return fit_; }
    QRectF imageRect() const;               // where the image is drawn, widget coordinates
    void setPlaceholderText(const QString& text);
    // Picking a region (to hide it from the model): while on, a left drag draws a rectangle
    // instead of panning, and its release reports it in the original image's pixels
    // (regionPicked) and ends the picking; Escape ends it without one.
    void setRegionPicking(bool on);
    bool isPickingRegion() const { return picking_; }
    // A widget position in the original image's pixels (outside the image too).
    QPointF toImage(QPointF widget_position) const;

    QSize sizeHint() const override { return {640, 480}; }

public slots:
    void fitToWindow();
    void actualSize();
    void zoomIn();
    void zoomOut();

signals:
    void dropped(const QMimeData* mime, Qt::KeyboardModifiers modifiers);  // Ctrl or Shift: add to the conversation
    void zoomChanged(double percent);  // relative to the original image
    void boxHovered(int index);        // the pointer entered box `index`, or left the boxes (-1)
    void regionPicked(const QRect& rect);  // see setRegionPicking
    void regionPickingChanged(bool on);

protected:
    void paintEvent(QPaintEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;
    void leaveEvent(QEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dragMoveEvent(QDragMoveEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void zoomAt(double new_scale, QPointF anchor);
    void paintBoxes(QPainter& painter) const;
    void setHoveredBox(int index);
    void clampOffset();
    double fitScale() const;

    QImage image_;
    QSize original_size_;
    QImage overlay_;
    bool overlay_visible_ = true;
    double opacity_ = 0.55;
    double scale_ = 1.0;
    bool fit_ = true;
    QPointF offset_;  // image's top-left in widget coordinates
    QPoint drag_start_;
    QPointF drag_offset_;
    bool dragging_ = false;
    bool picking_ = false;     // setRegionPicking
    bool rubber_ = false;      // a region is being dragged out
    QPointF rubber_from_, rubber_to_;  // widget coordinates
    QString placeholder_;
    std::vector<GroundingBox> boxes_;
    bool boxes_visible_ = true;
    int highlighted_box_ = -1;
    int hovered_box_ = -1;
    mutable QPixmap cache_;  // the image scaled for the current zoom (when shrinking)
    mutable QSize cache_size_;
};

}  // namespace vqa::ui
