#include "ui/MainWindow.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QCloseEvent>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QScrollBar>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QImageReader>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QSettings>
#include <QSplitter>
#include <QStackedWidget>
#include <QStandardPaths>
#include <QStatusBar>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>

#include "engine/EngineWorker.h"
#include "engine/hub/HubCache.h"
#include "engine/hub/KnownModels.h"
#include "ui/ChatView.h"
#include "ui/ExplainBar.h"
#include "ui/Heatmap.h"
#include "ui/ImageCanvas.h"
#include "ui/ModelDownloads.h"
#include "ui/ModelManagerDialog.h"
#include "ui/QuestionEdit.h"
#include "ui/SettingsDialog.h"
#include "ui/WelcomePage.h"

// The icons live in a static library's object file that nothing else references; naming
// its initializer here makes the linker keep it (Q_INIT_RESOURCE must be at global scope).
static void initVqaResources() { Q_INIT_RESOURCE(vqa); }

namespace vqa::ui {
namespace {

constexpr int kMaxRecent = 10;

QString formatCount(std::int64_t n) {
    if (n >= 1'000'000'000) return QString::number(n / 1e9, 'f', 2) + " B";
    if (n >= 1'000'000) return QString::number(n / 1e6, 'f', 1) + " M";
    if (n >= 1'000) return QString::number(n / 1e3, 'f', 1) + " k";
    return QString::number(n);
}

QString formatBytes(std::int64_t bytes) {
    if (bytes >= (std::int64_t(1) << 30)) return QString::number(bytes / double(1 << 30), 'f', 2) + " GiB";
    return QString::number(bytes / double(1 << 20), 'f', 0) + " MiB";
}

// Resident memory of this process, from /proc (Linux); -1 elsewhere.
std::int64_t residentBytes() {
    QFile f(QStringLiteral("/proc/self/status"));
    if (!f.open(QIODevice::ReadOnly))
        return -1;
    const QList<QByteArray> lines = f.readAll().split('\n');
    for (const QByteArray& line : lines) {
        if (line.startsWith("VmRSS:")) {
            const QList<QByteArray> parts = line.simplified().split(' ');
            if (parts.size() >= 2)
                return parts[1].toLongLong() * 1024;
        }
    }
    return -1;
}

bool dialogsAllowed() { return !qEnvironmentVariableIsSet("VQA_NO_DIALOGS"); }

const QString kDescribePrompt = QStringLiteral("Describe this image.");

// Tokens [b, e) of an answer as the word a person reads (Markdown marks dropped).
QString wordText(const ChatMessage& m, int b, int e) {
    QString word = m.text.mid(m.tokens[size_t(b)].start, m.tokens[size_t(e - 1)].end - m.tokens[size_t(b)].start);
    word.remove(QRegularExpression(QStringLiteral("[*_`#>]")));
    return word.trimmed();
}

// Decoder layers and attention heads from a model folder's config.json (0 when unknown).
std::pair<int, int> decoderShape(const QString& dir) {
    QFile f(dir + QStringLiteral("/config.json"));
    if (!f.open(QIODevice::ReadOnly))
        return {0, 0};
    const QJsonObject root = QJsonDocument::fromJson(f.readAll()).object();
    const QJsonObject text = root.contains("text_config") ? root["text_config"].toObject() : root;
    return {text["num_hidden_layers"].toInt(), text["num_attention_heads"].toInt()};
}

}  // namespace

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent), engine_(new EngineThread(this)), loader_(new ImageLoader(this)),
      downloads_(new ModelDownloads(this)), settings_(AppSettings::restore()) {
    setWindowTitle(tr("VQA Studio"));
    setAccessibleName(tr("VQA Studio"));
    initVqaResources();
    setWindowIcon(QIcon(QStringLiteral(":/icons/vqa-studio.svg")));
    setAcceptDrops(true);
    buildUi();
    buildMenus();
    connectEngine();
    connectDownloads();
    connect(loader_, &ImageLoader::loaded, this, &MainWindow::onImageLoaded);
    connect(loader_, &ImageLoader::failed, this, [this](const QString&, const QString& error) {
        showError(tr("Could not open the image"), error);
        emit imageFailed(error);
    });
    overlay_timer_.setSingleShot(true);
    overlay_timer_.setInterval(30);
    connect(&overlay_timer_, &QTimer::timeout, this, &MainWindow::updateOverlay);
    connect(&memory_timer_, &QTimer::timeout, this, &MainWindow::updateMemory);
    memory_timer_.start(2000);
    updateMemory();
    welcome_->setLastModel(QSettings().value("model/lastDir").toString());
    updateWelcomeCache();
    setStatus(tr("No model loaded — open a model folder (Model ▸ Open Model Folder…, Ctrl+M) to start."));
    updateRightPanel();
    updateActions();
    resize(1280, 800);
}

MainWindow::~MainWindow() {
    settings_.save();
    chat_->setMessages(nullptr);
    // Join the engine thread before the widgets its queued signals would reach go away.
    delete engine_;
    engine_ = nullptr;
}

// ---------------------------------------------------------------------------------------
// Layout

void MainWindow::buildUi() {
    // Left: heatmap controls, canvas, zoom and legend row, thumbnails.
    canvas_ = new ImageCanvas;
    explain_ = new ExplainBar;
    legend_ = new ColorLegend;
    zoom_label_ = new QLabel;
    zoom_label_->setMinimumWidth(zoom_label_->fontMetrics().horizontalAdvance("10000 %"));
    zoom_label_->setAccessibleName(tr("Zoom"));
    thumbnails_ = new QListWidget;
    thumbnails_->setAccessibleName(tr("Images"));
    thumbnails_->setViewMode(QListView::IconMode);
    thumbnails_->setFlow(QListView::LeftToRight);
    thumbnails_->setWrapping(false);
    thumbnails_->setMovement(QListView::Static);
    thumbnails_->setIconSize(QSize(56, 56));
    thumbnails_->setSpacing(2);
    thumbnails_->setFixedHeight(56 + thumbnails_->fontMetrics().height() + 22);
    thumbnails_->setFrameShape(QFrame::NoFrame);
    thumbnails_->setHorizontalScrollBarPolicy(Qt::ScrollBarAsNeeded);
    thumbnails_->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    thumbnails_->setContextMenuPolicy(Qt::ActionsContextMenu);
    thumbnails_->hide();

    explain_->setColormap(colormapFromName(settings_.colormap));
    explain_->setOpacity(settings_.overlay_opacity);
    explain_->setOverlayVisible(settings_.overlay_visible);
    explain_->setLayers(settings_.layer_begin, settings_.layer_end, settings_.head);
    canvas_->setOverlayOpacity(settings_.overlay_opacity);
    canvas_->setOverlayVisible(settings_.overlay_visible);
    legend_->setColormap(colormapFromName(settings_.colormap));

    auto makeToolButton = [](const QString& text, const QString& tip) {
        auto* b = new QToolButton;
        b->setText(text);
        b->setToolTip(tip);
        b->setAccessibleName(tip);
        b->setAutoRaise(true);
        return b;
    };
    QToolButton* fit = makeToolButton(tr("Fit"), tr("Fit to window (Ctrl+0)"));
    QToolButton* one = makeToolButton(tr("1:1"), tr("Actual size (Ctrl+1)"));
    QToolButton* out = makeToolButton(QStringLiteral("−"), tr("Zoom out (Ctrl+-)"));
    QToolButton* in = makeToolButton(QStringLiteral("+"), tr("Zoom in (Ctrl++)"));
    connect(fit, &QToolButton::clicked, canvas_, &ImageCanvas::fitToWindow);
    connect(one, &QToolButton::clicked, canvas_, &ImageCanvas::actualSize);
    connect(out, &QToolButton::clicked, canvas_, &ImageCanvas::zoomOut);
    connect(in, &QToolButton::clicked, canvas_, &ImageCanvas::zoomIn);
    connect(canvas_, &ImageCanvas::zoomChanged, this,
            [this](double percent) { zoom_label_->setText(QString::number(percent, 'f', 0) + " %"); });

    view_row_ = new QWidget;
    auto* view_row = new QHBoxLayout(view_row_);
    view_row->setContentsMargins(6, 0, 6, 0);
    view_row->addWidget(fit);
    view_row->addWidget(one);
    view_row->addWidget(out);
    view_row->addWidget(in);
    view_row->addWidget(zoom_label_);
    view_row->addWidget(legend_, 1);

    auto* left = new QWidget;
    auto* left_layout = new QVBoxLayout(left);
    left_layout->setContentsMargins(0, 4, 0, 4);
    left_layout->setSpacing(4);
    left_layout->addWidget(explain_);
    left_layout->addWidget(canvas_, 1);
    left_layout->addWidget(view_row_);
    left_layout->addWidget(thumbnails_);

    // Right: the welcome page until a model is there, then the chat.
    welcome_ = new WelcomePage;
    chat_header_ = new QLabel;
    chat_header_->setTextFormat(Qt::PlainText);
    chat_header_->setContentsMargins(8, 2, 8, 2);
    chat_header_->setAccessibleName(tr("Model and image"));
    chat_ = new ChatView;
    question_ = new QuestionEdit;
    send_ = new QPushButton(tr("Ask"));
    send_->setAccessibleName(tr("Ask"));
    send_->setDefault(true);
    describe_button_ = new QPushButton(tr("Describe"));
    describe_button_->setToolTip(tr("Describe the image (Ctrl+D)"));
    describe_button_->setAccessibleName(tr("Describe the image"));
    regenerate_button_ = new QPushButton(tr("Regenerate"));
    regenerate_button_->setToolTip(tr("Answer the last question again (Ctrl+R)"));
    new_button_ = new QPushButton(tr("New"));
    new_button_->setToolTip(tr("Start a new conversation about this image (Ctrl+N)"));
    new_button_->setAccessibleName(tr("New conversation"));
    copy_button_ = new QPushButton(tr("Copy"));
    copy_button_->setToolTip(tr("Copy the last answer (Ctrl+Shift+C)"));
    copy_button_->setAccessibleName(tr("Copy the last answer"));

    auto* actions_row = new QHBoxLayout;
    actions_row->addWidget(describe_button_);
    actions_row->addWidget(regenerate_button_);
    actions_row->addWidget(new_button_);
    actions_row->addWidget(copy_button_);
    actions_row->addStretch(1);
    auto* ask_row = new QHBoxLayout;
    ask_row->addWidget(question_, 1);
    ask_row->addWidget(send_, 0, Qt::AlignBottom);
    question_->setMaximumHeight(question_->sizeHint().height() * 2);

    auto* chat_page = new QWidget;
    auto* chat_layout = new QVBoxLayout(chat_page);
    chat_layout->setContentsMargins(0, 4, 6, 6);
    chat_layout->setSpacing(6);
    chat_layout->addWidget(chat_header_);
    chat_layout->addWidget(chat_, 1);
    chat_layout->addLayout(actions_row);
    chat_layout->addLayout(ask_row);

    right_stack_ = new QStackedWidget;
    right_stack_->addWidget(welcome_);
    right_stack_->addWidget(chat_page);

    auto* splitter = new QSplitter(Qt::Horizontal);
    splitter->addWidget(left);
    splitter->addWidget(right_stack_);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);
    splitter->setChildrenCollapsible(false);
    splitter->setSizes({740, 520});
    setCentralWidget(splitter);

