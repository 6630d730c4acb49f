#include "ui/SearchWindow.h"

#include <QCloseEvent>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMimeData>
#include <QPainter>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>

#include "ui/ClockText.h"
#include "ui/Thumbnails.h"
#include "ui/Dialogs.h"

namespace vqa::ui {

namespace {

constexpr int kThumb = 128;
// Long enough that a word typed at an ordinary pace asks once, short enough to feel live.
constexpr int kTypingPauseMs = 350;
// A thumbnail cache that holds a few large folders' worth of 128-pixel pictures (about 64 KB
// each) and is cleared whole beyond that: simple, and a search rarely shows more than 100.
constexpr int kMaxCachedThumbs = 3000;

// A thumbnail centred on a square (every cell of the grid alike, the names and scores in one
// line), decoded off the GUI thread.
QImage squareThumbnail(const QString& path) {
    const QImage image = thumbnail(path, kThumb);
    if (image.isNull())
        return {};
    QImage square(kThumb, kThumb, QImage::Format_ARGB32_Premultiplied);
    square.fill(Qt::transparent);
    QPainter p(&square);
    p.drawImage((kThumb - image.width()) / 2, (kThumb - image.height()) / 2, image);
    p.end();
    return square;
}

bool isImageFile(const QString& path) {
    static const QStringList kExtensions = {"png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff", "pbm", "pgm", "ppm"};
    const QFileInfo info(path);
    return info.isFile() && kExtensions.contains(info.suffix().toLower());
}

}  // namespace

SearchWindow::SearchWindow(const QString& library_path, QWidget* parent)
    : QWidget(parent, Qt::Window), controller_(new SearchController(library_path, this)) {
    setWindowTitle(tr("Search Images"));
    setAcceptDrops(true);
    thumbs_pool_.setMaxThreadCount(1);  // leave the cores to the encoder

    // The model.
    model_ = new QLabel(this);
    model_->setWordWrap(true);
    model_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    choose_model_ = new QPushButton(tr("Choose Model…"), this);
    choose_model_->setToolTip(tr("A CLIP or SigLIP model folder, as downloaded from the Hugging Face Hub "
                                 "(for example openai/clip-vit-base-patch32)."));
    auto* model_row = new QHBoxLayout;
    model_row->addWidget(new QLabel(tr("Model:"), this));
    model_row->addWidget(model_, 1);
    model_row->addWidget(choose_model_);

    // The folders and their indexing.
    folders_ = new QListWidget(this);
    folders_->setObjectName(QStringLiteral("folders"));
    folders_->setSelectionMode(QAbstractItemView::SingleSelection);
    add_folder_ = new QPushButton(tr("Add Folder…"), this);
    remove_folder_ = new QPushButton(tr("Remove"), this);
    remove_folder_->setToolTip(tr("Takes the folder off the list and forgets its images' vectors. The images stay."));
    index_ = new QPushButton(tr("Index"), this);
    index_->setToolTip(tr("Reads the folders' images into the index: new and changed ones are embedded, "
                          "unchanged ones kept, removed ones forgotten."));
    stop_ = new QPushButton(tr("Stop"), this);
    stop_->setToolTip(tr("Stops after the image in progress. What was indexed is kept."));
    auto* folder_buttons = new QHBoxLayout;
    folder_buttons->addWidget(add_folder_);
    folder_buttons->addWidget(remove_folder_);
    folder_buttons->addStretch();
    folder_buttons->addWidget(index_);
    progress_ = new QProgressBar(this);
    progress_->setRange(0, 1);
    progress_->setValue(0);
    progress_->setFormat(tr("%v of %m"));
    time_ = new QLabel(this);
    auto* progress_row = new QHBoxLayout;
    progress_row->addWidget(progress_, 1);
    progress_row->addWidget(stop_);
    skipped_label_ = new QLabel(tr("Skipped (could not be read):"), this);
    skipped_ = new QListWidget(this);
    skipped_->setMaximumHeight(110);
    skipped_->setWordWrap(true);  // a reason is a sentence: read whole, not cut at the edge
    skipped_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    auto* folders_box = new QGroupBox(tr("Indexed folders"), this);
    auto* folders_layout = new QVBoxLayout(folders_box);
    folders_layout->addWidget(folders_, 1);
    folders_layout->addLayout(folder_buttons);
    folders_layout->addLayout(progress_row);
    folders_layout->addWidget(time_);
    folders_layout->addWidget(skipped_label_);
    folders_layout->addWidget(skipped_);

    // The search and its results.
    query_ = new QLineEdit(this);
    query_->setObjectName(QStringLiteral("query"));
    query_->setPlaceholderText(tr("Describe what you are looking for, e.g. “a red circle”, or drop an image here"));
    query_->setClearButtonEnabled(true);
    typing_ = new QTimer(this);
    typing_->setSingleShot(true);
    typing_->setInterval(kTypingPauseMs);
    results_ = new QListWidget(this);
    results_->setViewMode(QListView::IconMode);
    results_->setIconSize(QSize(kThumb, kThumb));
    results_->setGridSize(QSize(kThumb + 24, kThumb + 44));
    results_->setResizeMode(QListView::Adjust);
    results_->setMovement(QListView::Static);
    results_->setUniformItemSizes(true);
    results_->setWordWrap(true);
    results_->setSelectionMode(QAbstractItemView::SingleSelection);
    ask_ = new QPushButton(tr("Ask About This Image"), this);
    ask_->setToolTip(tr("Opens the image in the main window, to ask questions about it."));
    similar_ = new QPushButton(tr("Find Similar"), this);
    similar_->setToolTip(tr("Images that look like this one, most alike first."));
    labels_ = new QLineEdit(this);
    labels_->setObjectName(QStringLiteral("labels"));
    labels_->setPlaceholderText(tr("Labels to score, separated by commas: a cat, a dog, a car"));
    score_labels_ = new QPushButton(tr("Score Labels"), this);
    score_labels_->setToolTip(tr("How well each label describes the selected image, by the model alone (zero-shot)."));
    label_scores_ = new QLabel(this);
    label_scores_->setWordWrap(true);
    label_scores_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* result_buttons = new QHBoxLayout;
    result_buttons->addWidget(ask_);
    result_buttons->addWidget(similar_);
    result_buttons->addSpacing(16);
    result_buttons->addWidget(labels_, 1);
    result_buttons->addWidget(score_labels_);
    auto* search_box = new QWidget(this);
    auto* search_layout = new QVBoxLayout(search_box);
    search_layout->setContentsMargins(0, 0, 0, 0);
    search_layout->addWidget(query_);
    search_layout->addWidget(results_, 1);
    search_layout->addLayout(result_buttons);
    search_layout->addWidget(label_scores_);

    auto* split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(folders_box);
    split->addWidget(search_box);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 3);
    status_ = new QLabel(this);
    status_->setWordWrap(true);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(model_row);
    layout->addWidget(split, 1);
    layout->addWidget(status_);
    resize(980, 640);
    split->setSizes({260, 720});

