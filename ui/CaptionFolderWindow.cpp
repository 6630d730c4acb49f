#include "ui/CaptionFolderWindow.h"

#include <QCheckBox>
#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMessageBox>
#include <QPainter>
#include <QPlainTextEdit>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QToolButton>
#include <QVBoxLayout>

#include <cmath>
#include <filesystem>

#include "engine/EngineWorker.h"
#include "engine/library/CaptionExport.h"
#include "engine/library/LibraryDb.h"
#include "ui/ClockText.h"
#include "ui/Dialogs.h"
#include "ui/Thumbnails.h"

namespace vqa::ui {

namespace {

using library::CaptionItem;
using library::ItemStatus;

constexpr int kThumb = 96;

struct Preset {
    const char* name;
    const char* prompt;
};
// What people caption folders for: a line for a training set, a description, tags, alt text.
const Preset kPresets[] = {
    {QT_TRANSLATE_NOOP("CaptionFolderWindow", "Short caption"), "Describe this image in one sentence."},
    {QT_TRANSLATE_NOOP("CaptionFolderWindow", "Detailed description"), "Describe this image in detail."},
    {QT_TRANSLATE_NOOP("CaptionFolderWindow", "Tags"),
     "List the main objects, people, places and qualities in this image as comma-separated tags."},
    {QT_TRANSLATE_NOOP("CaptionFolderWindow", "Alt text"),
     "Write alt text for this image for someone who cannot see it, in one short sentence."},
};

}  // namespace

CaptionFolderWindow::CaptionFolderWindow(EngineWorker* worker, QWidget* parent)
    : QWidget(parent, Qt::Window), worker_(worker),
      library_path_(QString::fromStdString(library::defaultLibraryPath())) {
    setWindowTitle(tr("Caption a Folder"));
    setAttribute(Qt::WA_DeleteOnClose, false);
    pool_.setMaxThreadCount(1);  // leave the cores to the engine

    auto* add_folder = new QPushButton(tr("Add Folder…"), this);
    folders_ = new QLabel(tr("No folder chosen"), this);
    folders_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    recursive_ = new QCheckBox(tr("Include subfolders"), this);
    recursive_->setChecked(true);
    auto* top = new QHBoxLayout;
    top->addWidget(folders_, 1);
    top->addWidget(recursive_);
    top->addWidget(add_folder);

    preset_ = new QComboBox(this);
    for (const Preset& p : kPresets)
        preset_->addItem(tr(p.name), QString::fromUtf8(p.prompt));
    preset_->addItem(tr("Your own"), QString());
    prompt_ = new QLineEdit(QString::fromUtf8(kPresets[0].prompt), this);
    prompt_->setToolTip(tr("Asked of every image. {name} is the file's name without its extension, {folder} the "
                           "name of its folder."));
    auto* prompt_row = new QHBoxLayout;
    prompt_row->addWidget(new QLabel(tr("Prompt:"), this));
    prompt_row->addWidget(preset_);
    prompt_row->addWidget(prompt_, 1);
    avoid_ = new QLineEdit(this);
    avoid_->setObjectName(QStringLiteral("avoidedWords"));
    avoid_->setPlaceholderText(tr("Words no caption may contain, separated by commas (optional)"));
    avoid_->setToolTip(tr("Enforced while the model writes: it never produces these words in their usual "
                          "spellings. Works with a local model."));
    start_with_ = new QLineEdit(this);
    start_with_->setObjectName(QStringLiteral("captionStart"));
    start_with_->setPlaceholderText(tr("e.g. “A photo of” (optional)"));
    start_with_->setToolTip(tr("Every caption begins with this text, and the model goes on from it. Works with a "
                               "local model."));
    auto* avoid_row = new QHBoxLayout;
    avoid_row->addWidget(new QLabel(tr("Start with:"), this));
    avoid_row->addWidget(start_with_, 1);
    avoid_row->addWidget(new QLabel(tr("Avoid:"), this));
    avoid_row->addWidget(avoid_, 1);

    gallery_ = new QListWidget(this);
    gallery_->setViewMode(QListView::IconMode);
    gallery_->setIconSize(QSize(kThumb, kThumb));
    gallery_->setGridSize(QSize(kThumb + 28, kThumb + 36));
    gallery_->setResizeMode(QListView::Adjust);
    gallery_->setMovement(QListView::Static);
    gallery_->setUniformItemSizes(true);
    gallery_->setWordWrap(true);
    selected_ = new QPlainTextEdit(this);
    selected_->setReadOnly(true);
    selected_->setPlaceholderText(tr("Select an image to see its caption. Double-click to ask about it."));
    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(gallery_);
    split->addWidget(selected_);
    split->setStretchFactor(0, 4);
    split->setStretchFactor(1, 1);

    progress_ = new QProgressBar(this);
    progress_->setRange(0, 1);
    progress_->setValue(0);
    progress_->setFormat(tr("%v of %m"));
    time_ = new QLabel(this);
    status_ = new QLabel(this);
    status_->setWordWrap(true);
    start_ = new QPushButton(tr("Start"), this);
    pause_ = new QPushButton(tr("Pause"), this);
    cancel_ = new QPushButton(tr("Cancel"), this);
    export_ = new QToolButton(this);
    export_->setText(tr("Export"));
    export_->setPopupMode(QToolButton::InstantPopup);
    auto* menu = new QMenu(export_);
    menu->addAction(tr("Text Files Beside the Images"), this, [this] { exportSidecars(false); });
    menu->addAction(tr("Text Files Beside the Images, Replacing Existing Ones…"), this, [this] {
        if (dialogsAllowed() &&
            QMessageBox::question(this, tr("Replace Text Files"),
                                  tr("Replace the .txt files beside these images that hold other text? Their "
                                     "text is lost.")) != QMessageBox::Yes)
            return;
        exportSidecars(true);
    });
    menu->addAction(tr("JSON Lines…"), this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export Captions"), QDir::homePath() + "/captions.jsonl",
                                                          tr("JSON Lines (*.jsonl)"));
        if (!path.isEmpty())
            exportJsonl(path);
    });
    menu->addAction(tr("CSV…"), this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export Captions"), QDir::homePath() + "/captions.csv",
                                                          tr("CSV (*.csv)"));
        if (!path.isEmpty())
            exportCsv(path);
    });
    export_->setMenu(menu);
    auto* bottom = new QHBoxLayout;
    bottom->addWidget(progress_, 1);
    bottom->addWidget(start_);
    bottom->addWidget(pause_);
    bottom->addWidget(cancel_);
    bottom->addWidget(export_);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addLayout(prompt_row);
    layout->addLayout(avoid_row);
    layout->addWidget(split, 1);
    layout->addLayout(bottom);
    auto* status_row = new QHBoxLayout;
    status_row->addWidget(status_, 1);
    status_row->addWidget(time_);
    layout->addLayout(status_row);
    resize(820, 620);

    connect(add_folder, &QPushButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Caption a Folder"), QDir::homePath());
        if (!dir.isEmpty())
            setInputs(inputs_ + QStringList{dir});
    });
    connect(recursive_, &QCheckBox::toggled, this, [this] { setInputs(inputs_); });
    connect(preset_, &QComboBox::activated, this, [this](int index) {
        const QString prompt = preset_->itemData(index).toString();
        if (!prompt.isEmpty())
            prompt_->setText(prompt);
        else
            prompt_->setFocus();
    });
    connect(prompt_, &QLineEdit::textEdited, this, [this] { preset_->setCurrentIndex(preset_->count() - 1); });
    connect(gallery_, &QListWidget::currentItemChanged, this, [this] { showSelected(); });
    connect(gallery_, &QListWidget::itemDoubleClicked, this,
            [this](QListWidgetItem* item) { emit openImageRequested(item->data(Qt::UserRole).toString()); });
    connect(start_, &QPushButton::clicked, this, &CaptionFolderWindow::start);
    connect(pause_, &QPushButton::clicked, this, [this] { setPaused(!paused_); });
    connect(cancel_, &QPushButton::clicked, this, &CaptionFolderWindow::cancel);

    // What the last run asked for.
    QSettings settings;
    if (const QString prompt = settings.value(QStringLiteral("caption/prompt")).toString(); !prompt.isEmpty())
        setPrompt(prompt);
    start_with_->setText(settings.value(QStringLiteral("caption/start")).toString());
    avoid_->setText(settings.value(QStringLiteral("caption/avoid")).toString());
    recursive_->setChecked(settings.value(QStringLiteral("caption/recursive"), true).toBool());

    connect(worker_, &EngineWorker::captionItem, this, &CaptionFolderWindow::showItem);
    connect(worker_, &EngineWorker::captionProgress, this, &CaptionFolderWindow::showProgress);
    connect(worker_, &EngineWorker::captionPaused, this, [this](int done) {
        if (!running_)
            return;
        setStatus(tr("Paused after %1. Resume to go on.").arg(countOf(done, tr("image"), tr("images"))));
        emit pausedAt(done);
    });
    connect(worker_, &EngineWorker::captionFinished, this, &CaptionFolderWindow::showFinished);
    updateButtons();
}