    // Status bar: messages, progress, speed, device, memory.
    status_ = new QLabel;
    status_->setTextFormat(Qt::PlainText);
    status_->setMinimumWidth(100);
    status_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    progress_ = new QProgressBar;
    progress_->setMaximumWidth(180);
    progress_->setAccessibleName(tr("Progress"));
    progress_->hide();
    perf_label_ = new QLabel;
    perf_label_->setAccessibleName(tr("Speed"));
    device_label_ = new QLabel(tr("no model"));
    device_label_->setAccessibleName(tr("Device"));
    memory_label_ = new QLabel;
    memory_label_->setAccessibleName(tr("Memory in use"));
    statusBar()->addWidget(status_, 1);
    statusBar()->addPermanentWidget(progress_);
    statusBar()->addPermanentWidget(perf_label_);
    statusBar()->addPermanentWidget(device_label_);
    statusBar()->addPermanentWidget(memory_label_);

    // Wiring of the widgets.
    connect(canvas_, &ImageCanvas::dropped, this, [this](const QMimeData* m) { openFromMime(m); });
    connect(question_, &QuestionEdit::imagePasted, this, [this](const QMimeData* m) { openFromMime(m); });
    auto send = [this] {
        if (isGenerating()) {
            stop();
            return;
        }
        if (ask(question_->toPlainText()))
            question_->clear();
    };
    connect(question_, &QuestionEdit::submitted, this, send);
    connect(send_, &QPushButton::clicked, this, send);
    connect(describe_button_, &QPushButton::clicked, this, &MainWindow::describe);
    connect(regenerate_button_, &QPushButton::clicked, this, &MainWindow::regenerate);
    connect(new_button_, &QPushButton::clicked, this, &MainWindow::newConversation);
    connect(copy_button_, &QPushButton::clicked, this, &MainWindow::copyLastAnswer);
    connect(welcome_, &WelcomePage::openModelRequested, this, [this] {
        const QString start = QSettings().value("model/lastTried", QDir::homePath()).toString();
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Open Model Folder"), start);
        if (!dir.isEmpty())
            loadModel(dir);
    });
    connect(welcome_, &WelcomePage::reloadRequested, this, &MainWindow::loadModel);
    connect(welcome_, &WelcomePage::downloadRequested, this, [this](const QString& repo) {
        if (downloads_->start(repo))
            welcome_->setDownloadProgress(-1, tr("Asking the Hub for the list of files…"));
    });
    connect(welcome_, &WelcomePage::pauseRequested, downloads_, &ModelDownloads::pause);
    connect(welcome_, &WelcomePage::resumeRequested, this, [this] { downloads_->start(downloads_->repo()); });
    connect(welcome_, &WelcomePage::cancelRequested, downloads_, &ModelDownloads::cancel);
    connect(welcome_, &WelcomePage::managerRequested, this, &MainWindow::showModelManager);
    connect(thumbnails_, &QListWidget::currentRowChanged, this, [this](int row) {
        if (row >= 0 && row != current_)
            setCurrentImage(row);
    });

    connect(chat_, &ChatView::tokenHovered, this, &MainWindow::onTokenHovered);
    connect(chat_, &ChatView::hoverLeft, this, &MainWindow::onHoverLeft);
    connect(chat_, &ChatView::tokenClicked, this, &MainWindow::showTokenHeatmap);

    connect(explain_, &ExplainBar::overlayToggled, this, [this](bool on) {
        canvas_->setOverlayVisible(on);
        settings_.overlay_visible = on;
        if (overlay_action_)
            overlay_action_->setChecked(on);
    });
    connect(explain_, &ExplainBar::colormapChanged, this, [this](Colormap map) {
        settings_.colormap = colormapName(map);
        legend_->setColormap(map);
        updateOverlay();
    });
    connect(explain_, &ExplainBar::opacityChanged, this, [this](double o) {
        settings_.overlay_opacity = o;
        canvas_->setOverlayOpacity(o);
    });
    connect(explain_, &ExplainBar::layersChanged, this, [this] {
        settings_.layer_begin = explain_->layerBegin();
        settings_.layer_end = explain_->layerEnd();
        settings_.head = explain_->head();
        regridLastAnswer();
    });
    connect(explain_, &ExplainBar::modeChanged, this, [this](ExplainMode mode) {
        Session* s = current();
        if (mode == ExplainMode::Relevancy && s && s->pinned_message >= 0 && !s->pinned_whole && s->pinned_token >= 0)
            requestRelevancy(s->pinned_message, s->pinned_token);
        else if (mode == ExplainMode::Relevancy)
            setStatus(tr("Relevancy mode: click a word of an answer to compute its map."));
        updateOverlay();
    });
    connect(explain_, &ExplainBar::wholeAnswerRequested, this, [this] { showWholeAnswerHeatmap(); });
    connect(explain_, &ExplainBar::saveRequested, this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Save Heatmap"), QDir::homePath() + "/heatmap.png",
                                                          tr("PNG images (*.png)"));
        if (!path.isEmpty())
            saveOverlay(path);
    });
}