    connect(choose_model_, &QPushButton::clicked, this, &SearchWindow::chooseModel);
    connect(add_folder_, &QPushButton::clicked, this, &SearchWindow::chooseFolder);
    connect(remove_folder_, &QPushButton::clicked, this, &SearchWindow::removeSelectedFolder);
    connect(index_, &QPushButton::clicked, this, &SearchWindow::indexFolders);
    connect(stop_, &QPushButton::clicked, this, &SearchWindow::stop);
    connect(folders_, &QListWidget::currentRowChanged, this, [this] { updateButtons(); });
    connect(query_, &QLineEdit::textEdited, this, [this] { typing_->start(); });
    connect(query_, &QLineEdit::returnPressed, this, &SearchWindow::searchNow);
    connect(typing_, &QTimer::timeout, this, &SearchWindow::searchNow);
    connect(results_, &QListWidget::itemDoubleClicked, this,
            [this](QListWidgetItem* item) { emit openImageRequested(item->data(Qt::UserRole).toString()); });
    connect(results_, &QListWidget::currentItemChanged, this, [this] {
        label_scores_->clear();
        updateButtons();
    });
    connect(ask_, &QPushButton::clicked, this, &SearchWindow::askAboutSelected);
    connect(similar_, &QPushButton::clicked, this, &SearchWindow::findSimilarToSelected);
    connect(score_labels_, &QPushButton::clicked, this, &SearchWindow::scoreLabels);
    connect(labels_, &QLineEdit::returnPressed, this, &SearchWindow::scoreLabels);