CaptionFolderWindow::~CaptionFolderWindow() {
    if (running_)
        worker_->cancelCaptioning();
    pool_.clear();
    pool_.waitForDone();
}

void CaptionFolderWindow::closeEvent(QCloseEvent* event) {
    if (running_)
        cancel();  // what was captioned is kept; the next run goes on from there
    QWidget::closeEvent(event);
}

void CaptionFolderWindow::setInputs(const QStringList& paths) {
    inputs_ = paths;
    QStringList names;
    for (const QString& p : paths)
        names << QDir::toNativeSeparators(p);
    folders_->setText(names.isEmpty() ? tr("No folder chosen") : names.join(QStringLiteral("; ")));
    images_.clear();
    items_.clear();
    captions_.clear();
    gallery_->clear();
    thumbnails_shown_ = 0;
    progress_->setRange(0, 1);
    progress_->setValue(0);
    updateButtons();
    if (paths.isEmpty())
        return;
    setStatus(tr("Looking for images…"));
    const unsigned ticket = ++listing_;
    std::vector<std::string> inputs;
    for (const QString& p : paths)
        inputs.push_back(p.toStdString());
    const bool recursive = recursive_->isChecked();
    const std::string library_path = library_path_.toStdString();
    pool_.start([this, ticket, inputs, recursive, library_path] {
        QStringList found;
        QHash<QString, QString> kept;  // the newest caption the library has of each
        QString error;
        try {
            for (const auto& path : library::listImageFiles(inputs, recursive))
                found << QString::fromStdString(path);
            if (std::filesystem::exists(library_path)) {
                library::LibraryDb db(library_path);
                for (const QString& path : found)
                    if (auto image = db.image(path.toStdString()))
                        if (auto captions = db.captionsOf(image->id); !captions.empty())
                            kept.insert(path, QString::fromStdString(captions.front().text));
            }
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
        }
        QMetaObject::invokeMethod(
            this,
            [this, ticket, found, kept, error] {
                if (ticket == listing_)
                    showListed(found, kept, error);
            },
            Qt::QueuedConnection);
    });
}

