#include "ui/MainWindow.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QCloseEvent>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollBar>
#include <QSplitter>
#include <QStackedWidget>
#include <QStandardPaths>
#include <QStatusBar>
#include <QToolButton>
#include <QVBoxLayout>

#include "engine/EngineWorker.h"
#include "engine/hub/HubCache.h"
#include "engine/hub/KnownModels.h"
#include "ui/ChatView.h"
#include "ui/ConversationController.h"
#include "ui/ExplainBar.h"
#include "ui/ExplanationController.h"
#include "ui/Exporter.h"
#include "ui/ImageCanvas.h"
#include "ui/ImageSet.h"
#include "ui/ModelController.h"
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

bool dialogsAllowed() { return !qEnvironmentVariableIsSet("VQA_NO_DIALOGS"); }

}  // namespace

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent), engine_(new EngineThread(this)), images_(new ImageSet(this)),
      model_(new ModelController(engine_->worker(), this)),
      conversation_(new ConversationController(engine_->worker(), images_, model_, this)),
      explanation_(new ExplanationController(engine_->worker(), images_, conversation_, model_, this)),
      exporter_(new Exporter(images_, model_, explanation_, this)), downloads_(new ModelDownloads(this)),
      settings_(AppSettings::restore()) {
    setWindowTitle(tr("VQA Studio"));
    setAccessibleName(tr("VQA Studio"));
    initVqaResources();
    setWindowIcon(QIcon(QStringLiteral(":/icons/vqa-studio.svg")));
    setAcceptDrops(true);
    buildUi();
    buildMenus();
    explanation_->setColormap(explain_->colormap());
    explanation_->setOpacity(canvas_->overlayOpacity());
    pushRequestParams();
    connectControllers();
    connectDownloads();
    memory_label_->setText(ModelController::memoryInUse());
    welcome_->setLastModel(ModelController::lastDir());
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
    memory_label_->setToolTip(tr("Memory used by VQA Studio (resident set)"));
    statusBar()->addWidget(status_, 1);
    statusBar()->addPermanentWidget(progress_);
    statusBar()->addPermanentWidget(perf_label_);
    statusBar()->addPermanentWidget(device_label_);
    statusBar()->addPermanentWidget(memory_label_);
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
        QString start = images_->lastDir();
        if (start.isEmpty())
            start = QStandardPaths::writableLocation(QStandardPaths::PicturesLocation);
        const QStringList paths = QFileDialog::getOpenFileNames(
            this, tr("Open Image"), start, tr("Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"));
        for (const QString& p : paths)
            openImage(p);
    });
    add(file, tr("&Paste Image"), QKeySequence::Paste, [this] { images_->paste(); });
    recent_menu_ = file->addMenu(tr("Open &Recent"));
    connect(recent_menu_, &QMenu::aboutToShow, this, &MainWindow::rebuildRecentMenu);
    rebuildRecentMenu();
    close_image_action_ = add(file, tr("&Close Image"), QKeySequence::Close, [this] { closeImage(images_->currentIndex()); });
    thumbnails_->addAction(close_image_action_);
    file->addSeparator();
    export_md_action_ = add(file, tr("&Export Conversation as Markdown…"), QKeySequence(tr("Ctrl+E")), [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export as Markdown"),
                                                          QDir::homePath() + "/conversation.md", tr("Markdown (*.md)"));
        if (!path.isEmpty())
            exporter_->exportMarkdown(path);
    });
    export_json_action_ = add(file, tr("Export Conversation as &JSON…"), QKeySequence(tr("Ctrl+Shift+E")), [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export as JSON"),
                                                          QDir::homePath() + "/conversation.json", tr("JSON (*.json)"));
        if (!path.isEmpty())
            exporter_->exportJson(path);
    });
    add(file, tr("&Save Heatmap Image…"), QKeySequence(tr("Ctrl+Shift+S")), [this] { emit explain_->saveRequested(); });
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
    add(view, tr("&Whole-Answer Heatmap"), QKeySequence(tr("Ctrl+Shift+H")),
        [this] { explanation_->showWholeAnswerHeatmap(); });
    view->addSeparator();
    add(view, tr("&Previous Image"), QKeySequence(tr("Ctrl+PgUp")), [this] {
        if (images_->currentIndex() > 0)
            images_->setCurrent(images_->currentIndex() - 1);
    });
    add(view, tr("&Next Image"), QKeySequence(tr("Ctrl+PgDown")), [this] {
        if (images_->currentIndex() + 1 < images_->count())
            images_->setCurrent(images_->currentIndex() + 1);
    });

    QMenu* chat = menuBar()->addMenu(tr("&Chat"));
    describe_action_ = add(chat, tr("&Describe Image"), QKeySequence(tr("Ctrl+D")), [this] { conversation_->describe(); });
    add(chat, tr("&Ask Question"), QKeySequence(tr("Ctrl+Return")), [this] { emit question_->submitted(); });
    add(chat, tr("Type a &Question"), QKeySequence(tr("Ctrl+L")), [this] { question_->setFocus(); });
    stop_action_ = add(chat, tr("&Stop"), QKeySequence(Qt::Key_Escape), [this] { conversation_->stop(); });
    regenerate_action_ = add(chat, tr("&Regenerate"), QKeySequence(tr("Ctrl+R")), [this] { conversation_->regenerate(); });
    new_action_ = add(chat, tr("&New Conversation"), QKeySequence::New, [this] { conversation_->newConversation(); });
    copy_action_ = add(chat, tr("&Copy Answer"), QKeySequence(tr("Ctrl+Shift+C")), [this] { copyLastAnswer(); });

    QMenu* model = menuBar()->addMenu(tr("&Model"));
    add(model, tr("Open &Model Folder…"), QKeySequence(tr("Ctrl+M")), [this] { emit welcome_->openModelRequested(); });
    model_info_action_ = add(model, tr("Model &Information…"), QKeySequence(tr("Ctrl+I")), [this] {
        if (dialogsAllowed())
            QMessageBox::information(this, tr("Model Information"), model_->infoText());
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

// The widgets drive the controllers; the controllers' signals update the widgets. Where the
// order matters (the chat renders a message before the highlight of a word goes over it),
// one slot calls both in that order.
void MainWindow::connectControllers() {
    connect(images_, &ImageSet::status, this, &MainWindow::setStatus);
    connect(model_, &ModelController::status, this, &MainWindow::setStatus);
    connect(conversation_, &ConversationController::status, this, &MainWindow::setStatus);
    connect(explanation_, &ExplanationController::status, this, &MainWindow::setStatus);
    connect(exporter_, &Exporter::status, this, &MainWindow::setStatus);
    connect(images_, &ImageSet::error, this, &MainWindow::showError);
    connect(explanation_, &ExplanationController::error, this, &MainWindow::showError);
    connect(exporter_, &Exporter::error, this, &MainWindow::showError);
    connect(conversation_, &ConversationController::performance, this, &MainWindow::setPerformance);

    // Images.
    connect(canvas_, &ImageCanvas::dropped, images_, &ImageSet::openFromMime);
    connect(question_, &QuestionEdit::imagePasted, images_, &ImageSet::openFromMime);
    connect(thumbnails_, &QListWidget::currentRowChanged, this, [this](int row) {
        if (row >= 0 && row != images_->currentIndex())
            images_->setCurrent(row);
    });
    connect(images_, &ImageSet::inserted, this, [this](int index) {
        const LoadedImage& image = images_->at(index)->image;
        auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(image.thumbnail)), image.name);
        item->setToolTip(image.path.isEmpty() ? image.name : QDir::toNativeSeparators(image.path));
        item->setSizeHint(QSize(80, 56 + thumbnails_->fontMetrics().height() + 10));
        thumbnails_->insertItem(index, item);
        thumbnails_->setVisible(true);
    });
    connect(images_, &ImageSet::removed, this, [this](int index) { delete thumbnails_->takeItem(index); });
    connect(images_, &ImageSet::currentChanged, this, &MainWindow::showCurrentImage);

    // The model.
    connect(welcome_, &WelcomePage::openModelRequested, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Open Model Folder"), ModelController::lastTried());
        if (!dir.isEmpty())
            loadModel(dir);
    });
    connect(welcome_, &WelcomePage::reloadRequested, this, &MainWindow::loadModel);
    connect(model_, &ModelController::loadStarted, this, [this](const QString& name) {
        welcome_->setLoading(true, name);
        showProgress(tr("loading"));
        updateActions();
    });
    connect(model_, &ModelController::loaded, this, [this] {
        welcome_->setLastModel(model_->dir());
        const auto [layers, heads] = model_->decoderShape();
        explain_->setModelShape(layers, heads);
        pushRequestParams();  // the bar may have clamped the layers to the model's
        explanation_->modelLoaded();
        welcome_->setLoading(false);
        progress_->hide();
        updateModelLabels();
        updateRightPanel();
        updateActions();
        conversation_->prepareCurrentImage();
        closeIfClosing();
    });
    connect(model_, &ModelController::loadFailed, this, [this](const QString&, const QString& explanation) {
        welcome_->setLoading(false);
        progress_->hide();
        updateActions();
        showError(tr("Could not load the model"), explanation);
        closeIfClosing();
    });
    connect(model_, &ModelController::memoryChanged, memory_label_, &QLabel::setText);
    connect(engine_->worker(), &EngineWorker::progress, this, [this](const QString& stage, double fraction) {
        if (!model_->isLoading() && !conversation_->isGenerating())
            return;
        showProgress(stage, fraction);
        if (!stage.isEmpty())
            setStatus(stage[0].toUpper() + stage.mid(1) + QStringLiteral("…"));
    });

    // The conversation.
    auto send = [this] {
        if (conversation_->isGenerating()) {
            conversation_->stop();
            return;
        }
        if (conversation_->ask(question_->toPlainText()))
            question_->clear();
    };
    connect(question_, &QuestionEdit::submitted, this, send);
    connect(send_, &QPushButton::clicked, this, send);
    connect(describe_button_, &QPushButton::clicked, conversation_, &ConversationController::describe);
    connect(regenerate_button_, &QPushButton::clicked, conversation_, &ConversationController::regenerate);
    connect(new_button_, &QPushButton::clicked, conversation_, &ConversationController::newConversation);
    connect(copy_button_, &QPushButton::clicked, this, &MainWindow::copyLastAnswer);
    connect(conversation_, &ConversationController::modelNeeded, this,
            [this] { right_stack_->setCurrentWidget(welcome_); });
    connect(conversation_, &ConversationController::answerStarted, this, [this](ImageSession* s) {
        chat_->refresh();
        chat_->verticalScrollBar()->setValue(chat_->verticalScrollBar()->maximum());
        explanation_->answerStarted(s);
        updateRightPanel();
        updateActions();
    });
    connect(conversation_, &ConversationController::tokenAppended, this, [this](ImageSession* s, bool attention) {
        if (s == images_->current().get())
            chat_->scheduleRefresh();
        explanation_->tokenAppended(s, attention);
    });
    connect(conversation_, &ConversationController::answerEnded, this, [this](ImageSession* s) {
        if (s == images_->current().get())
            chat_->refreshMessage(int(s->messages.size()) - 1);
        explanation_->answerEnded(s);
        progress_->hide();
        updateActions();
    });
    connect(conversation_, &ConversationController::answerFinished, this, &MainWindow::closeIfClosing);
    connect(conversation_, &ConversationController::cleared, this, [this](ImageSession* s) {
        chat_->setMessages(&s->messages);
        explanation_->conversationCleared(s);
        updateRightPanel();
        updateActions();
        question_->setFocus();
    });

    // The explanation.
    connect(chat_, &ChatView::tokenHovered, explanation_, &ExplanationController::hover);
    connect(chat_, &ChatView::hoverLeft, explanation_, &ExplanationController::leave);
    connect(chat_, &ChatView::tokenClicked, explanation_, &ExplanationController::showTokenHeatmap);
    connect(explanation_, &ExplanationController::viewChanged, this, &MainWindow::showHeatmapView);
    connect(explanation_, &ExplanationController::relevancyRunning, this, [this](bool running) {
        if (running)
            showProgress(tr("relevancy"));
        else
            progress_->hide();
    });
    connect(explain_, &ExplainBar::overlayToggled, this, [this](bool on) {
        canvas_->setOverlayVisible(on);
        settings_.overlay_visible = on;
        if (overlay_action_)
            overlay_action_->setChecked(on);
    });
    connect(explain_, &ExplainBar::colormapChanged, this, [this](Colormap map) {
        settings_.colormap = colormapName(map);
        legend_->setColormap(map);
        explanation_->setColormap(map);
    });
    connect(explain_, &ExplainBar::opacityChanged, this, [this](double o) {
        settings_.overlay_opacity = o;
        canvas_->setOverlayOpacity(o);
        explanation_->setOpacity(o);
    });
    connect(explain_, &ExplainBar::layersChanged, this, [this] {
        settings_.layer_begin = explain_->layerBegin();
        settings_.layer_end = explain_->layerEnd();
        settings_.head = explain_->head();
        pushRequestParams();
        explanation_->regridLastAnswer();
    });
    connect(explain_, &ExplainBar::modeChanged, this,
            [this](ExplainMode mode) { explanation_->setRelevancyMode(mode == ExplainMode::Relevancy); });
    connect(explain_, &ExplainBar::wholeAnswerRequested, this, [this] { explanation_->showWholeAnswerHeatmap(); });
    connect(explain_, &ExplainBar::saveRequested, this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Save Heatmap"), QDir::homePath() + "/heatmap.png",
                                                          tr("PNG images (*.png)"));
        if (!path.isEmpty())
            exporter_->saveOverlay(path);
    });
}

