#include "ui/VideoStrip.h"

#include <QGridLayout>
#include <QLabel>
#include <QSlider>
#include <QStyle>
#include <QToolButton>

#include <cmath>

#include "ui/ImageLoader.h"
#include "ui/VideoFrameReader.h"

namespace vqa::ui {

namespace {

QString clock(double seconds) {
    const int tenths = int(std::lround(std::max(0.0, seconds) * 10));
    return QStringLiteral("%1:%2.%3")
        .arg(tenths / 600)
        .arg((tenths / 10) % 60, 2, 10, QLatin1Char('0'))
        .arg(tenths % 10);
}

}  // namespace

VideoStrip::VideoStrip(QWidget* parent)
    : QWidget(parent), reader_(new VideoFrameReader(this)), play_(new QToolButton), slider_(new QSlider(Qt::Horizontal)),
      time_(new QLabel), timeline_(new TimelineBar) {
    play_->setAutoRaise(true);
    play_->setIcon(style()->standardIcon(QStyle::SP_MediaPlay));
    play_->setToolTip(tr("Play (the video's frames, decoded as they come)"));
    play_->setAccessibleName(tr("Play or pause"));
    slider_->setAccessibleName(tr("Frame"));
    slider_->setToolTip(tr("Drag to a frame"));
    time_->setMinimumWidth(time_->fontMetrics().horizontalAdvance(QStringLiteral("00:00.0 / 00:00.0  ")));
    auto* layout = new QGridLayout(this);
    layout->setContentsMargins(6, 0, 6, 0);
    layout->setHorizontalSpacing(6);
    layout->setVerticalSpacing(0);
    layout->addWidget(timeline_, 0, 1);
    layout->addWidget(play_, 1, 0);
    layout->addWidget(slider_, 1, 1);
    layout->addWidget(time_, 1, 2);
    timer_.setTimerType(Qt::PreciseTimer);
    connect(&timer_, &QTimer::timeout, this, &VideoStrip::tick);
    connect(play_, &QToolButton::clicked, this, [this] { setPlaying(!isPlaying()); });
    connect(slider_, &QSlider::valueChanged, this, [this](int value) {
        waiting_ = true;
        updateTime();
        reader_->request(value);
    });
    connect(reader_, &VideoFrameReader::frameReady, this, &VideoStrip::onFrame);
    connect(reader_, &VideoFrameReader::failed, this, [this](const QString& message) {
        waiting_ = false;
        setPlaying(false);
        time_->setToolTip(message);
    });
    connect(timeline_, &TimelineBar::timeClicked, this, [this](double s) {
        seekTime(s);
        emit timeClicked(s);
    });
    hide();
}

VideoStrip::~VideoStrip() = default;

void VideoStrip::setVideo(const LoadedImage* video) {
    if (!video || !video->video) {
        setPlaying(false);
        path_.clear();
        reader_->setVideo({}, {});
        hide();
        return;
    }
    show();
    if (video->path == path_)
        return;
    setPlaying(false);
    path_ = video->path;
    fps_ = video->fps > 0 ? video->fps : 25.0;
    duration_s_ = video->duration_s;
    reader_->setVideo(video->path, video->name);
    timeline_->setDuration(duration_s_);
    timeline_->setMarks({});
    const QSignalBlocker block(slider_);
    slider_->setRange(0, int(std::max<qint64>(0, video->frame_count - 1)));
    slider_->setValue(0);
    updateTime();
}

qint64 VideoStrip::frame() const { return slider_->value(); }

void VideoStrip::seekFrame(qint64 frame) {
    frame = std::clamp<qint64>(frame, slider_->minimum(), slider_->maximum());
    if (frame == slider_->value()) {
        reader_->request(frame);  // shown again (the canvas may show another picture)
        return;
    }
    slider_->setValue(int(frame));
}

void VideoStrip::seekTime(double seconds) { seekFrame(qint64(std::floor(seconds * fps_ + 1e-6))); }

void VideoStrip::setPlaying(bool playing) {
    if (playing == isPlaying())
        return;
    if (playing) {
        if (slider_->value() >= slider_->maximum())
            slider_->setValue(0);
        timer_.start(int(std::max(33.0, 1000.0 / std::max(1.0, fps_))));
    } else {
        timer_.stop();
    }
    play_->setIcon(style()->standardIcon(playing ? QStyle::SP_MediaPause : QStyle::SP_MediaPlay));
    play_->setToolTip(playing ? tr("Pause") : tr("Play (the video's frames, decoded as they come)"));
}

void VideoStrip::tick() {
    if (waiting_)
        return;  // the decoder is behind: this frame is dropped
    if (slider_->value() >= slider_->maximum()) {
        setPlaying(false);
        return;
    }
    slider_->setValue(slider_->value() + 1);
}

void VideoStrip::onFrame(qint64 frame, const QImage& image) {
    if (frame == slider_->value())
        waiting_ = false;
    emit frameShown(frame, image);
}

void VideoStrip::updateTime() {
    const double t = fps_ > 0 ? slider_->value() / fps_ : 0.0;
    time_->setText(QStringLiteral("%1 / %2").arg(clock(t), clock(duration_s_)));
    timeline_->setPosition(t);
}

}  // namespace vqa::ui