void CaptionFolderWindow::showListed(const QStringList& images, const QHash<QString, QString>& kept,
                                     const QString& error) {
    images_ = images;
    const QIcon placeholder = placeholderIcon(kThumb);
    gallery_->setUpdatesEnabled(false);
    for (const QString& path : images) {
        auto* item = new QListWidgetItem(placeholder, QFileInfo(path).fileName(), gallery_);
        item->setData(Qt::UserRole, path);
        item->setToolTip(QDir::toNativeSeparators(path));
        items_.insert(path, item);
        if (auto it = kept.constFind(path); it != kept.constEnd())
            markCaptioned(path, *it);
    }
    gallery_->setUpdatesEnabled(true);
    progress_->setRange(0, std::max(1, int(images.size())));
    progress_->setValue(0);
    if (!error.isEmpty())
        setStatus(error);
    else if (images.isEmpty())
        setStatus(tr("No images here (JPEG, PNG, WebP, BMP, TIFF, GIF)%1.")
                      .arg(recursive_->isChecked() ? QString() : tr("; subfolders are not included")));
    else if (kept.isEmpty())
        setStatus(tr("%1. Start captions them with the loaded model.")
                      .arg(countOf(int(images.size()), tr("image"), tr("images"))));
    else
        setStatus(tr("%1, %2 in the library already. Start captions them with the loaded model and this prompt.")
                      .arg(countOf(int(images.size()), tr("image"), tr("images")))
                      .arg(countOf(int(kept.size()), tr("with a caption"), tr("with captions"))));
    updateButtons();
    loadThumbnails();
    emit listed(int(images.size()));
}

void CaptionFolderWindow::loadThumbnails() {
    const unsigned ticket = listing_;
    const QStringList images = images_;
    pool_.start([this, ticket, images] {
        for (const QString& path : images) {
            if (ticket != listing_)  // another folder was chosen meanwhile
                return;
            const QImage image = thumbnail(path, kThumb);
            QMetaObject::invokeMethod(
                this,
                [this, ticket, path, image] {
                    if (ticket != listing_)
                        return;
                    if (auto* item = items_.value(path); item && !image.isNull()) {
                        item->setIcon(QIcon(QPixmap::fromImage(image)));
                        ++thumbnails_shown_;
                    }
                },
                Qt::QueuedConnection);
        }
    });
}

QString CaptionFolderWindow::prompt() const {
    return prompt_->text();
}