void MainWindow::connectDownloads() {
    connect(welcome_, &WelcomePage::downloadRequested, this, [this](const QString& repo) {
        if (downloads_->start(repo))
            welcome_->setDownloadProgress(-1, tr("Asking the Hub for the list of files…"));
    });
    connect(welcome_, &WelcomePage::pauseRequested, downloads_, &ModelDownloads::pause);
    connect(welcome_, &WelcomePage::resumeRequested, this, [this] { downloads_->start(downloads_->repo()); });
    connect(welcome_, &WelcomePage::cancelRequested, downloads_, &ModelDownloads::cancel);
    connect(welcome_, &WelcomePage::managerRequested, this, &MainWindow::showModelManager);
    connect(downloads_, &ModelDownloads::progressChanged, this, [this] {
        const hub::DownloadProgress& p = downloads_->lastProgress();
        const double fraction = p.total > 0 ? double(p.bytes) / double(p.total) : -1.0;
        const QString text = downloads_->repo() + QStringLiteral(": ") + ModelDownloads::describe(p);
        welcome_->setDownloadProgress(fraction, text);
        if (!model_->isLoading() && !conversation_->isGenerating())
            showProgress(tr("download %p%"), fraction);
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
        if (!downloads_->running() && !model_->isLoading() && !conversation_->isGenerating())
            progress_->hide();
    });
    connect(downloads_, &ModelDownloads::finished, this, [this](const QString& repo, const QString& dir) {
        welcome_->setDownloadMessage(tr("%1 is downloaded and checked. Loading it…").arg(repo), false);
        welcome_->setDownloadState(false, false);
        updateWelcomeCache();
        if (model_->isLoading() || conversation_->isGenerating())
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
// What the controllers report, shown

void MainWindow::pushRequestParams() {
    ExplainParams explain = settings_.explain();
    explain.layer_begin = explain_->layerBegin();
    explain.layer_end = explain_->layerEnd();
    explain.head = explain_->head();
    conversation_->setRequestParams(settings_.generation, explain);
}

void MainWindow::showCurrentImage(int index) {
    const std::shared_ptr<ImageSession> s = images_->current();
    if (!s) {  // the last one was closed
        canvas_->clear();
        thumbnails_->hide();
        setWindowTitle(tr("VQA Studio"));
        explanation_->currentImageChanged();
        updateRightPanel();
        updateActions();
        return;
    }
    canvas_->setImage(s->image.display, s->image.original_size);
    chat_->setMessages(&s->messages);
    {
        const QSignalBlocker block(thumbnails_);
        thumbnails_->setCurrentRow(index);
    }
    setWindowTitle(tr("%1 — VQA Studio").arg(s->image.name));
    updateModelLabels();
    explanation_->currentImageChanged();
    updateRightPanel();
    updateActions();
    conversation_->prepareCurrentImage();
}

void MainWindow::showHeatmapView(const HeatmapView& view) {
    canvas_->setOverlay(view.overlay);
    legend_->setCaption(view.caption);
    explain_->setHeatmapAvailable(view.available);
    chat_->setHighlight(view.highlight_message, view.highlight_begin, view.highlight_end);
}

void MainWindow::showProgress(const QString& format, double fraction) {
    progress_->show();
    progress_->setRange(0, fraction < 0 ? 0 : 1000);  // 0, 0: busy
    if (fraction >= 0)
        progress_->setValue(int(fraction * 1000));
    progress_->setFormat(format);
}

void MainWindow::updateModelLabels() {
    const std::shared_ptr<ImageSession> s = images_->current();
    const QString image = s ? s->image.name : tr("no image");
    if (const auto& info = model_->info()) {
        device_label_->setText(
            QStringLiteral("%1 · %2").arg(QString::fromStdString(info->device), QString::fromStdString(info->dtype)));
        chat_header_->setText(tr("%1  ·  about %2").arg(model_->name(), image));
        chat_->setAssistantName(model_->name());
    } else {
        device_label_->setText(tr("no model"));
        chat_header_->setText(tr("No model loaded  ·  %1").arg(image));
    }
    chat_header_->setToolTip(model_->infoText());
}

void MainWindow::updateActions() {
    const std::shared_ptr<ImageSession> s = images_->current();
    const bool has_image = s != nullptr;
    explain_->setVisible(has_image);
    view_row_->setVisible(has_image);
    thumbnails_->setVisible(has_image);
    const bool busy = conversation_->isGenerating();
    const bool can_ask = has_image && model_->hasModel() && !busy && !model_->isLoading();
    const bool has_messages = has_image && !s->messages.empty();
    const bool has_answer = !conversation_->lastAnswer().isEmpty();

    send_->setText(busy ? tr("Stop") : tr("Ask"));
    send_->setToolTip(busy ? tr("Stop the answer (Esc)") : tr("Send the question (Enter)"));
    send_->setAccessibleName(busy ? tr("Stop") : tr("Ask"));
    send_->setEnabled(true);  // ask() says what is missing, if anything
    describe_button_->setEnabled(can_ask);
    regenerate_button_->setEnabled(can_ask && has_messages);
    new_button_->setEnabled(has_messages && !(busy && conversation_->generatingSession() == s.get()));
    copy_button_->setEnabled(has_answer);
    describe_action_->setEnabled(can_ask);
    stop_action_->setEnabled(busy);
    regenerate_action_->setEnabled(can_ask && has_messages);
    new_action_->setEnabled(new_button_->isEnabled());
    copy_action_->setEnabled(has_answer);
    export_md_action_->setEnabled(has_image);
    export_json_action_->setEnabled(has_image);
    model_info_action_->setEnabled(model_->hasModel());
    close_image_action_->setEnabled(has_image);
    if (!has_image)
        question_->setPlaceholderText(tr("Open an image, then ask about it here…"));
    else
        question_->setPlaceholderText(tr("Ask about the image…  (Enter sends, Shift+Enter new line)"));
}

void MainWindow::updateRightPanel() {
    const std::shared_ptr<ImageSession> s = images_->current();
    const bool empty = !s || s->messages.empty();
    right_stack_->setCurrentIndex(!model_->hasModel() && empty ? 0 : 1);
}

void MainWindow::rebuildRecentMenu() {
    recent_menu_->clear();
    const QStringList list = images_->recent();
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
        connect(recent_menu_->addAction(tr("Clear List")), &QAction::triggered, images_, &ImageSet::clearRecent);
    }
}

// ---------------------------------------------------------------------------------------
// Entry points, settings, events

void MainWindow::openImage(const QString& path) { images_->open(path); }

void MainWindow::openImagesFromElsewhere(const QStringList& paths) {
    for (const QString& p : paths)
        openImage(p);
    if (isMinimized())
        showNormal();
    show();
    raise();
    activateWindow();
}

void MainWindow::loadModel(const QString& model_dir) {
    if (conversation_->isGenerating() && !model_->isLoading()) {
        setStatus(tr("Stop the answer before loading another model."));
        return;
    }
    model_->load(model_dir, settings_.load);
}

void MainWindow::loadLastModel() {
    const QString dir = ModelController::lastDir();
    if (!dir.isEmpty() && QFileInfo(dir).isDir())
        loadModel(dir);
}

void MainWindow::closeImage(int index) {
    const std::shared_ptr<ImageSession> s = images_->at(index);
    if (!s)
        return;
    if (conversation_->generatingSession() == s.get()) {
        setStatus(tr("Stop the answer before closing its image."));
        return;
    }
    chat_->setMessages(nullptr);  // the view reads the messages; they are about to go
    images_->close(index);
}

void MainWindow::copyLastAnswer() {
    if (chat_->textCursor().hasSelection()) {
        chat_->copy();
        return;
    }
    const QString answer = conversation_->lastAnswer();
    if (answer.isEmpty())
        return;
    QApplication::clipboard()->setText(answer);
    setStatus(tr("The answer is on the clipboard."));
}

void MainWindow::applySettings(const AppSettings& settings) {
    const bool reload = model_->hasModel() &&
                        (settings.load.device != settings_.load.device || settings.load.dtype != settings_.load.dtype);
    settings_ = settings;
    settings_.save();
    explain_->setColormap(colormapFromName(settings_.colormap));
    explain_->setOpacity(settings_.overlay_opacity);
    explain_->setOverlayVisible(settings_.overlay_visible);
    explain_->setLayers(settings_.layer_begin, settings_.layer_end, settings_.head);
    pushRequestParams();
    if (reload)
        setStatus(tr("Device and data type apply when the model is loaded again (Model ▸ Open Model Folder…)."));
}

bool MainWindow::welcomeVisible() const { return right_stack_->currentWidget() == welcome_; }
QString MainWindow::statusText() const { return status_->text(); }
QString MainWindow::performanceText() const { return perf_label_->text(); }
QString MainWindow::heatmapCaption() const { return legend_->caption(); }

void MainWindow::setPerformance(const QString& text) {
    perf_label_->setText(text);
    perf_label_->setMinimumWidth(perf_label_->sizeHint().width());
    perf_label_->setToolTip(tr("Time to the first token and generation speed of the last answer"));
}

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

void MainWindow::closeIfClosing() {
    if (closing_)
        close();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (conversation_->isGenerating() || model_->isLoading()) {
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
    images_->openFromMime(event->mimeData());
    event->acceptProposedAction();
}

void MainWindow::changeEvent(QEvent* event) {
    QMainWindow::changeEvent(event);
    if (event->type() == QEvent::PaletteChange)
        canvas_->update();
}

}  // namespace vqa::ui
