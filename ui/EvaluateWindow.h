// Tools ▸ Evaluate…: the loaded model over a caption set (COCO annotations) or a question set
// (VQAv2's questions and annotations, or a JSON-lines file of one's own), scored with the
// metrics papers report, into a report folder that opens when done. The set is read and the
// model run on the engine's worker (nothing heavy here); a progress bar with the time left, and
// Stop, which keeps every answer made: Run again continues from there. The form is remembered.
#pragma once

#include <QString>
#include <QWidget>

#include "engine/eval/EvalRun.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace vqa {
class EngineWorker;
}

namespace vqa::ui {

class EvaluateWindow : public QWidget {
    Q_OBJECT
public:
    explicit EvaluateWindow(EngineWorker* worker, QWidget* parent = nullptr);

    // The form, for the tests and the command line's equivalents.
    void setTask(eval::EvalTask task);
    void setAnnotations(const QString& path);
    void setQuestions(const QString& path);
    void setImagesFolder(const QString& path);
    void setReportFolder(const QString& path);
    void setLimit(int items);  // 0: all
    // Whether a finished run opens its report (in the browser); on unless dialogs are off.
    void setOpensReport(bool open) { opens_report_ = open; }

    bool running() const { return running_; }
    QString statusText() const;
    QString resultText() const;
    QString reportPath() const { return report_; }
    QProgressBar* progressBar() const { return progress_; }

public slots:
    void run();
    void stop();

signals:
    void finished(bool completed);  // completed: a report was written

private:
    void showProgress(const eval::EvalProgress& p);
    void showFinished(const eval::EvalOutcome& outcome, const QString& error);
    void updateForm();
    void remember() const;
    QString browse(QLineEdit* edit, bool folder, const QString& filter);

    EngineWorker* worker_;
    QComboBox* task_;
    QLineEdit* annotations_;
    QLineEdit* questions_;
    QLabel* questions_label_;
    QLineEdit* images_;
    QLineEdit* report_folder_;
    QLineEdit* prompt_;
    QSpinBox* limit_;
    QPushButton* run_button_;
    QPushButton* stop_button_;
    QPushButton* open_button_;
    QProgressBar* progress_;
    QLabel* status_;
    QPlainTextEdit* result_;
    QString report_;
    bool running_ = false;
    bool opens_report_;
};

} // namespace vqa::ui