    connect(controller_, &SearchController::modelLoading, this, [this](const QString& folder) {
        model_->setText(tr("%1 — loading…").arg(QDir::toNativeSeparators(folder)));
        setStatus(tr("Loading the model…"));
        updateButtons();
    });
    connect(controller_, &SearchController::modelLoaded, this, [this](const QString&, const QString&,
                                                                      const QStringList& indexed) {
        for (const QString& folder : indexed)  // indexed with this model before, from here or the CLI
            addFolder(folder);
        showModel();
        setStatus(folders_->count() == 0 ? tr("Add a folder of images and Index it, then describe what you are looking for.")
                                         : tr("Index the folders to bring them up to date with this model, or search."));
        updateButtons();
    });
    connect(controller_, &SearchController::indexProgress, this, &SearchWindow::showProgress);
    connect(controller_, &SearchController::indexed, this, &SearchWindow::showIndexed);
    connect(controller_, &SearchController::searched, this,
            [this](const QString& text, const QList<SearchResult>& results) {
                if (text != query_->text().trimmed())
                    return;  // the text changed since: its own search follows
                showResults(results, tr("“%1”").arg(text));
            });
    connect(controller_, &SearchController::similarFound, this,
            [this](const QString& query, const QList<SearchResult>& results) {
                showResults(results, tr("images like %1").arg(QFileInfo(query).fileName()));
            });
    connect(controller_, &SearchController::labelsScored, this,
            [this](const QString& path, const QStringList& labels, const QList<float>& scores) {
                if (path != selectedPath())
                    return;
                // Best first, with the score as a percentage: what people read at a glance.
                QList<int> order;
                for (int i = 0; i < labels.size(); ++i)
                    order << i;
                std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
                QStringList parts;
                for (int i : order)
                    parts << QStringLiteral("%1 %2%").arg(labels[i]).arg(scores[i] * 100, 0, 'f', 1);
                label_scores_->setText(tr("%1: %2").arg(QFileInfo(path).fileName(), parts.join(QStringLiteral("  ·  "))));
            });
    connect(controller_, &SearchController::error, this, &SearchWindow::showError);

    QSettings settings;
    for (const QString& folder : settings.value(QStringLiteral("search/folders")).toStringList())
        addFolder(folder);
    labels_->setText(settings.value(QStringLiteral("search/labels")).toString());
    skipped_label_->setVisible(false);
    skipped_->setVisible(false);
    showModel();
    const QString remembered = SearchController::rememberedModel();
    if (!remembered.isEmpty() && QFileInfo(remembered).isDir())
        setModelFolder(remembered);
    else
        setStatus(tr("No model chosen. Choose a CLIP or SigLIP model folder to search with."));
    updateButtons();
}

SearchWindow::~SearchWindow() {
    ++results_ticket_;  // thumbnails still queued are dropped
    thumbs_pool_.clear();
    thumbs_pool_.waitForDone();
}

void SearchWindow::closeEvent(QCloseEvent* event) {
    stop();  // what was indexed is kept; Index goes on from there
    QWidget::closeEvent(event);
}

void SearchWindow::setModelFolder(const QString& folder) {
    if (folder.isEmpty())
        return;
    controller_->loadModel(folder);
}

void SearchWindow::chooseModel() {
    if (!dialogsAllowed())
        return;
    const QString start = controller_->modelFolder().isEmpty() ? QDir::homePath() : controller_->modelFolder();
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Choose a CLIP or SigLIP Model Folder"), start);
    if (!dir.isEmpty())
        setModelFolder(dir);
}