void CaptionFolderWindow::setPrompt(const QString& prompt) {
    prompt_->setText(prompt);
    preset_->setCurrentIndex(preset_->count() - 1);
    for (int i = 0; i < preset_->count(); ++i)
        if (preset_->itemData(i).toString() == prompt)
            preset_->setCurrentIndex(i);
}

void CaptionFolderWindow::setLibraryPath(const QString& path) {
    library_path_ = path;
}

void CaptionFolderWindow::setMaxNewTokens(int tokens) {
    max_new_tokens_ = tokens;
}

void CaptionFolderWindow::setAvoidedWords(const QString& words) {
    avoid_->setText(words);
}

void CaptionFolderWindow::setCaptionStart(const QString& text) {
    start_with_->setText(text);
}

void CaptionFolderWindow::start() {
    if (running_ || images_.isEmpty())
        return;
    if (prompt().trimmed().isEmpty()) {
        setStatus(tr("Write a prompt first: what to ask of every image."));
        return;
    }
    library::CaptionJob job;
    for (const QString& p : images_)
        job.images.push_back(p.toStdString());
    job.prompt = prompt().toStdString();
    job.generation.max_new_tokens = max_new_tokens_;
    // Four images at a time: most of a batch's gain on a laptop, and a question asked meanwhile
    // waits for at most four captions.
    job.batch_size = 4;
    job.generation.answer_start = start_with_->text().toStdString();
    for (const QString& word : avoid_->text().split(QLatin1Char(','), Qt::SkipEmptyParts))
        if (!word.trimmed().isEmpty())
            job.generation.banned_words.push_back(word.trimmed().toStdString());
    QSettings settings;
    settings.setValue(QStringLiteral("caption/prompt"), prompt());
    settings.setValue(QStringLiteral("caption/start"), start_with_->text());
    settings.setValue(QStringLiteral("caption/avoid"), avoid_->text());
    settings.setValue(QStringLiteral("caption/recursive"), recursive_->isChecked());
    running_ = true;
    paused_ = false;
    progress_->setValue(0);
    setStatus(tr("Captioning…"));
    updateButtons();
    worker_->postCaptionImages(job, library_path_);
}

void CaptionFolderWindow::setPaused(bool paused) {
    if (!running_ || paused == paused_)
        return;
    paused_ = paused;
    worker_->pauseCaptioning(paused);
    setStatus(paused ? tr("Pausing after the current image…") : tr("Captioning…"));
    updateButtons();
}

void CaptionFolderWindow::cancel() {
    if (!running_)
        return;
    worker_->cancelCaptioning();
    setStatus(tr("Stopping…"));
}

void CaptionFolderWindow::showItem(const CaptionItem& item) {
    if (!running_)
        return;
    const QString path = QString::fromStdString(item.path);
    QListWidgetItem* w = items_.value(path);
    const QString text = QString::fromStdString(item.text);
    switch (item.status) {
    case ItemStatus::Captioned:
    case ItemStatus::Kept:
    case ItemStatus::Reused:
        markCaptioned(path, text);
        break;
    case ItemStatus::Skipped:
        if (w) {
            w->setToolTip(QString::fromStdString(item.message));
            w->setForeground(QColor(200, 60, 60));
            w->setText(QStringLiteral("⚠ ") + QFileInfo(path).fileName());
        }
        break;
    case ItemStatus::Stopped: break;
    }
    if (w && w == gallery_->currentItem())
        showSelected();
    emit itemDone(item);
}

void CaptionFolderWindow::markCaptioned(const QString& path, const QString& text) {
    captions_.insert(path, text);
    if (QListWidgetItem* w = items_.value(path)) {
        w->setToolTip(QDir::toNativeSeparators(path) + "\n\n" + text);
        w->setForeground(palette().text());
        w->setText(QStringLiteral("✓ ") + QFileInfo(path).fileName());
    }
}

void CaptionFolderWindow::showProgress(const library::CaptionProgress& p) {
    if (!running_)
        return;
    progress_->setRange(0, std::max(1, p.total));
    progress_->setValue(p.done);
    time_->setText(tr("%1 elapsed, %2 left").arg(clockText(p.elapsed_s), clockText(p.eta_s)));
    if (!p.current.empty())
        if (auto* w = items_.value(QString::fromStdString(p.current)))
            gallery_->scrollToItem(w);
}

