// The image area: shows the current image fitted to the widget, accepts dropped files.
#pragma once

#include <QImage>
#include <QWidget>

namespace vqa::ui {

class ImageCanvas : public QWidget {
    Q_OBJECT
public:
    explicit ImageCanvas(QWidget* parent = nullptr);
    void setImage(const QImage& image);
    const QImage& image() const { return image_; }
    QSize sizeHint() const override { return {640, 480}; }

signals:
    void imageDropped(const QString& path);
    void imageDataDropped(const QImage& image);

protected:
    void paintEvent(QPaintEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    QImage image_;
};

}  // namespace vqa::ui