void MainWindow::buildMenus() {
    auto add = [this](QMenu* menu, const QString& text, const QKeySequence& key, auto slot) {
        QAction* a = menu->addAction(text);
        if (!key.isEmpty())
            a->setShortcut(key);
        connect(a, &QAction::triggered, this, slot);
        return a;
    };

    QMenu* file = menuBar()->addMenu(tr("&File"));
    add(file, tr("&Open Image…"), QKeySequence::Open, [this] {
        const QString start = QSettings().value("images/lastDir", QStandardPaths::writableLocation(
                                                                      QStandardPaths::PicturesLocation)).toString();
        const QStringList paths = QFileDialog::getOpenFileNames(
            this, tr("Open Image"), start, tr("Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"));
        for (const QString& p : paths)
            openImage(p);
    });
    add(file, tr("&Paste Image"), QKeySequence::Paste, [this] { pasteFromClipboard(); });
    recent_menu_ = file->addMenu(tr("Open &Recent"));
    connect(recent_menu_, &QMenu::aboutToShow, this, &MainWindow::rebuildRecentMenu);
    rebuildRecentMenu();
    close_image_action_ = add(file, tr("&Close Image"), QKeySequence::Close, [this] { closeImage(current_); });
    thumbnails_->addAction(close_image_action_);
    file->addSeparator();
    export_md_action_ = add(file, tr("&Export Conversation as Markdown…"), QKeySequence(tr("Ctrl+E")), [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export as Markdown"),
                                                          QDir::homePath() + "/conversation.md", tr("Markdown (*.md)"));
        if (!path.isEmpty())
            exportMarkdown(path);
    });
    export_json_action_ = add(file, tr("Export Conversation as &JSON…"), QKeySequence(tr("Ctrl+Shift+E")), [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export as JSON"),
                                                          QDir::homePath() + "/conversation.json", tr("JSON (*.json)"));
        if (!path.isEmpty())
            exportJson(path);
    });
    save_overlay_action_ = add(file, tr("&Save Heatmap Image…"), QKeySequence(tr("Ctrl+Shift+S")),
                               [this] { emit explain_->saveRequested(); });
    file->addSeparator();
    add(file, tr("&Quit"), QKeySequence::Quit, [this] { close(); });

    QMenu* view = menuBar()->addMenu(tr("&View"));
    add(view, tr("&Fit to Window"), QKeySequence(tr("Ctrl+0")), [this] { canvas_->fitToWindow(); });
    add(view, tr("&Actual Size"), QKeySequence(tr("Ctrl+1")), [this] { canvas_->actualSize(); });
    QAction* zin = add(view, tr("Zoom &In"), QKeySequence::ZoomIn, [this] { canvas_->zoomIn(); });
    zin->setShortcuts({QKeySequence::ZoomIn, QKeySequence(tr("Ctrl+="))});
    add(view, tr("Zoom &Out"), QKeySequence::ZoomOut, [this] { canvas_->zoomOut(); });
    view->addSeparator();
    overlay_action_ = add(view, tr("Show &Heatmap"), QKeySequence(tr("Ctrl+H")),
                          [this](bool on) { explain_->setOverlayVisible(on); });
    overlay_action_->setCheckable(true);
    overlay_action_->setChecked(settings_.overlay_visible);
    whole_action_ = add(view, tr("&Whole-Answer Heatmap"), QKeySequence(tr("Ctrl+Shift+H")),
                        [this] { showWholeAnswerHeatmap(); });
    view->addSeparator();
    add(view, tr("&Previous Image"), QKeySequence(tr("Ctrl+PgUp")), [this] {
        if (current_ > 0) setCurrentImage(current_ - 1);
    });
    add(view, tr("&Next Image"), QKeySequence(tr("Ctrl+PgDown")), [this] {
        if (current_ + 1 < imageCount()) setCurrentImage(current_ + 1);
    });

    QMenu* chat = menuBar()->addMenu(tr("&Chat"));
    describe_action_ = add(chat, tr("&Describe Image"), QKeySequence(tr("Ctrl+D")), [this] { describe(); });
    add(chat, tr("&Ask Question"), QKeySequence(tr("Ctrl+Return")), [this] { emit question_->submitted(); });
    add(chat, tr("Type a &Question"), QKeySequence(tr("Ctrl+L")), [this] { question_->setFocus(); });
    stop_action_ = add(chat, tr("&Stop"), QKeySequence(Qt::Key_Escape), [this] { stop(); });
    regenerate_action_ = add(chat, tr("&Regenerate"), QKeySequence(tr("Ctrl+R")), [this] { regenerate(); });
    new_action_ = add(chat, tr("&New Conversation"), QKeySequence::New, [this] { newConversation(); });
    copy_action_ = add(chat, tr("&Copy Answer"), QKeySequence(tr("Ctrl+Shift+C")), [this] { copyLastAnswer(); });

    QMenu* model = menuBar()->addMenu(tr("&Model"));
    add(model, tr("Open &Model Folder…"), QKeySequence(tr("Ctrl+M")), [this] { emit welcome_->openModelRequested(); });
    model_info_action_ = add(model, tr("Model &Information…"), QKeySequence(tr("Ctrl+I")), [this] {
        if (dialogsAllowed())
            QMessageBox::information(this, tr("Model Information"), modelInfoText());
    });
    add(model, tr("Mo&dels…"), QKeySequence(tr("Ctrl+Shift+M")), [this] { showModelManager(); });
    model->addSeparator();
    QAction* prefs = add(model, tr("&Settings…"), QKeySequence::Preferences, [this] {
        SettingsDialog dialog(settings_, this);
        if (dialog.exec() == QDialog::Accepted)
            applySettings(dialog.settings());
    });
    prefs->setShortcuts({QKeySequence::Preferences, QKeySequence(tr("Ctrl+,"))});

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    add(help, tr("&Getting a Model"), QKeySequence(), [this] {
        right_stack_->setCurrentWidget(welcome_);
    });
    add(help, tr("&About VQA Studio"), QKeySequence(), [this] {
        if (dialogsAllowed())
            QMessageBox::about(this, tr("About VQA Studio"),
                               tr("<b>VQA Studio</b> %1<br>Ask questions about images, locally, and see where "
                                  "the model looked.").arg(QApplication::applicationVersion()));
    });
}

void MainWindow::connectEngine() {
    EngineWorker* worker = engine_->worker();
    connect(worker, &EngineWorker::modelLoaded, this, &MainWindow::handleModelLoaded);
    connect(worker, &EngineWorker::modelFailed, this, &MainWindow::handleModelFailed);
    connect(worker, &EngineWorker::progress, this, [this](const QString& stage, double fraction) {
        if (!loading_model_ && !generating_)
            return;
        progress_->show();
        if (fraction < 0) {
            progress_->setRange(0, 0);  // busy
        } else {
            progress_->setRange(0, 1000);
            progress_->setValue(int(fraction * 1000));
        }
        progress_->setFormat(stage);
        if (!stage.isEmpty())
            setStatus(stage[0].toUpper() + stage.mid(1) + QStringLiteral("…"));
    });
    connect(worker, &EngineWorker::token, this, &MainWindow::handleToken);
    connect(worker, &EngineWorker::finished, this, &MainWindow::handleFinished);
    connect(worker, &EngineWorker::attentionRegridded, this, &MainWindow::onRegridded);
    connect(worker, &EngineWorker::relevancyReady, this, &MainWindow::onRelevancy);
    connect(worker, &EngineWorker::explainFailed, this, &MainWindow::onExplainFailed);
}

