#include "ui/StatusLine.h"

#include <QLabel>
#include <QProgressBar>
#include <QStatusBar>

namespace vqa::ui {

StatusLine::StatusLine(QStatusBar* bar)
    : QObject(bar), message_(new QLabel), progress_(new QProgressBar), performance_(new QLabel),
      device_(new QLabel(tr("no model"))), memory_(new QLabel) {
    message_->setTextFormat(Qt::PlainText);
    message_->setMinimumWidth(100);
    message_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    progress_->setMaximumWidth(180);
    progress_->setAccessibleName(tr("Progress"));
    progress_->hide();
    performance_->setAccessibleName(tr("Speed"));
    device_->setAccessibleName(tr("Device"));
    memory_->setAccessibleName(tr("Memory in use"));
    memory_->setToolTip(tr("Memory used by VQA Studio (resident set)"));
    bar->addWidget(message_, 1);
    bar->addPermanentWidget(progress_);
    bar->addPermanentWidget(performance_);
    bar->addPermanentWidget(device_);
    bar->addPermanentWidget(memory_);
}

void StatusLine::setMessage(const QString& text) {
    message_->setText(text);
    message_->setToolTip(text);
}

QString StatusLine::message() const { return message_->text(); }

void StatusLine::setPerformance(const QString& text) {
    performance_->setText(text);
    performance_->setMinimumWidth(performance_->sizeHint().width());
    performance_->setToolTip(tr("Time to the first token and generation speed of the last answer"));
}

QString StatusLine::performance() const { return performance_->text(); }

void StatusLine::showProgress(const QString& format, double fraction) {
    progress_->show();
    progress_->setRange(0, fraction < 0 ? 0 : 1000);  // 0, 0: busy
    if (fraction >= 0)
        progress_->setValue(int(fraction * 1000));
    progress_->setFormat(format);
}

void StatusLine::hideProgress() { progress_->hide(); }

void StatusLine::setDevice(const QString& text) { device_->setText(text); }

void StatusLine::setMemory(const QString& text) { memory_->setText(text); }

}  // namespace vqa::ui