void SearchWindow::chooseFolder() {
    if (!dialogsAllowed())
        return;
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Add a Folder to Search"), QDir::homePath());
    if (!dir.isEmpty()) {
        addFolder(dir);
        setStatus(tr("Index to read the images of %1.").arg(QDir::toNativeSeparators(dir)));
    }
}

void SearchWindow::addFolder(const QString& folder) {
    const QString path = QDir::cleanPath(QFileInfo(folder).absoluteFilePath());
    if (folders().contains(path))
        return;
    auto* item = new QListWidgetItem(QDir::toNativeSeparators(path), folders_);
    item->setData(Qt::UserRole, path);
    item->setToolTip(QDir::toNativeSeparators(path));
    rememberFolders();
    updateButtons();
}

QStringList SearchWindow::folders() const {
    QStringList list;
    for (int i = 0; i < folders_->count(); ++i)
        list << folders_->item(i)->data(Qt::UserRole).toString();
    return list;
}

void SearchWindow::removeSelectedFolder() {
    QListWidgetItem* item = folders_->currentItem();
    if (!item || controller_->isIndexing())
        return;
    const QString folder = item->data(Qt::UserRole).toString();
    delete item;
    rememberFolders();
    controller_->removeFolder(folder);
    setStatus(tr("%1 is no longer searched.").arg(QDir::toNativeSeparators(folder)));
    updateButtons();
}

void SearchWindow::rememberFolders() const {
    QSettings().setValue(QStringLiteral("search/folders"), folders());
}

void SearchWindow::indexFolders() {
    if (controller_->isIndexing())
        return;
    if (!controller_->hasModel() && !controller_->isLoading()) {
        setStatus(tr("No model chosen. Choose a CLIP or SigLIP model folder first."));
        return;
    }
    if (folders_->count() == 0) {
        setStatus(tr("Add a folder of images first."));
        return;
    }
    skipped_->clear();
    skipped_label_->setVisible(false);
    skipped_->setVisible(false);
    progress_->setRange(0, 0);  // busy until the folders are listed
    time_->clear();
    setStatus(tr("Looking for images…"));
    controller_->index(folders());
    updateButtons();
}

void SearchWindow::stop() {
    if (!controller_->isIndexing())
        return;
    controller_->stopIndexing();
    setStatus(tr("Stopping after the image in progress…"));
}

void SearchWindow::setQuery(const QString& text) {
    query_->setText(text);
    typing_->start();
}

void SearchWindow::searchNow() {
    typing_->stop();
    const QString text = query_->text().trimmed();
    if (text.isEmpty())
        return;
    if (!controller_->hasModel() && !controller_->isLoading()) {
        setStatus(tr("No model chosen. Choose a CLIP or SigLIP model folder to search with."));
        return;
    }
    setStatus(tr("Searching for “%1”…").arg(text));
    controller_->search(text);
}

void SearchWindow::findSimilar(const QString& path) {
    if (!controller_->hasModel() && !controller_->isLoading()) {
        setStatus(tr("No model chosen. Choose a CLIP or SigLIP model folder to search with."));
        return;
    }
    setStatus(tr("Looking for images like %1…").arg(QFileInfo(path).fileName()));
    controller_->findSimilar(path);
}

void SearchWindow::findSimilarTo(std::shared_ptr<const RgbImage> image, const QString& name) {
    if (!controller_->hasModel() && !controller_->isLoading()) {
        setStatus(tr("No model chosen. Choose a CLIP or SigLIP model folder to search with."));
        return;
    }
    setStatus(tr("Looking for images like %1…").arg(name));
    controller_->findSimilar(std::move(image), name);
}

QString SearchWindow::selectedPath() const {
    QListWidgetItem* item = results_->currentItem();
    return item ? item->data(Qt::UserRole).toString() : QString();
}

void SearchWindow::askAboutSelected() {
    if (const QString path = selectedPath(); !path.isEmpty())
        emit openImageRequested(path);
}

void SearchWindow::findSimilarToSelected() {
    if (const QString path = selectedPath(); !path.isEmpty())
        findSimilar(path);
}