void MainWindow::connectDownloads() {
    connect(downloads_, &ModelDownloads::progressChanged, this, [this] {
        const hub::DownloadProgress& p = downloads_->lastProgress();
        const double fraction = p.total > 0 ? double(p.bytes) / double(p.total) : -1.0;
        const QString text = downloads_->repo() + QStringLiteral(": ") + ModelDownloads::describe(p);
        welcome_->setDownloadProgress(fraction, text);
        if (!loading_model_ && !generating_) {
            progress_->show();
            progress_->setRange(0, fraction < 0 ? 0 : 1000);
            if (fraction >= 0)
                progress_->setValue(int(fraction * 1000));
            progress_->setFormat(tr("download %p%"));
        }
        setStatus(tr("Downloading %1").arg(text));
    });
    connect(downloads_, &ModelDownloads::stateChanged, this, [this] {
        using S = ModelDownloads::State;
        const S st = downloads_->state();
        welcome_->setDownloadState(downloads_->running(), st == S::Paused);
        if (st == S::Paused) {
            const QString text = tr("Paused %1 at %2 of %3. Resume continues where it stopped.")
                                     .arg(downloads_->repo(),
                                          QString::fromStdString(hub::formatBytes(downloads_->lastProgress().bytes)),
                                          QString::fromStdString(hub::formatBytes(downloads_->lastProgress().total)));
            welcome_->setDownloadMessage(text, false);
            setStatus(text);
        }
        if (!downloads_->running() && !loading_model_ && !generating_)
            progress_->hide();
    });
    connect(downloads_, &ModelDownloads::finished, this, [this](const QString& repo, const QString& dir) {
        welcome_->setDownloadMessage(tr("%1 is downloaded and checked. Loading it…").arg(repo), false);
        welcome_->setDownloadState(false, false);
        updateWelcomeCache();
        if (loading_model_ || generating_)
            setStatus(tr("%1 is downloaded; load it from Model ▸ Models… when this finishes.").arg(repo));
        else
            loadModel(dir);
    });
    connect(downloads_, &ModelDownloads::cancelled, this, [this](const QString& repo) {
        welcome_->hideDownload();
        setStatus(tr("Cancelled the download of %1.").arg(repo));
    });
    connect(downloads_, &ModelDownloads::failed, this, [this](const QString& repo, const QString& message, bool offline) {
        welcome_->setDownloadState(false, false);
        const QString text = offline ? tr("You seem to be offline: %1 could not be downloaded. %2").arg(repo, message)
                                     : tr("The download of %1 failed: %2").arg(repo, message);
        welcome_->setDownloadMessage(text, true);
        setStatus(text);
        if (!manager_ || !manager_->isVisible())
            showError(offline ? tr("Offline") : tr("Download failed"), text);
    });
}

void MainWindow::updateWelcomeCache() {
    QString cached;
    for (const auto& m : hub::knownModels())
        if (m.recommended)
            if (const auto snap = hub::cachedSnapshot(m.repo_id))
                cached = QString::fromStdString(snap->string());
    welcome_->setRecommendedCached(cached);
}

ModelManagerDialog* MainWindow::showModelManager() {
    if (!manager_) {
        manager_ = new ModelManagerDialog(downloads_, this);
        connect(manager_, &ModelManagerDialog::loadRequested, this, &MainWindow::loadModel);
    } else {
        manager_->refresh();
    }
    manager_->show();
    manager_->raise();
    manager_->activateWindow();
    return manager_;
}

// ---------------------------------------------------------------------------------------
// Images

MainWindow::Session* MainWindow::current() const {
    return current_ >= 0 && current_ < int(sessions_.size()) ? sessions_[size_t(current_)].get() : nullptr;
}

const std::vector<ChatMessage>& MainWindow::messages() const {
    static const std::vector<ChatMessage> none;
    return current() ? current()->messages : none;
}

int MainWindow::pendingImages() const { return loader_->pending(); }

void MainWindow::openImage(const QString& path) {
    ImageSource source;
    source.path = path;
    source.name = QFileInfo(path).fileName();
    setStatus(tr("Opening %1…").arg(source.name));
    loader_->load(source);
}

void MainWindow::openImagesFromElsewhere(const QStringList& paths) {
    for (const QString& p : paths)
        openImage(p);
    if (isMinimized())
        showNormal();
    show();
    raise();
    activateWindow();
}

void MainWindow::addImage(const QImage& image, const QString& name) {
    ImageSource source;
    source.image = image;
    source.name = name;
    loader_->load(source);
}

bool MainWindow::openFromMime(const QMimeData* mime) {
    QString problem;
    const std::vector<ImageSource> sources = ImageLoader::sourcesFromMime(mime, &problem);
    if (sources.empty()) {
        const QList<QUrl> web = ImageLoader::webImageUrls(mime);
        for (const QUrl& url : web)
            fetchImage(url);
        if (!web.isEmpty())
            return true;
        showError(tr("No image there"), problem);
        emit imageFailed(problem);
        return false;
    }
    for (const ImageSource& s : sources) {
        setStatus(tr("Opening %1…").arg(s.name));
        loader_->load(s);
    }
    return true;
}

// The browser had the image but gave only its address: fetch it (asynchronously, bounded in
// size and time), then decode it like dropped bytes.
void MainWindow::fetchImage(const QUrl& url) {
    constexpr qint64 kMaxBytes = 200ll << 20;
    if (!network_)
        network_ = new QNetworkAccessManager(this);
    QNetworkRequest request(url);
    request.setTransferTimeout(30000);
    request.setHeader(QNetworkRequest::UserAgentHeader, QStringLiteral("VQA Studio"));
    QNetworkReply* reply = network_->get(request);
    setStatus(tr("Fetching %1…").arg(url.toDisplayString()));
    connect(reply, &QNetworkReply::downloadProgress, reply, [reply](qint64 received, qint64) {
        if (received > kMaxBytes)
            reply->abort();
    });
    connect(reply, &QNetworkReply::finished, this, [this, reply, url] {
        reply->deleteLater();
        const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        if (reply->error() != QNetworkReply::NoError || reply->bytesAvailable() > kMaxBytes) {
            const QString why = reply->bytesAvailable() > kMaxBytes || reply->error() == QNetworkReply::OperationCanceledError
                                    ? tr("it is larger than %1 MB").arg(kMaxBytes >> 20)
                                : status > 0 ? tr("the server answered %1 %2").arg(status).arg(
                                                   reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString())
                                             : reply->errorString();
            const QString problem = tr("Could not fetch the image at %1: %2. Save it from the browser and drop "
                                       "the file, or copy the image and paste it here with Ctrl+V.")
                                        .arg(url.toDisplayString(), why);
            setStatus(problem);
            showError(tr("Could not fetch the image"), problem);
            emit imageFailed(problem);
            return;
        }
        ImageSource source;
        source.bytes = reply->readAll();
        source.name = QFileInfo(url.path()).fileName();
        if (source.name.isEmpty())
            source.name = url.host();
        setStatus(tr("Opening %1…").arg(source.name));
        loader_->load(source);
    });
}

void MainWindow::pasteFromClipboard() { openFromMime(QApplication::clipboard()->mimeData()); }

void MainWindow::onImageLoaded(const LoadedImage& image) {
    // The same pixels again: switch to them instead of opening a second copy.
    for (size_t i = 0; i < sessions_.size(); ++i) {
        if (sessions_[i]->image.key == image.key) {
            setCurrentImage(int(i));
            setStatus(tr("%1 is already open.").arg(image.name));
            emit imageAdded(int(i));
            return;
        }
    }
    auto session = std::make_shared<Session>();
    session->image = image;
    sessions_.push_back(session);
    auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(image.thumbnail)), image.name);
    item->setToolTip(image.path.isEmpty() ? image.name : QDir::toNativeSeparators(image.path));
    item->setSizeHint(QSize(80, 56 + thumbnails_->fontMetrics().height() + 10));
    thumbnails_->addItem(item);
    thumbnails_->setVisible(true);
    if (!image.path.isEmpty()) {
        addRecentImage(image.path);
        QSettings().setValue("images/lastDir", QFileInfo(image.path).absolutePath());
    }
    setCurrentImage(int(sessions_.size()) - 1);
    setStatus(tr("Opened %1 (%2 × %3).").arg(image.name).arg(image.original_size.width()).arg(image.original_size.height()));
    emit imageAdded(int(sessions_.size()) - 1);
}

void MainWindow::setCurrentImage(int index) {
    if (index < 0 || index >= int(sessions_.size()))
        return;
    current_ = index;
    hover_message_ = hover_token_ = -1;
    Session* s = current();
    canvas_->setImage(s->image.display, s->image.original_size);
    chat_->setMessages(&s->messages);
    {
        const QSignalBlocker block(thumbnails_);
        thumbnails_->setCurrentRow(index);
    }
    setWindowTitle(tr("%1 — VQA Studio").arg(s->image.name));
    updateModelLabels();
    updateOverlay();
    updateRightPanel();
    updateActions();
    prepareCurrentImage();
}

// The image on screen is encoded on the worker while the user reads it and types, so the
// first question about it starts at its prefill (the engine keeps the encoding).
void MainWindow::prepareCurrentImage() {
    const Session* s = current();
    if (s && hasModel() && !loading_model_ && s->image.rgb)
        engine_->worker()->postPrepareImage(s->image.rgb, s->image.key.toStdString());
}

