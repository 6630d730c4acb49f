// The strip above the video player's scrubber: a bar at each frame the model saw, as high as
// the shown word's share of attention on that frame, and a mark at the frame on screen. A
// click asks for the time under the pointer.
#pragma once

#include <QWidget>

#include <vector>

namespace vqa::ui {

class TimelineBar : public QWidget {
    Q_OBJECT
public:
    struct Mark {
        double time_s = 0;
        float share = 0;  // 0..1
    };

    explicit TimelineBar(QWidget* parent = nullptr);

    void setDuration(double seconds);
    // The frames the model saw and the word's share on each (shares empty: ticks only).
    void setMarks(const std::vector<Mark>& marks);
    const std::vector<Mark>& marks() const { return marks_; }
    void setPosition(double seconds);  // the frame on screen
    // Where `seconds` is drawn, in this widget's coordinates (for tests).
    int xOf(double seconds) const;

    QSize sizeHint() const override { return {200, 30}; }

signals:
    void timeClicked(double seconds);

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;

private:
    double duration_s_ = 0;
    double position_s_ = 0;
    std::vector<Mark> marks_;
};

}  // namespace vqa::ui
