#include "ui/EvaluateWindow.h"

#include <QComboBox>
#include <QDesktopServices>
#include <QDir>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QToolButton>
#include <QUrl>
#include <QVBoxLayout>

#include <cmath>

#include "engine/EngineWorker.h"
#include "ui/ClockText.h"
#include "ui/Dialogs.h"

namespace vqa::ui {

EvaluateWindow::EvaluateWindow(EngineWorker* worker, QWidget* parent)
    : QWidget(parent, Qt::Window), worker_(worker), opens_report_(dialogsAllowed()) {
    setWindowTitle(tr("Evaluate the Model"));
    task_ = new QComboBox(this);
    task_->addItem(tr("Captions (COCO caption annotations): BLEU, ROUGE-L, CIDEr-D"));
    task_->addItem(tr("Questions (VQAv2, or a .jsonl set): VQA accuracy"));
    annotations_ = new QLineEdit(this);
    questions_ = new QLineEdit(this);
    images_ = new QLineEdit(this);
    report_folder_ = new QLineEdit(this);
    prompt_ = new QLineEdit(this);
    limit_ = new QSpinBox(this);
    limit_->setRange(0, 10'000'000);
    limit_->setSpecialValueText(tr("all"));
    annotations_->setPlaceholderText(tr("captions_val2014.json, v2_mscoco_val2014_annotations.json or set.jsonl"));
    questions_->setPlaceholderText(tr("v2_OpenEnded_mscoco_val2014_questions.json (VQAv2 only)"));
    images_->setPlaceholderText(tr("the annotations' folder"));

    auto row = [this](QLineEdit* edit, bool folder, const QString& filter) {
        auto* box = new QHBoxLayout;
        box->addWidget(edit);
        auto* button = new QToolButton(this);
        button->setText(QStringLiteral("…"));
        connect(button, &QToolButton::clicked, this, [this, edit, folder, filter] { browse(edit, folder, filter); });
        box->addWidget(button);
        return box;
    };
    auto* form = new QFormLayout;
    form->addRow(tr("Task"), task_);
    form->addRow(tr("Annotations"), row(annotations_, false, tr("Annotations (*.json *.jsonl)")));
    questions_label_ = new QLabel(tr("Questions"), this);
    form->addRow(questions_label_, row(questions_, false, tr("Questions (*.json)")));
    form->addRow(tr("Images folder"), row(images_, true, {}));
    form->addRow(tr("Report folder"), row(report_folder_, true, {}));
    form->addRow(tr("Prompt"), prompt_);
    form->addRow(tr("Items"), limit_);

    run_button_ = new QPushButton(tr("Run"), this);
    stop_button_ = new QPushButton(tr("Stop"), this);
    open_button_ = new QPushButton(tr("Open Report"), this);
    run_button_->setDefault(true);
    stop_button_->setEnabled(false);
    open_button_->setEnabled(false);
    auto* buttons = new QHBoxLayout;
    buttons->addStretch();
    buttons->addWidget(open_button_);
    buttons->addWidget(stop_button_);
    buttons->addWidget(run_button_);
    progress_ = new QProgressBar(this);
    progress_->setRange(0, 1);
    progress_->setValue(0);
    status_ = new QLabel(tr("Choose a set, then Run. Answers are kept as they are made: a stopped run goes on "
                            "where it stopped."),
                         this);
    status_->setWordWrap(true);
    result_ = new QPlainTextEdit(this);
    result_->setReadOnly(true);
    result_->setMaximumBlockCount(200);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(progress_);
    layout->addWidget(status_);
    layout->addWidget(result_, 1);
    layout->addLayout(buttons);
    resize(640, 480);

    QSettings settings;
    settings.beginGroup(QStringLiteral("evaluate"));
    task_->setCurrentIndex(settings.value(QStringLiteral("task"), 0).toInt());
    annotations_->setText(settings.value(QStringLiteral("annotations")).toString());
    questions_->setText(settings.value(QStringLiteral("questions")).toString());
    images_->setText(settings.value(QStringLiteral("images")).toString());
    report_folder_->setText(
        settings.value(QStringLiteral("report"), QDir::home().filePath(QStringLiteral("vqa-eval"))).toString());
    prompt_->setText(settings.value(QStringLiteral("prompt")).toString());
    limit_->setValue(settings.value(QStringLiteral("limit"), 0).toInt());
    settings.endGroup();
    updateForm();

    connect(task_, &QComboBox::currentIndexChanged, this, [this] { updateForm(); });
    connect(run_button_, &QPushButton::clicked, this, &EvaluateWindow::run);
    connect(stop_button_, &QPushButton::clicked, this, &EvaluateWindow::stop);
    connect(open_button_, &QPushButton::clicked, this,
            [this] { QDesktopServices::openUrl(QUrl::fromLocalFile(report_)); });
    connect(worker_, &EngineWorker::evaluationProgress, this, &EvaluateWindow::showProgress);
    connect(worker_, &EngineWorker::evaluationFinished, this, &EvaluateWindow::showFinished);
}

void EvaluateWindow::setTask(eval::EvalTask task) { task_->setCurrentIndex(task == eval::EvalTask::Caption ? 0 : 1); }
void EvaluateWindow::setAnnotations(const QString& path) { annotations_->setText(path); }
void EvaluateWindow::setQuestions(const QString& path) { questions_->setText(path); }
void EvaluateWindow::setImagesFolder(const QString& path) { images_->setText(path); }
void EvaluateWindow::setReportFolder(const QString& path) { report_folder_->setText(path); }
void EvaluateWindow::setLimit(int items) { limit_->setValue(items); }
QString EvaluateWindow::statusText() const { return status_->text(); }
QString EvaluateWindow::resultText() const { return result_->toPlainText(); }

void EvaluateWindow::updateForm() {
    const bool vqa = task_->currentIndex() == 1;
    questions_->setVisible(vqa);
    questions_label_->setVisible(vqa);
    prompt_->setPlaceholderText(vqa ? tr("{question}, then: Answer the question using a single word or phrase.")
                                    : QString::fromUtf8(eval::kDefaultCaptionPrompt));
    const bool idle = !running_;
    for (QWidget* w : std::initializer_list<QWidget*>{task_, annotations_, questions_, images_, report_folder_, prompt_, limit_})
        w->setEnabled(idle);
    run_button_->setEnabled(idle);
    stop_button_->setEnabled(running_);
}

void EvaluateWindow::remember() const {
    QSettings settings;
    settings.beginGroup(QStringLiteral("evaluate"));
    settings.setValue(QStringLiteral("task"), task_->currentIndex());
    settings.setValue(QStringLiteral("annotations"), annotations_->text());
    settings.setValue(QStringLiteral("questions"), questions_->text());
    settings.setValue(QStringLiteral("images"), images_->text());
    settings.setValue(QStringLiteral("report"), report_folder_->text());
    settings.setValue(QStringLiteral("prompt"), prompt_->text());
    settings.setValue(QStringLiteral("limit"), limit_->value());
    settings.endGroup();
}

QString EvaluateWindow::browse(QLineEdit* edit, bool folder, const QString& filter) {
    if (!dialogsAllowed())
        return {};
    const QString start = edit->text().isEmpty() ? QDir::homePath() : edit->text();
    const QString chosen = folder ? QFileDialog::getExistingDirectory(this, tr("Choose a Folder"), start)
                                  : QFileDialog::getOpenFileName(this, tr("Choose a File"), start, filter);
    if (!chosen.isEmpty())
        edit->setText(chosen);
    return chosen;
}

void EvaluateWindow::run() {
    if (running_)
        return;
    if (annotations_->text().trimmed().isEmpty() || report_folder_->text().trimmed().isEmpty()) {
        status_->setText(tr("Choose the annotations and a report folder first."));
        return;
    }
    remember();
    eval::EvalSetFiles files;
    files.task = task_->currentIndex() == 0 ? eval::EvalTask::Caption : eval::EvalTask::Vqa;
    files.annotations = annotations_->text().trimmed().toStdString();
    if (files.task == eval::EvalTask::Vqa)
        files.questions = questions_->text().trimmed().toStdString();
    files.options.images = images_->text().trimmed().toStdString();
    files.options.skip_missing = true;  // the run says which were left out
    eval::EvalJob job;
    job.prompt = prompt_->text().toStdString();
    job.limit = limit_->value();
    job.out = report_folder_->text().trimmed().toStdString();
    job.generation.max_new_tokens = files.task == eval::EvalTask::Caption ? 64 : 16;
    running_ = true;
    report_.clear();
    open_button_->setEnabled(false);
    progress_->setRange(0, 0);  // busy until the set is read
    status_->setText(tr("Reading the set…"));
    result_->clear();
    updateForm();
    worker_->postEvaluation(files, job);
}

void EvaluateWindow::stop() {
    if (!running_)
        return;
    worker_->cancelEvaluation();
    status_->setText(tr("Stopping after the answers in progress…"));
}

void EvaluateWindow::showProgress(const eval::EvalProgress& p) {
    if (!running_)
        return;
    progress_->setRange(0, std::max(p.total, 1));
    progress_->setValue(p.done);
    QString text = tr("%1: %2 of %3  —  %4 elapsed, %5 left")
                       .arg(QString::fromStdString(p.stage))
                       .arg(p.done)
                       .arg(p.total)
                       .arg(clockText(p.elapsed_s), clockText(p.eta_s));
    if (p.reused > 0)
        text += tr(" (%1 from an earlier run)").arg(p.reused);
    status_->setText(text);
}

void EvaluateWindow::showFinished(const eval::EvalOutcome& outcome, const QString& error) {
    if (!running_)
        return;
    running_ = false;
    updateForm();
    progress_->setRange(0, std::max(outcome.total, 1));
    if (!error.isEmpty()) {
        progress_->setValue(0);
        status_->setText(tr("Could not evaluate: %1").arg(error));
        emit finished(false);
        return;
    }
    if (outcome.cancelled) {
        progress_->setValue(outcome.computed + outcome.reused);
        status_->setText(tr("Stopped. The %n answer(s) made so far are kept: Run goes on from there.", nullptr,
                            outcome.computed + outcome.reused));
        emit finished(false);
        return;
    }
    progress_->setValue(outcome.total);
    report_ = QString::fromStdString(outcome.report);
    open_button_->setEnabled(true);
    QString text = tr("Done: %1 items, %2 answered now, %3 from an earlier run")
                       .arg(outcome.total)
                       .arg(outcome.computed)
                       .arg(outcome.reused);
    if (outcome.failed)
        text += tr(", %1 could not be answered (see the report)").arg(outcome.failed);
    status_->setText(text + QStringLiteral("."));
    const QJsonObject metrics =
        QJsonDocument::fromJson(QByteArray::fromStdString(outcome.metrics_json)).object().value("metrics").toObject();
    QStringList lines;
    for (auto it = metrics.begin(); it != metrics.end(); ++it)
        lines << QStringLiteral("%1\t%2").arg(it.key()).arg(it.value().toDouble(), 0, 'f', it.key() == "accuracy" ? 2 : 4);
    lines << QString() << tr("Report: %1").arg(report_);
    result_->setPlainText(lines.join('\n'));
    if (opens_report_)
        QDesktopServices::openUrl(QUrl::fromLocalFile(report_));
    emit finished(true);
}

} // namespace vqa::ui