void MainWindow::closeImage(int index) {
    if (index < 0 || index >= int(sessions_.size()))
        return;
    if (generating_ && generating_ == sessions_[size_t(index)]) {
        setStatus(tr("Stop the answer before closing its image."));
        return;
    }
    chat_->setMessages(nullptr);
    sessions_.erase(sessions_.begin() + index);
    delete thumbnails_->takeItem(index);
    if (sessions_.empty()) {
        current_ = -1;
        canvas_->clear();
        thumbnails_->hide();
        setWindowTitle(tr("VQA Studio"));
        updateOverlay();
        updateRightPanel();
        updateActions();
        return;
    }
    current_ = -1;
    setCurrentImage(std::min(index, int(sessions_.size()) - 1));
}

QStringList MainWindow::recentImages() const { return QSettings().value("images/recent").toStringList(); }

void MainWindow::addRecentImage(const QString& path) {
    QStringList list = recentImages();
    const QString abs = QFileInfo(path).absoluteFilePath();
    list.removeAll(abs);
    list.prepend(abs);
    while (list.size() > kMaxRecent)
        list.removeLast();
    QSettings().setValue("images/recent", list);
}

void MainWindow::rebuildRecentMenu() {
    recent_menu_->clear();
    const QStringList list = recentImages();
    for (int i = 0; i < list.size(); ++i) {
        const QString path = list[i];
        QAction* a = recent_menu_->addAction(QStringLiteral("&%1  %2").arg((i + 1) % 10).arg(QFileInfo(path).fileName()));
        a->setToolTip(QDir::toNativeSeparators(path));
        connect(a, &QAction::triggered, this, [this, path] { openImage(path); });
    }
    if (list.isEmpty()) {
        recent_menu_->addAction(tr("(none yet)"))->setEnabled(false);
    } else {
        recent_menu_->addSeparator();
        connect(recent_menu_->addAction(tr("Clear List")), &QAction::triggered, this,
                [] { QSettings().remove("images/recent"); });
    }
}

// ---------------------------------------------------------------------------------------
// Model

void MainWindow::loadModel(const QString& model_dir) {
    if (loading_model_) {
        setStatus(tr("A model is already loading; wait for it to finish."));
        return;
    }
    if (generating_) {
        setStatus(tr("Stop the answer before loading another model."));
        return;
    }
    loading_model_ = true;
    loading_dir_ = QFileInfo(model_dir).absoluteFilePath();
    QSettings().setValue("model/lastTried", loading_dir_);
    const QString name = ModelDownloads::displayName(loading_dir_);
    setStatus(tr("Loading model %1…").arg(name));
    welcome_->setLoading(true, name);
    progress_->setRange(0, 0);
    progress_->setFormat(tr("loading"));
    progress_->show();
    updateActions();
    QMetaObject::invokeMethod(engine_->worker(), "loadModel", Qt::QueuedConnection, Q_ARG(QString, loading_dir_),
                              Q_ARG(vqa::LoadOptions, settings_.load));
}

void MainWindow::handleModelLoaded(const ModelInfo& info) {
    loading_model_ = false;
    model_ = info;
    if (loading_dir_.isEmpty())
        loading_dir_ = QString::fromStdString(info.path);
    QSettings().setValue("model/lastDir", loading_dir_);
    welcome_->setLastModel(loading_dir_);
    const auto [layers, heads] = decoderShape(QString::fromStdString(info.path.empty() ? loading_dir_.toStdString() : info.path));
    explain_->setModelShape(layers, heads);
    engine_answer_message_ = -1;  // a new model keeps no attention of earlier answers
    welcome_->setLoading(false);
    progress_->hide();
    setStatus(tr("Model %1 loaded (%2 parameters, %3 on %4). Drop an image and ask away.")
                  .arg(modelName(), formatCount(info.parameters),
                       QString::fromStdString(info.dtype), QString::fromStdString(info.device)));
    updateModelLabels();
    updateRightPanel();
    updateActions();
    prepareCurrentImage();
    emit modelReady(info);
    if (closing_)
        close();
}

void MainWindow::handleModelFailed(const QString& message) {
    loading_model_ = false;
    welcome_->setLoading(false);
    progress_->hide();
    QString text = message;
    if (model_)
        text += "\n\n" + tr("The model loaded before, %1, is still loaded and ready.")
                             .arg(modelName());
    updateActions();
    showError(tr("Could not load the model"), text);
    emit modelLoadFailed(message);
    if (closing_)
        close();
}

void MainWindow::loadLastModel() {
    const QString dir = QSettings().value("model/lastDir").toString();
    if (!dir.isEmpty() && QFileInfo(dir).isDir())
        loadModel(dir);
}

QString MainWindow::modelName() const {
    if (!model_)
        return {};
    const QString dir = model_->path.empty() ? loading_dir_ : QString::fromStdString(model_->path);
    return dir.isEmpty() ? QString::fromStdString(model_->name) : ModelDownloads::displayName(dir);
}

QString MainWindow::modelInfoText() const {
    if (!model_)
        return tr("No model is loaded.");
    const ModelInfo& m = *model_;
    return tr("Name: %1\nFamily: %2\nParameters: %3\nData type: %4\nDevice: %5\nWeights in memory: %6\nFolder: %7")
        .arg(modelName(), QString::fromStdString(m.family), formatCount(m.parameters),
             QString::fromStdString(m.dtype), QString::fromStdString(m.device), formatBytes(m.weight_bytes),
             QDir::toNativeSeparators(QString::fromStdString(m.path)));
}

void MainWindow::updateModelLabels() {
    QString image = current() ? current()->image.name : tr("no image");
    if (model_) {
        device_label_->setText(QStringLiteral("%1 · %2").arg(QString::fromStdString(model_->device),
                                                             QString::fromStdString(model_->dtype)));
        chat_header_->setText(tr("%1  ·  about %2").arg(modelName(), image));
        chat_->setAssistantName(modelName());
    } else {
        device_label_->setText(tr("no model"));
        chat_header_->setText(tr("No model loaded  ·  %1").arg(image));
    }
    chat_header_->setToolTip(modelInfoText());
}

void MainWindow::updateMemory() {
    const std::int64_t rss = residentBytes();
    memory_label_->setText(rss < 0 ? QString() : tr("%1 in use").arg(formatBytes(rss)));
    memory_label_->setToolTip(tr("Memory used by VQA Studio (resident set)"));
}

// ---------------------------------------------------------------------------------------
// Chat

bool MainWindow::describe() { return ask(kDescribePrompt); }

bool MainWindow::ask(const QString& question_text) {
    const QString question = question_text.trimmed();
    if (question.isEmpty()) {
        setStatus(tr("Type a question first."));
        return false;
    }
    if (!current()) {
        setStatus(tr("Open an image first: drop one on the left, paste one (Ctrl+V) or press Ctrl+O."));
        return false;
    }
    if (!model_) {
        setStatus(loading_model_ ? tr("The model is still loading; ask again when it is ready.")
                                 : tr("Open a model folder first (Ctrl+M)."));
        right_stack_->setCurrentWidget(welcome_);
        return false;
    }
    if (generating_ || loading_model_) {
        setStatus(tr("Wait for the current answer, or stop it (Esc)."));
        return false;
    }
    beginAnswer(question);
    submitCurrent();
    return true;
}

void MainWindow::beginAnswer(const QString& question) {
    Session* s = current();
    if (!s)
        return;
    ChatMessage user;
    user.role = Role::User;
    user.text = question;
    s->messages.push_back(user);
    ChatMessage answer;
    answer.role = Role::Assistant;
    answer.streaming = true;
    s->messages.push_back(answer);
    generating_ = sessions_[size_t(current_)];
    generation_clock_.start();
    first_token_ms_ = last_token_ms_ = -1;
    streamed_tokens_ = 0;
    s->pinned_message = s->pinned_token = -1;
    s->pinned_whole = false;
    setPerformance(tr("waiting for the first token…"));
    chat_->refresh();
    chat_->verticalScrollBar()->setValue(chat_->verticalScrollBar()->maximum());
    updateOverlay();
    updateRightPanel();
    updateActions();
}

