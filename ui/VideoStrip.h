// The player under the canvas while a video is shown: play/pause, a frame scrubber with the
// time, and above it the timeline of the frames the model saw with the shown word's attention
// on each (TimelineBar). Frames are decoded by a VideoFrameReader off the GUI thread; playing
// asks for the next frame only once the last one arrived, so a slow decoder drops frames
// instead of queueing them.
#pragma once

#include <QImage>
#include <QTimer>
#include <QWidget>

#include <vector>

#include "ui/TimelineBar.h"

class QLabel;
class QSlider;
class QToolButton;

namespace vqa::ui {

class VideoFrameReader;
struct LoadedImage;

class VideoStrip : public QWidget {
    Q_OBJECT
public:
    explicit VideoStrip(QWidget* parent = nullptr);
    ~VideoStrip() override;

    // The video to play (null: none, the strip hides). The same file again keeps its place.
    void setVideo(const LoadedImage* video);
    void setMarks(const std::vector<TimelineBar::Mark>& marks) { timeline_->setMarks(marks); }
    void seekFrame(qint64 frame);
    void seekTime(double seconds);
    void setPlaying(bool playing);
    bool isPlaying() const { return timer_.isActive(); }
    qint64 frame() const;
    double fps() const { return fps_; }

    QSlider* scrubber() const { return slider_; }
    QToolButton* playButton() const { return play_; }
    TimelineBar* timeline() const { return timeline_; }
    QLabel* timeLabel() const { return time_; }
    VideoFrameReader* reader() const { return reader_; }

signals:
    // A decoded frame to show (the canvas takes it).
    void frameShown(qint64 frame, const QImage& image);
    // A click on the timeline: the time the user wants to look at.
    void timeClicked(double seconds);

private:
    void onFrame(qint64 frame, const QImage& image);
    void tick();
    void updateTime();

    VideoFrameReader* reader_;
    QToolButton* play_;
    QSlider* slider_;
    QLabel* time_;
    TimelineBar* timeline_;
    QTimer timer_;
    QString path_;
    double fps_ = 0;
    double duration_s_ = 0;
    bool waiting_ = false;  // a frame was asked for and has not arrived
};

}  // namespace vqa::ui
