#include "ui/TimelineBar.h"

#include <QMouseEvent>
#include <QPainter>

#include <algorithm>

namespace vqa::ui {

namespace {
constexpr int kMargin = 8;  // as a QSlider's groove, roughly: the bars line up with its handle
}

TimelineBar::TimelineBar(QWidget* parent) : QWidget(parent) {
    setMinimumHeight(30);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    setAccessibleName(tr("Attention over the video's frames"));
    setToolTip(tr("Where the word looked, frame by frame: click to show that frame"));
}

void TimelineBar::setDuration(double seconds) {
    duration_s_ = std::max(0.0, seconds);
    update();
}

void TimelineBar::setMarks(const std::vector<Mark>& marks) {
    marks_ = marks;
    update();
}

void TimelineBar::setPosition(double seconds) {
    position_s_ = seconds;
    update();
}

int TimelineBar::xOf(double seconds) const {
    const double f = duration_s_ > 0 ? std::clamp(seconds / duration_s_, 0.0, 1.0) : 0.0;
    return kMargin + int(f * (width() - 2 * kMargin));
}

void TimelineBar::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const int base = height() - 3;
    p.setPen(QPen(palette().color(QPalette::Mid), 1));
    p.drawLine(kMargin, base, width() - kMargin, base);
    float top = 0;
    for (const Mark& m : marks_)
        top = std::max(top, m.share);
    const int bar_w = std::max(3, std::min(10, (width() - 2 * kMargin) / std::max<int>(1, int(marks_.size()) * 2)));
    for (const Mark& m : marks_) {
        const int x = xOf(m.time_s);
        const double h = top > 0 ? (base - 2) * double(m.share) / top : 0.0;
        p.setPen(Qt::NoPen);
        p.setBrush(QColor(128, 128, 128, 110));
        p.drawRect(QRectF(x - 0.5, base - 4, 1, 4));  // a frame the model saw
        p.setBrush(QColor(235, 120, 30));
        p.drawRect(QRectF(x - bar_w / 2.0, base - h, bar_w, h));
    }
    p.setPen(QPen(palette().color(QPalette::Highlight), 2));
    const int x = xOf(position_s_);
    p.drawLine(x, 0, x, base);
}

void TimelineBar::mousePressEvent(QMouseEvent* event) {
    if (duration_s_ <= 0 || width() <= 2 * kMargin)
        return;
    const double f = std::clamp((event->position().x() - kMargin) / (width() - 2 * kMargin), 0.0, 1.0);
    emit timeClicked(f * duration_s_);
}

}  // namespace vqa::ui