void MainWindow::submitCurrent() {
    Session* s = generating_.get();
    if (!s)
        return;
    Request request;
    request.conversation = toConversation(s->messages, s->messages.size() - 1, true);
    request.images = {s->image.rgb};
    request.image_keys = {s->image.key.toStdString()};
    request.generation = settings_.generation;
    request.explain = explainParams();
    setStatus(tr("Thinking…"));
    engine_->worker()->post(request);
}

ExplainParams MainWindow::explainParams() const {
    ExplainParams e = settings_.explain();
    e.layer_begin = explain_->layerBegin();
    e.layer_end = explain_->layerEnd();
    e.head = explain_->head();
    return e;
}

void MainWindow::handleToken(const TokenEvent& event) {
    if (!generating_ || generating_->messages.empty())
        return;
    ChatMessage& m = generating_->messages.back();
    const double now = generation_clock_.nsecsElapsed() / 1e6;
    if (first_token_ms_ < 0) {
        first_token_ms_ = now;
        setStatus(tr("Answering… (Esc stops it)"));
    }
    last_token_ms_ = now;
    ++streamed_tokens_;
    TokenRecord r;
    r.start = int(m.text.size());
    m.text += QString::fromStdString(event.text);
    r.end = int(m.text.size());
    r.id = event.id;
    r.attention = event.attention;
    m.tokens.push_back(std::move(r));
    if (generating_.get() == current()) {
        chat_->scheduleRefresh();
        // While nothing is pinned or hovered, the overlay follows the newest token.
        if (hover_message_ < 0 && !event.attention.empty() && !overlay_timer_.isActive())
            overlay_timer_.start();  // coalesced: at most one overlay per frame or so
    }
    const double rate = streamed_tokens_ > 1 && last_token_ms_ > first_token_ms_
                            ? (streamed_tokens_ - 1) * 1000.0 / (last_token_ms_ - first_token_ms_)
                            : 0.0;
    setPerformance(rate > 0 ? tr("first token %1 ms · %2 tokens/s").arg(first_token_ms_, 0, 'f', 0).arg(rate, 0, 'f', 1)
                                  : tr("first token %1 ms").arg(first_token_ms_, 0, 'f', 0));
    emit tokenReceived(event.index);
}

void MainWindow::handleFinished(const GenerationResult& result) {
    if (!generating_)
        return;
    std::shared_ptr<Session> s = std::move(generating_);
    generating_.reset();
    ChatMessage& m = s->messages.back();
    m.streaming = false;
    m.stop = result.stop;
    engine_answer_session_ = s;
    engine_answer_message_ = int(s->messages.size()) - 1;
    if (m.text.isEmpty() && !result.text.empty())
        m.text = QString::fromStdString(result.text);  // an engine that did not stream
    Timings t = result.timings;
    if (t.new_tokens == 0)
        t.new_tokens = streamed_tokens_;
    if (t.first_token_ms <= 0 && first_token_ms_ >= 0)
        t.first_token_ms = first_token_ms_;
    if (t.decode_ms <= 0 && last_token_ms_ > first_token_ms_)
        t.decode_ms = last_token_ms_ - first_token_ms_;
    if (result.stop == StopReason::Error) {
        m.error = QString::fromStdString(result.error.empty() ? std::string("the engine failed without a message")
                                                              : result.error);
        setStatus(tr("The answer failed: %1").arg(m.error));
        setPerformance({});
    } else {
        m.timings = t;
        if (m.hasAttention()) {
            s->pinned_message = int(s->messages.size()) - 1;
            s->pinned_whole = true;
        }
        setStatus(result.stop == StopReason::Cancelled ? tr("Stopped.") : tr("Done."));
        QStringList bits;
        if (t.first_token_ms > 0)
            bits << tr("first token %1 ms").arg(t.first_token_ms, 0, 'f', 0);
        if (t.tokensPerSecond() > 0)
            bits << tr("%1 tokens/s").arg(t.tokensPerSecond(), 0, 'f', 1);
        setPerformance(bits.join(QStringLiteral(" · ")));
    }
    if (s.get() == current()) {
        chat_->refreshMessage(int(s->messages.size()) - 1);
        updateOverlay();
    }
    progress_->hide();
    updateActions();
    if (regrid_after_answer_) {
        // The layers changed while this answer was being written with the old ones.
        regrid_after_answer_ = false;
        regridLastAnswer();
    }
    emit answerFinished();
    if (closing_)
        close();
}

void MainWindow::stop() {
    if (!generating_)
        return;
    engine_->worker()->cancel();
    setStatus(tr("Stopping…"));
}

bool MainWindow::regenerate() {
    Session* s = current();
    if (!s || generating_ || !model_ || loading_model_)
        return false;
    // Drop the last answer (and anything after the last question), then ask again.
    forgetEngineAnswer(s);
    while (!s->messages.empty() && s->messages.back().role == Role::Assistant)
        s->messages.pop_back();
    if (s->messages.empty())
        return false;
    const QString question = s->messages.back().text;
    s->messages.pop_back();
    beginAnswer(question);
    submitCurrent();
    return true;
}

void MainWindow::newConversation() {
    Session* s = current();
    if (!s || (generating_ && generating_.get() == s))
        return;
    forgetEngineAnswer(s);
    s->messages.clear();
    s->pinned_message = s->pinned_token = -1;
    s->pinned_whole = false;
    hover_message_ = hover_token_ = -1;
    chat_->setMessages(&s->messages);
    updateOverlay();
    updateRightPanel();
    updateActions();
    question_->setFocus();
}