void CaptionFolderWindow::showFinished(const library::CaptionSummary& s, const QString& error) {
    if (!running_)
        return;
    running_ = false;
    paused_ = false;
    QString text;
    if (!error.isEmpty())
        text = error;
    else
        text = tr("%1 captioned, %2 already captioned, %3 copies, %4 skipped (hover over ⚠ for why).")
                   .arg(s.captioned)
                   .arg(s.kept)
                   .arg(s.reused)
                   .arg(s.skipped);
    if (s.cancelled && error.isEmpty())
        text = tr("Stopped. ") + text + tr(" Start again to go on where it stopped.");
    if (!s.stopped_because.empty())
        text = tr("Stopped: %1").arg(QString::fromStdString(s.stopped_because));
    setStatus(text);
    updateButtons();
    emit runFinished(s, error);
}

void CaptionFolderWindow::showSelected() {
    QListWidgetItem* w = gallery_->currentItem();
    if (!w) {
        selected_->clear();
        return;
    }
    const QString path = w->data(Qt::UserRole).toString();
    const QString caption = captions_.value(path);
    selected_->setPlainText(caption.isEmpty() && !w->text().startsWith(QStringLiteral("⚠"))
                                ? tr("%1: not captioned yet.").arg(QFileInfo(path).fileName())
                            : caption.isEmpty() ? w->toolTip()
                                                : caption);
}

void CaptionFolderWindow::setStatus(const QString& text) {
    status_->setText(text);
}

QString CaptionFolderWindow::statusText() const {
    return status_->text();
}

QString CaptionFolderWindow::timeText() const {
    return time_->text();
}

void CaptionFolderWindow::updateButtons() {
    start_->setEnabled(!running_ && !images_.isEmpty());
    pause_->setEnabled(running_);
    pause_->setText(paused_ ? tr("Resume") : tr("Pause"));
    cancel_->setEnabled(running_);
    export_->setEnabled(!captions_.isEmpty() || !running_);
    recursive_->setEnabled(!running_);
    prompt_->setEnabled(!running_);
    avoid_->setEnabled(!running_);
    start_with_->setEnabled(!running_);
    preset_->setEnabled(!running_);
}

std::vector<library::CaptionRecord> CaptionFolderWindow::captionRecords() const {
    std::vector<library::CaptionRecord> rows;
    for (const QString& path : images_) {
        auto it = captions_.constFind(path);
        if (it == captions_.constEnd())
            continue;
        library::CaptionRecord r;
        r.image_path = path.toStdString();
        r.text = it->toStdString();
        r.prompt = prompt().toStdString();  // as asked; the library's key adds the start and avoided words
        rows.push_back(std::move(r));
    }
    return rows;
}

void CaptionFolderWindow::runExport(const QString& what, std::function<QString()> work) {
    if (captions_.isEmpty()) {
        setStatus(tr("Nothing to export yet: no image has a caption."));
        return;
    }
    setStatus(tr("Exporting %1…").arg(what));
    pool_.start([this, work = std::move(work)] {
        QString message;
        try {
            message = work();
        } catch (const std::exception& e) {
            message = tr("Export failed: %1").arg(QString::fromStdString(e.what()));
        }
        QMetaObject::invokeMethod(
            this,
            [this, message] {
                setStatus(message);
                emit exported(message);
            },
            Qt::QueuedConnection);
    });
}

void CaptionFolderWindow::exportSidecars(bool overwrite) {
    auto rows = captionRecords();
    runExport(tr("text files"), [rows, overwrite] {
        int written = 0, kept = 0;
        for (const auto& r : rows) {
            switch (library::writeSidecar(r.image_path, r.text, overwrite)) {
            case library::SidecarResult::Written: ++written; break;
            case library::SidecarResult::Unchanged: break;
            case library::SidecarResult::KeptExisting: ++kept; break;
            }
        }
        QString m = tr("Wrote %1 beside the images.").arg(countOf(written, tr("text file"), tr("text files")));
        if (kept > 0)
            m += QLatin1Char(' ') + (kept == 1 ? tr("1 existing file with other text was kept.")
                                               : tr("%1 existing files with other text were kept.").arg(kept));
        return m;
    });
}

void CaptionFolderWindow::exportJsonl(const QString& path) {
    auto rows = captionRecords();
    runExport(QFileInfo(path).fileName(), [rows, path] {
        library::writeCaptionsJsonl(rows, path.toStdString());
        return tr("Wrote %1 to %2.").arg(countOf(int(rows.size()), tr("caption"), tr("captions")), QDir::toNativeSeparators(path));
    });
}

void CaptionFolderWindow::exportCsv(const QString& path) {
    auto rows = captionRecords();
    runExport(QFileInfo(path).fileName(), [rows, path] {
        library::writeCaptionsCsv(rows, path.toStdString());
        return tr("Wrote %1 to %2.").arg(countOf(int(rows.size()), tr("caption"), tr("captions")), QDir::toNativeSeparators(path));
    });
}

}  // namespace vqa::ui