void SearchWindow::scoreLabels() {
    const QString path = selectedPath();
    QStringList labels;
    for (const QString& l : labels_->text().split(QLatin1Char(','), Qt::SkipEmptyParts))
        if (!l.trimmed().isEmpty())
            labels << l.trimmed();
    if (path.isEmpty() || labels.isEmpty()) {
        label_scores_->setText(tr("Select an image and write a few labels, separated by commas."));
        return;
    }
    QSettings().setValue(QStringLiteral("search/labels"), labels_->text());
    label_scores_->setText(tr("Scoring the labels…"));
    controller_->scoreLabels(path, labels);
}

void SearchWindow::showModel() {
    if (controller_->hasModel())
        model_->setText(tr("%1 — %2").arg(QDir::toNativeSeparators(controller_->modelFolder()),
                                          controller_->modelDescription()));
    else
        model_->setText(tr("none chosen"));
}

void SearchWindow::showProgress(const IndexProgress& p) {
    progress_->setRange(0, std::max(1, p.total));
    progress_->setValue(p.done);
    time_->setText(tr("%1 elapsed, %2 left").arg(clockText(p.elapsed_s), clockText(p.eta_s)));
    if (!p.current.isEmpty())
        setStatus(tr("Indexing %1…").arg(QFileInfo(p.current).fileName()));
}

void SearchWindow::showIndexed(const IndexSummary& s) {
    progress_->setRange(0, 1);
    progress_->setValue(s.cancelled ? 0 : 1);
    const int kept = s.added + s.changed + s.reused;
    if (!s.cancelled) {
        progress_->setRange(0, std::max(1, kept + s.failed));
        progress_->setValue(kept + s.failed);
    }
    QString text = tr("%1 in the index: %2 new, %3 changed, %4 unchanged, %5 removed")
                       .arg(countOf(kept, tr("image"), tr("images")))
                       .arg(s.added)
                       .arg(s.changed)
                       .arg(s.reused)
                       .arg(s.removed);
    if (s.failed > 0)
        text += tr(", %1 could not be read (listed on the left)").arg(s.failed);
    text += QLatin1Char('.');
    if (s.cancelled)
        text = tr("Stopped. What was indexed is kept; Index goes on from there. ") + text;
    setStatus(text);
    skipped_->clear();
    for (const auto& [path, reason] : s.failures) {
        auto* item = new QListWidgetItem(reason, skipped_);  // the reason names the file
        item->setToolTip(QDir::toNativeSeparators(path) + QStringLiteral("\n") + reason);
    }
    skipped_label_->setVisible(!s.failures.isEmpty());
    skipped_->setVisible(!s.failures.isEmpty());
    updateButtons();
    // The results shown may be out of date now: search again with the same text.
    if (!query_->text().trimmed().isEmpty() && !s.cancelled)
        searchNow();
}

void SearchWindow::showResults(const QList<SearchResult>& results, const QString& what) {
    ++results_ticket_;  // the thumbnails still coming for the results before are dropped
    results_->setUpdatesEnabled(false);
    results_->clear();
    const QIcon placeholder = placeholderIcon(kThumb);
    thumbnails_shown_ = 0;
    for (const SearchResult& r : results) {
        const auto cached = thumbs_.constFind(r.path);
        auto* item = new QListWidgetItem(cached != thumbs_.constEnd() ? QIcon(*cached) : placeholder,
                                         QStringLiteral("%1\n%2").arg(QFileInfo(r.path).fileName()).arg(r.score, 0, 'f', 3),
                                         results_);
        item->setData(Qt::UserRole, r.path);
        item->setData(Qt::UserRole + 1, r.score);
        item->setToolTip(QStringLiteral("%1\n%2 %3").arg(QDir::toNativeSeparators(r.path), tr("score")).arg(r.score, 0, 'f', 4));
        if (cached != thumbs_.constEnd())
            ++thumbnails_shown_;
    }
    results_->setUpdatesEnabled(true);
    if (!results.isEmpty())
        results_->setCurrentRow(0);  // the best: what the buttons act on until another is chosen
    results_->scrollToTop();
    setStatus(results.isEmpty() ? tr("Nothing found for %1.").arg(what)
                                : tr("%1 for %2, best first. Double-click one to ask about it.")
                                      .arg(countOf(int(results.size()), tr("image"), tr("images")), what));
    updateButtons();
    loadThumbnails();
    emit resultsShown(int(results.size()));
}