void MainWindow::copyLastAnswer() {
    if (chat_->textCursor().hasSelection()) {
        chat_->copy();
        return;
    }
    const auto& list = messages();
    for (auto it = list.rbegin(); it != list.rend(); ++it) {
        if (it->role == Role::Assistant && !it->text.isEmpty()) {
            QApplication::clipboard()->setText(it->text);
            setStatus(tr("The answer is on the clipboard."));
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Explanation

void MainWindow::showTokenHeatmap(int message, int token) {
    Session* s = current();
    if (!s || message < 0 || message >= int(s->messages.size()))
        return;
    s->pinned_message = message;
    s->pinned_token = token;
    s->pinned_whole = false;
    hover_message_ = hover_token_ = -1;
    if (explain_->mode() == ExplainMode::Relevancy)
        requestRelevancy(message, token);
    updateOverlay();
}

bool MainWindow::requestRelevancy(int message, int token) {
    Session* s = current();
    if (!s || message < 0 || message >= int(s->messages.size()))
        return false;
    const ChatMessage& m = s->messages[size_t(message)];
    if (m.role != Role::Assistant || token < 0 || token >= int(m.tokens.size()))
        return false;
    if (!model_ || loading_model_) {
        setStatus(tr("Relevancy needs the model that wrote the answer: load a model first."));
        return false;
    }
    if (generating_ || m.streaming) {
        setStatus(tr("Relevancy can be computed when the answer is finished."));
        return false;
    }
    const auto [b, e] = m.wordOfToken(token);
    // The word's first few tokens: each costs a forward and a backward pass.
    std::vector<int> indices;
    for (int t = b; t < std::min(e, b + 4); ++t)
        if (m.tokens[size_t(t)].relevancy.empty())
            indices.push_back(t);
    if (indices.empty())
        return true;  // already there
    for (const auto& [ticket, p] : pending_explain_)
        if (p.relevancy && p.session.lock().get() == s && p.message == message && p.tokens == indices.front())
            return true;  // already on its way
    Request request;
    request.conversation = toConversation(s->messages, size_t(message), true);
    request.images = {s->image.rgb};
    request.image_keys = {s->image.key.toStdString()};
    request.generation = settings_.generation;
    request.explain = explainParams();
    std::vector<std::int32_t> ids;
    ids.reserve(m.tokens.size());
    for (const TokenRecord& t : m.tokens)
        ids.push_back(t.id);
    const quint64 ticket = ++next_ticket_;
    pending_explain_[ticket] = {sessions_[size_t(current_)], message, indices.front(), true};
    setStatus(tr("Computing the relevancy of “%1”…").arg(wordText(m, b, e)));
    progress_->setRange(0, 0);
    progress_->setFormat(tr("relevancy"));
    progress_->show();
    engine_->worker()->postRelevancy(ticket, request, ids, indices);
    updateOverlay();
    return true;
}

bool MainWindow::regridLastAnswer() {
    std::shared_ptr<Session> s = engine_answer_session_.lock();
    if (generating_) {
        regrid_after_answer_ = true;
        setStatus(tr("The new layers and head apply once this answer is finished."));
        return false;
    }
    if (!s || engine_answer_message_ < 0 || engine_answer_message_ >= int(s->messages.size()) ||
        !s->messages[size_t(engine_answer_message_)].hasAttention()) {
        setStatus(tr("Layer and head choices apply to the next answer."));
        return false;
    }
    const ChatMessage& m = s->messages[size_t(engine_answer_message_)];
    const quint64 ticket = ++next_ticket_;
    pending_explain_[ticket] = {s, engine_answer_message_, int(m.tokens.size()), false};
    const ExplainParams p = explainParams();
    const QString layers = p.layer_begin < 0 && p.layer_end < 0
                               ? tr("the default layers")
                               : tr("layers %1–%2").arg(p.layer_begin < 0 ? tr("auto") : QString::number(p.layer_begin),
                                                        p.layer_end < 0 ? tr("auto") : QString::number(p.layer_end));
    setStatus(tr("Redrawing the last answer's heatmaps from %1, %2…")
                  .arg(layers, p.head < 0 ? tr("all heads") : tr("head %1").arg(p.head)));
    engine_->worker()->postRegrid(ticket, int(m.tokens.size()), p);
    return true;
}

void MainWindow::onRegridded(quint64 ticket, const std::vector<std::vector<HeatmapGrid>>& per_token) {
    const auto it = pending_explain_.find(ticket);
    if (it == pending_explain_.end())
        return;
    const PendingExplain p = it->second;
    pending_explain_.erase(it);
    // A newer regrid supersedes this one.
    for (const auto& [t, other] : pending_explain_)
        if (!other.relevancy && t > ticket)
            return;
    std::shared_ptr<Session> s = p.session.lock();
    if (s && p.message < int(s->messages.size()) && s->messages[size_t(p.message)].tokens.size() == per_token.size()) {
        ChatMessage& m = s->messages[size_t(p.message)];
        for (size_t i = 0; i < per_token.size(); ++i)
            if (!per_token[i].empty())
                m.tokens[i].attention = per_token[i];
        setStatus(tr("Heatmaps redrawn."));
        if (s.get() == current())
            updateOverlay();
    }
    emit heatmapUpdated();
}

void MainWindow::onRelevancy(quint64 ticket, const std::vector<int>& indices,
                             const std::vector<std::vector<HeatmapGrid>>& per_index) {
    const auto it = pending_explain_.find(ticket);
    if (it == pending_explain_.end())
        return;
    const PendingExplain p = it->second;
    pending_explain_.erase(it);
    if (std::none_of(pending_explain_.begin(), pending_explain_.end(), [](const auto& e) { return e.second.relevancy; }))
        progress_->hide();
    std::shared_ptr<Session> s = p.session.lock();
    if (s && p.message < int(s->messages.size())) {
        ChatMessage& m = s->messages[size_t(p.message)];
        for (size_t i = 0; i < indices.size() && i < per_index.size(); ++i)
            if (indices[i] >= 0 && indices[i] < int(m.tokens.size()))
                m.tokens[size_t(indices[i])].relevancy = per_index[i];
        setStatus(tr("Relevancy ready."));
        if (s.get() == current())
            updateOverlay();
    }
    emit heatmapUpdated();
}

void MainWindow::onExplainFailed(quint64 ticket, const QString& message) {
    const auto it = pending_explain_.find(ticket);
    if (it == pending_explain_.end())
        return;
    const bool relevancy = it->second.relevancy;
    pending_explain_.erase(it);
    progress_->hide();
    showError(relevancy ? tr("Could not compute the relevancy") : tr("Could not redraw the heatmaps"), message);
    emit heatmapUpdated();
}

void MainWindow::forgetEngineAnswer(Session* s) {
    if (engine_answer_session_.lock().get() == s)
        engine_answer_message_ = -1;
}

void MainWindow::showWholeAnswerHeatmap(int message) {
    Session* s = current();
    if (!s)
        return;
    if (message < 0)
        for (int i = int(s->messages.size()) - 1; i >= 0 && message < 0; --i)
            if (s->messages[size_t(i)].role == Role::Assistant && s->messages[size_t(i)].hasAttention())
                message = i;
    if (message < 0) {
        setStatus(tr("No answer with attention maps yet."));
        return;
    }
    s->pinned_message = message;
    s->pinned_token = -1;
    s->pinned_whole = true;
    hover_message_ = hover_token_ = -1;
    updateOverlay();
}

void MainWindow::clearHeatmap() {
    if (Session* s = current()) {
        s->pinned_message = s->pinned_token = -1;
        s->pinned_whole = false;
    }
    hover_message_ = hover_token_ = -1;
    updateOverlay();
}

void MainWindow::onTokenHovered(int message, int token) {
    hover_message_ = message;
    hover_token_ = token;
    updateOverlay();
}

void MainWindow::onHoverLeft() {
    if (hover_message_ < 0)
        return;
    hover_message_ = hover_token_ = -1;
    updateOverlay();
}

QString MainWindow::heatmapCaption() const { return legend_->caption(); }

void MainWindow::updateOverlay() {
    overlay_timer_.stop();
    Session* s = current();
    std::vector<const std::vector<HeatmapGrid>*> grids;
    QString caption;
    int hl_message = -1, hl_begin = 0, hl_end = 0;
    if (s) {
        int message = -1, token = -1;
        bool whole = false, live = false;
        if (hover_message_ >= 0) {
            message = hover_message_;
            token = hover_token_;
        } else if (s->pinned_message >= 0) {
            message = s->pinned_message;
            token = s->pinned_token;
            whole = s->pinned_whole;
        } else if (generating_.get() == s && !s->messages.empty() && !s->messages.back().tokens.empty()) {
            message = int(s->messages.size()) - 1;  // live: the newest token
            token = int(s->messages.back().tokens.size()) - 1;
            live = true;
        }
        const bool relevancy = explain_->mode() == ExplainMode::Relevancy;
        auto mapOf = [relevancy](const TokenRecord& t) -> const std::vector<HeatmapGrid>& {
            return relevancy ? t.relevancy : t.attention;
        };
        if (message >= 0 && message < int(s->messages.size())) {
            const ChatMessage& m = s->messages[size_t(message)];
            if (whole) {
                for (const auto& t : m.tokens)
                    if (!mapOf(t).empty())
                        grids.push_back(&mapOf(t));
                if (relevancy)
                    caption = grids.empty() ? tr("Relevancy: click a word to compute its map")
                                            : tr("Relevancy: mean over the %1 tokens computed so far").arg(grids.size());
                else
                    caption = grids.size() == 1 ? tr("Whole answer: one token")
                                                : tr("Whole answer: mean over %1 tokens").arg(grids.size());
            } else if (token >= 0 && token < int(m.tokens.size())) {
                const auto [b, e] = m.wordOfToken(token);
                for (int t = b; t < e; ++t)
                    if (!mapOf(m.tokens[size_t(t)]).empty())
                        grids.push_back(&mapOf(m.tokens[size_t(t)]));
                const QString word = wordText(m, b, e);
                if (relevancy) {
                    const bool pending = std::any_of(pending_explain_.begin(), pending_explain_.end(), [&](const auto& p) {
                        return p.second.relevancy && p.second.message == message && p.second.tokens >= b && p.second.tokens < e;
                    });
                    caption = !grids.empty() ? tr("Relevancy of “%1”").arg(word)
                              : pending      ? tr("Computing the relevancy of “%1”…").arg(word)
                                             : tr("Click “%1” to compute its relevancy").arg(word);
                } else {
                    caption = grids.empty() ? tr("No attention map for “%1”").arg(word) : tr("Word “%1”").arg(word);
                }
                if (!live) {  // the streaming cursor shows the newest word; no re-render per token
                    hl_message = message;
                    hl_begin = b;
                    hl_end = e;
                }
            }
        }
        if (caption.isEmpty())
            caption = s->messages.empty() ? tr("Ask a question, then hover a word of the answer")
                                          : tr("Hover or click a word of an answer");
    }
    QImage overlay;
    if (!grids.empty()) {
        const HeatmapField field = buildHeatmap(grids, s->image.original_size);
        overlay = colorizeHeatmap(field, explain_->colormap());
    }
    canvas_->setOverlay(overlay);
    legend_->setCaption(caption);
    explain_->setHeatmapAvailable(!overlay.isNull() || (s && std::any_of(s->messages.begin(), s->messages.end(),
                                                                         [](const ChatMessage& m) { return m.hasAttention(); })));
    chat_->setHighlight(hl_message, hl_begin, hl_end);
}

bool MainWindow::saveOverlay(const QString& path) {
    if (canvas_->image().isNull() || canvas_->overlay().isNull()) {
        showError(tr("Nothing to save"), tr("There is no heatmap over the image yet: hover or click a word of an answer."));
        return false;
    }
    const QImage image = blendOverlay(canvas_->image(), canvas_->overlay(), canvas_->overlayOpacity());
    if (!image.save(path, "PNG")) {
        showError(tr("Could not save the heatmap"), tr("Writing %1 failed.").arg(QDir::toNativeSeparators(path)));
        return false;
    }
    setStatus(tr("Saved the heatmap to %1.").arg(QDir::toNativeSeparators(path)));
    return true;
}

// ---------------------------------------------------------------------------------------
// Export

std::vector<ExportedHeatmap> MainWindow::heatmapsForExport() const {
    std::vector<ExportedHeatmap> out;
    Session* s = current();
    if (!s)
        return out;
    const Colormap map = explain_->colormap();
    const double opacity = canvas_->overlayOpacity();
    for (size_t i = 0; i < s->messages.size(); ++i) {
        const ChatMessage& m = s->messages[i];
        if (m.role != Role::Assistant || !m.hasAttention())
            continue;
        std::vector<const std::vector<HeatmapGrid>*> grids;
        for (const auto& t : m.tokens)
            if (!t.attention.empty())
                grids.push_back(&t.attention);
        const QImage overlay = colorizeHeatmap(buildHeatmap(grids, s->image.original_size), map);
        out.push_back({int(i), tr("Heatmap of the whole answer"), blendOverlay(s->image.display, overlay, opacity)});
        if (s->pinned_message == int(i) && !s->pinned_whole && s->pinned_token >= 0 &&
            s->pinned_token < int(m.tokens.size())) {
            const auto [b, e] = m.wordOfToken(s->pinned_token);
            std::vector<const std::vector<HeatmapGrid>*> word;
            for (int t = b; t < e; ++t)
                if (!m.tokens[size_t(t)].attention.empty())
                    word.push_back(&m.tokens[size_t(t)].attention);
            const QString text = m.text.mid(m.tokens[size_t(b)].start, m.tokens[size_t(e - 1)].end - m.tokens[size_t(b)].start).trimmed();
            const QImage wo = colorizeHeatmap(buildHeatmap(word, s->image.original_size), map);
            if (!wo.isNull())
                out.push_back({int(i), tr("Heatmap of the word “%1”").arg(text), blendOverlay(s->image.display, wo, opacity)});
        }
    }
    return out;
}

ConversationExport MainWindow::exportData() const {
    ConversationExport e;
    if (Session* s = current()) {
        e.image_name = s->image.name;
        e.image = s->image.display;
        e.original_size = s->image.original_size;
        e.image_key = s->image.key;
        e.messages = &s->messages;
    }
    e.model = model_;
    return e;
}

bool MainWindow::exportMarkdown(const QString& path) {
    if (!current()) {
        showError(tr("Nothing to export"), tr("Open an image and ask something first."));
        return false;
    }
    ConversationExport e = exportData();
    e.heatmaps = heatmapsForExport();
    QString error;
    if (!e.writeMarkdown(path, &error)) {
        showError(tr("Could not export the conversation"), error);
        return false;
    }
    setStatus(tr("Exported the conversation to %1.").arg(QDir::toNativeSeparators(path)));
    return true;
}

bool MainWindow::exportJson(const QString& path) {
    if (!current()) {
        showError(tr("Nothing to export"), tr("Open an image and ask something first."));
        return false;
    }
    QString error;
    if (!exportData().writeJson(path, &error)) {
        showError(tr("Could not export the conversation"), error);
        return false;
    }
    setStatus(tr("Exported the conversation to %1.").arg(QDir::toNativeSeparators(path)));
    return true;
}

// ---------------------------------------------------------------------------------------
// Settings, state, events

void MainWindow::applySettings(const AppSettings& settings) {
    const bool reload = model_ && (settings.load.device != settings_.load.device || settings.load.dtype != settings_.load.dtype);
    settings_ = settings;
    settings_.save();
    explain_->setColormap(colormapFromName(settings_.colormap));
    explain_->setOpacity(settings_.overlay_opacity);
    explain_->setOverlayVisible(settings_.overlay_visible);
    explain_->setLayers(settings_.layer_begin, settings_.layer_end, settings_.head);
    if (reload)
        setStatus(tr("Device and data type apply when the model is loaded again (Model ▸ Open Model Folder…)."));
}

void MainWindow::updateActions() {
    const bool has_image = current() != nullptr;
    explain_->setVisible(has_image);
    view_row_->setVisible(has_image);
    thumbnails_->setVisible(has_image);
    const bool busy = generating_ != nullptr;
    const bool can_ask = has_image && model_ && !busy && !loading_model_;
    const bool has_messages = has_image && !current()->messages.empty();
    bool has_answer = false;
    for (const auto& m : messages())
        has_answer |= m.role == Role::Assistant && !m.text.isEmpty();

    send_->setText(busy ? tr("Stop") : tr("Ask"));
    send_->setToolTip(busy ? tr("Stop the answer (Esc)") : tr("Send the question (Enter)"));
    send_->setAccessibleName(busy ? tr("Stop") : tr("Ask"));
    send_->setEnabled(true);  // ask() says what is missing, if anything
    describe_button_->setEnabled(can_ask);
    regenerate_button_->setEnabled(can_ask && has_messages);
    new_button_->setEnabled(has_messages && !(busy && generating_.get() == current()));
    copy_button_->setEnabled(has_answer);
    describe_action_->setEnabled(can_ask);
    stop_action_->setEnabled(busy);
    regenerate_action_->setEnabled(can_ask && has_messages);
    new_action_->setEnabled(new_button_->isEnabled());
    copy_action_->setEnabled(has_answer);
    export_md_action_->setEnabled(has_image);
    export_json_action_->setEnabled(has_image);
    model_info_action_->setEnabled(model_.has_value());
    close_image_action_->setEnabled(has_image);
    if (!has_image)
        question_->setPlaceholderText(tr("Open an image, then ask about it here…"));
    else
        question_->setPlaceholderText(tr("Ask about the image…  (Enter sends, Shift+Enter new line)"));
}

bool MainWindow::welcomeVisible() const { return right_stack_->currentWidget() == welcome_; }

void MainWindow::updateRightPanel() {
    const bool empty = !current() || current()->messages.empty();
    right_stack_->setCurrentIndex(!model_ && empty ? 0 : 1);
}

QString MainWindow::statusText() const { return status_->text(); }

void MainWindow::setPerformance(const QString& text) {
    perf_label_->setText(text);
    perf_label_->setMinimumWidth(perf_label_->sizeHint().width());
    perf_label_->setToolTip(tr("Time to the first token and generation speed of the last answer"));
}
QString MainWindow::performanceText() const { return perf_label_->text(); }

void MainWindow::setStatus(const QString& text) {
    status_->setText(text);
    status_->setToolTip(text);
}

void MainWindow::showError(const QString& title, const QString& message) {
    setStatus(title + ": " + QString(message).replace('\n', ' '));
    if (!dialogsAllowed())
        return;
    QMessageBox box(QMessageBox::Warning, title, title, QMessageBox::Ok, this);
    box.setInformativeText(message);
    box.exec();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (generating_ || loading_model_) {
        // Let the worker finish (a generation stops at its next step) and close then;
        // the window goes away now so the user sees the close happen.
        closing_ = true;
        engine_->worker()->cancel();
        hide();
        event->ignore();
        return;
    }
    settings_.save();
    event->accept();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (event->mimeData()->hasUrls() || event->mimeData()->hasImage())
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
    openFromMime(event->mimeData());
    event->acceptProposedAction();
}

void MainWindow::changeEvent(QEvent* event) {
    QMainWindow::changeEvent(event);
    if (event->type() == QEvent::PaletteChange)
        canvas_->update();
}

}  // namespace vqa::ui
