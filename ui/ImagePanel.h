// The window's left side: the heatmap controls (ExplainBar), the image canvas with its
// overlay and boxes, the zoom buttons with the legend, and the strip of open images'
// thumbnails. It keeps its own parts in step (the bar's toggles, opacity and colormap reach the
// canvas and the legend); the window tells it what to show.
#pragma once

#include <QString>
#include <QWidget>

class QLabel;
class QListWidget;

namespace vqa::ui {

class ColorLegend;
class ExplainBar;
class ImageCanvas;
class VideoStrip;
struct AppSettings;
struct HeatmapView;
struct LoadedImage;

class ImagePanel : public QWidget {
    Q_OBJECT
public:
    explicit ImagePanel(const AppSettings& settings, QWidget* parent = nullptr);

    ImageCanvas* canvas() const { return canvas_; }
    ExplainBar* explainBar() const { return explain_; }
    ColorLegend* legend() const { return legend_; }
    QListWidget* thumbnails() const { return thumbnails_; }
    VideoStrip* videoStrip() const { return video_; }

    void showImage(const LoadedImage* image, int index);  // null: none (the last one closed)
    // One of the conversation's pictures on the canvas (the strip of open images stays); a
    // video brings its player strip.
    void showPicture(const LoadedImage& picture);
    const QString& shownKey() const { return shown_key_; }  // LoadedImage::key of the picture shown
    void insertThumbnail(int index, const LoadedImage& image);
    void removeThumbnail(int index);
    void showHeatmap(const HeatmapView& view);
    void setHasImage(bool has_image);  // the controls show only with an image

signals:
    void thumbnailSelected(int index);

private:
    ImageCanvas* canvas_;
    ExplainBar* explain_;
    ColorLegend* legend_;
    QLabel* zoom_label_;
    QWidget* view_row_;
    QListWidget* thumbnails_;
    VideoStrip* video_;
    QString shown_key_;
};

}  // namespace vqa::ui
