// What the window's status bar shows: the latest message, a progress bar (loading, answering,
// downloading, relevancy), the last answer's speed, the device and data type, and the memory
// in use. It fills a QStatusBar with its labels; the window tells it what to show.
#pragma once

#include <QObject>
#include <QString>

class QLabel;
class QProgressBar;
class QStatusBar;

namespace vqa::ui {

class StatusLine : public QObject {
    Q_OBJECT
public:
    explicit StatusLine(QStatusBar* bar);

    void setMessage(const QString& text);
    QString message() const;
    void setPerformance(const QString& text);
    QString performance() const;
    void showProgress(const QString& format, double fraction = -1);  // fraction < 0: busy
    void hideProgress();
    QProgressBar* progressBar() const { return progress_; }
    void setDevice(const QString& text);
    void setMemory(const QString& text);

private:
    QLabel* message_;
    QProgressBar* progress_;
    QLabel* performance_;
    QLabel* device_;
    QLabel* memory_;
};

}  // namespace vqa::ui