void SearchWindow::loadThumbnails() {
    const unsigned ticket = results_ticket_;
    QStringList missing;
    for (int i = 0; i < results_->count(); ++i) {
        const QString path = results_->item(i)->data(Qt::UserRole).toString();
        if (!thumbs_.contains(path))
            missing << path;
    }
    if (missing.isEmpty())
        return;
    if (thumbs_.size() + missing.size() > kMaxCachedThumbs)
        thumbs_.clear();
    thumbs_pool_.start([this, ticket, missing] {
        for (const QString& path : missing) {
            if (ticket != results_ticket_)  // another search answered meanwhile
                return;
            const QImage image = squareThumbnail(path);
            QMetaObject::invokeMethod(
                this,
                [this, ticket, path, image] {
                    if (image.isNull())
                        return;
                    const QPixmap pixmap = QPixmap::fromImage(image);
                    thumbs_.insert(path, pixmap);
                    if (ticket != results_ticket_)
                        return;
                    for (int i = 0; i < results_->count(); ++i)
                        if (QListWidgetItem* item = results_->item(i); item->data(Qt::UserRole).toString() == path) {
                            item->setIcon(QIcon(pixmap));
                            ++thumbnails_shown_;
                        }
                },
                Qt::QueuedConnection);
        }
    });
}

void SearchWindow::showError(const QString& message) {
    if (!controller_->isIndexing() && progress_->maximum() == 0)
        progress_->setRange(0, 1);  // a run that could not start
    if (label_scores_->text() == tr("Scoring the labels…"))
        label_scores_->clear();
    showModel();
    setStatus(message);
    updateButtons();
}

void SearchWindow::setStatus(const QString& text) {
    status_->setText(text);
}

QString SearchWindow::statusText() const {
    return status_->text();
}

QString SearchWindow::timeText() const {
    return time_->text();
}

QString SearchWindow::labelText() const {
    return label_scores_->text();
}

QStringList SearchWindow::skippedFiles() const {
    QStringList list;
    for (int i = 0; i < skipped_->count(); ++i)
        list << skipped_->item(i)->text();
    return list;
}

QStringList SearchWindow::resultPaths() const {
    QStringList list;
    for (int i = 0; i < results_->count(); ++i)
        list << results_->item(i)->data(Qt::UserRole).toString();
    return list;
}

QList<float> SearchWindow::resultScores() const {
    QList<float> list;
    for (int i = 0; i < results_->count(); ++i)
        list << results_->item(i)->data(Qt::UserRole + 1).toFloat();
    return list;
}

void SearchWindow::updateButtons() {
    const bool indexing = controller_->isIndexing();
    const bool model = controller_->hasModel() || controller_->isLoading();
    choose_model_->setEnabled(!indexing);
    add_folder_->setEnabled(!indexing);
    remove_folder_->setEnabled(!indexing && folders_->currentItem());
    index_->setEnabled(!indexing && model && folders_->count() > 0);
    stop_->setEnabled(indexing);
    const bool selected = results_->currentItem() != nullptr;
    ask_->setEnabled(selected);
    similar_->setEnabled(selected && model);
    score_labels_->setEnabled(selected && model);
}

void SearchWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (event->mimeData()->hasUrls())
        event->acceptProposedAction();
}

void SearchWindow::dropEvent(QDropEvent* event) {
    // An image: find images like it. A folder: add it to the list (Index reads it).
    QString image;
    for (const QUrl& url : event->mimeData()->urls()) {
        if (!url.isLocalFile())
            continue;
        const QString path = url.toLocalFile();
        if (QFileInfo(path).isDir())
            addFolder(path);
        else if (image.isEmpty() && isImageFile(path))
            image = path;
    }
    if (!image.isEmpty())
        findSimilar(image);
    event->acceptProposedAction();
}

}  // namespace vqa::ui
