#include "ui/MainWindow.h"

#include <QApplication>
#include <QClipboard>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QListWidget>
#include <QMessageBox>
#include <QMimeData>
#include <QScrollBar>
#include <QSettings>
#include <QSplitter>
#include <QStackedWidget>
#include <QStatusBar>

#include "engine/EngineWorker.h"
#include "ui/CaptionFolderWindow.h"
#include "ui/EvaluateWindow.h"
#include "ui/SearchWindow.h"
#include "ui/SettingsDialog.h"
#include "ui/ChatPanel.h"
#include "ui/ChatView.h"
#include "ui/ConversationController.h"
#include "ui/ExplainBar.h"
#include "ui/CounterfactualController.h"
#include "ui/Dialogs.h"
#include "ui/ExplanationController.h"
#include "ui/Exporter.h"
#include "ui/ImageCanvas.h"
#include "ui/ImagePanel.h"
#include "ui/ImageSet.h"
#include "ui/LibraryController.h"
#include "ui/LibraryPanel.h"
#include "ui/MainMenus.h"
#include "ui/ModelController.h"
#include "ui/ModelDownloads.h"
#include "ui/ModelManagerDialog.h"
#include "ui/PrecisionDialog.h"
#include "ui/ServerDialog.h"
#include "ui/QuestionEdit.h"
#include "ui/StatusLine.h"
#include "ui/WelcomePage.h"

// The icons live in a static library's object file that nothing else references; naming
// its initializer here makes the linker keep it (Q_INIT_RESOURCE must be at global scope).
static void initVqaResources() { Q_INIT_RESOURCE(vqa); }

namespace vqa::ui {

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent), engine_(new EngineThread(this)), images_(new ImageSet(this)),
      model_(new ModelController(engine_->worker(), this)),
      conversation_(new ConversationController(engine_->worker(), images_, model_, this)),
      explanation_(new ExplanationController(engine_->worker(), images_, conversation_, model_, this)),
      exporter_(new Exporter(images_, model_, explanation_, this)),
      checks_(new CounterfactualController(engine_->worker(), images_, conversation_, model_, this)),
      settings_(AppSettings::restore()) {
    setWindowTitle(tr("VQA Studio"));
    setAccessibleName(tr("VQA Studio"));
    initVqaResources();
    setWindowIcon(QIcon(QStringLiteral(":/icons/vqa-studio.svg")));
    setAcceptDrops(true);
    buildUi();
    buildLibrary();
    menus_ = new MainMenus(this);
    explanation_->setColormap(explainBar()->colormap());
    explanation_->setOpacity(canvas()->overlayOpacity());
    pushRequestParams();
    connectControllers();
    connectChecks();
    connectPictures();
    // This machine's image encoding speed, for the image detail's wait estimate.
    connect(engine_->worker(), &EngineWorker::imageEncoded, this,
            [this](double ms, int tokens) { encode_ms_per_token_ = ms / tokens; });
    connect(engine_->worker(), &EngineWorker::finished, this, [this](const GenerationResult& r) {
        if (r.timings.encode_ms > 0 && r.timings.image_tokens > 0)
            encode_ms_per_token_ = r.timings.encode_ms / r.timings.image_tokens;
    });
    status_->setMemory(ModelController::memoryInUse());
    welcome_->setLastModel(ModelController::lastDir());
    welcome_->setRecommendedCached(ModelController::recommendedCached());
    setStatus(tr("No model loaded — open a model folder (Model ▸ Open Model Folder…, Ctrl+M) to start."));
    updateRightPanel();
    updateActions();
    resize(1280, 800);
}

MainWindow::~MainWindow() {
    settings_.save();
    chatView()->setMessages(nullptr);
    // A captioning run stops while the engine's worker is there to be told.
    delete caption_window_;
    caption_window_ = nullptr;
    // Join the engine thread before the widgets its queued signals would reach go away.
    delete engine_;
    engine_ = nullptr;
}

ImageCanvas* MainWindow::canvas() const { return image_panel_->canvas(); }
ChatView* MainWindow::chatView() const { return chat_panel_->chat(); }
QuestionEdit* MainWindow::questionBox() const { return chat_panel_->question(); }
ExplainBar* MainWindow::explainBar() const { return image_panel_->explainBar(); }
QListWidget* MainWindow::thumbnailStrip() const { return image_panel_->thumbnails(); }
ModelDownloads* MainWindow::downloads() const { return model_->downloads(); }

// ---------------------------------------------------------------------------------------
// Layout

void MainWindow::buildUi() {
    // Left: the image with its heatmap controls; right: the welcome page until a model is
    // there, then the chat.
    image_panel_ = new ImagePanel(settings_);
    welcome_ = new WelcomePage;
    chat_panel_ = new ChatPanel;
    right_stack_ = new QStackedWidget;
    right_stack_->addWidget(welcome_);
    right_stack_->addWidget(chat_panel_);

    auto* splitter = new QSplitter(Qt::Horizontal);
    splitter->addWidget(image_panel_);
    splitter->addWidget(right_stack_);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);
    splitter->setChildrenCollapsible(false);
    splitter->setSizes({740, 520});
    setCentralWidget(splitter);

    status_ = new StatusLine(statusBar());  // messages, progress, speed, device, memory
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
    connect(conversation_, &ConversationController::performance, status_, &StatusLine::setPerformance);

    // Images.
    connect(canvas(), &ImageCanvas::dropped, this, &MainWindow::dropPictures);
    connect(questionBox(), &QuestionEdit::imagePasted, images_, &ImageSet::openFromMime);
    connect(image_panel_, &ImagePanel::thumbnailSelected, this, [this](int row) {
        if (row >= 0 && row != images_->currentIndex())
            images_->setCurrent(row);
    });
    connect(images_, &ImageSet::inserted, this,
            [this](int index) { image_panel_->insertThumbnail(index, images_->at(index)->image); });
    connect(images_, &ImageSet::removed, image_panel_, &ImagePanel::removeThumbnail);
    connect(images_, &ImageSet::currentChanged, this, &MainWindow::showCurrentImage);

    // The model.
    connect(welcome_, &WelcomePage::openModelRequested, this, [this] {
        const QString dir =
            QFileDialog::getExistingDirectory(this, tr("Open Model Folder"), ModelController::lastTried());
        if (!dir.isEmpty())
            loadModel(dir);
    });
    connect(welcome_, &WelcomePage::reloadRequested, this, &MainWindow::loadModel);
    connect(model_, &ModelController::loadStarted, this, [this](const QString& name) {
        welcome_->setLoading(true, name);
        status_->showProgress(tr("loading"));
        updateActions();
    });
    connect(model_, &ModelController::loaded, this, [this] {
        if (!model_->isRemote())
            welcome_->setLastModel(model_->dir());
        explainBar()->setNoAttention(
            model_->lacksAttention() ? tr("No heatmaps: a third-party server sends no attention. Open a local model "
                                    "(or connect to a VQA Studio server) to see where the model looks.")
                               : QString());
        image_panel_->legend()->setVisible(!model_->lacksAttention());
        const auto [layers, heads] = model_->decoderShape();
        explainBar()->setModelShape(layers, heads);
        pushRequestParams();  // the bar may have clamped the layers to the model's
        explanation_->modelLoaded();
        welcome_->setLoading(false);
        status_->hideProgress();
        updateModelLabels();
        updateRightPanel();
        updateActions();
        conversation_->prepareCurrentImage();
        closeIfClosing();
    });
    connect(model_, &ModelController::loadFailed, this, [this](const QString&, const QString& explanation) {
        welcome_->setLoading(false);
        status_->hideProgress();
        updateActions();
        showError(tr("Could not load the model"), explanation);
        closeIfClosing();
    });
    connect(model_, &ModelController::memoryChanged, status_, &StatusLine::setMemory);
    connect(engine_->worker(), &EngineWorker::progress, this, [this](const QString& stage, double fraction) {
        if (!busy())
            return;
        status_->showProgress(stage, fraction);
        if (!stage.isEmpty())
            setStatus(stage[0].toUpper() + stage.mid(1) + QStringLiteral("…"));
    });
    connectDownloads();

    // The conversation.
    connect(chat_panel_, &ChatPanel::sendRequested, this, [this] {
        if (conversation_->isGenerating())
            conversation_->stop();
        else if (conversation_->ask(questionBox()->toPlainText()))
            questionBox()->clear();
    });
    connect(chat_panel_, &ChatPanel::describeRequested, conversation_, &ConversationController::describe);
    connect(chat_panel_, &ChatPanel::regenerateRequested, conversation_, &ConversationController::regenerate);
    connect(chat_panel_, &ChatPanel::newRequested, conversation_, &ConversationController::newConversation);
    connect(chat_panel_, &ChatPanel::copyRequested, this, &MainWindow::copyLastAnswer);
    connect(conversation_, &ConversationController::modelNeeded, this, &MainWindow::showWelcome);
    connect(conversation_, &ConversationController::answerStarted, this, [this](ImageSession* s) {
        chatView()->refresh();
        chatView()->verticalScrollBar()->setValue(chatView()->verticalScrollBar()->maximum());
        explanation_->answerStarted(s);
        updateRightPanel();
        updateActions();
    });
    connect(conversation_, &ConversationController::tokenAppended, this, [this](ImageSession* s, bool attention) {
        if (s == images_->current().get())
            chatView()->scheduleRefresh();
        explanation_->tokenAppended(s, attention);
    });
    connect(conversation_, &ConversationController::answerEnded, this, [this](ImageSession* s) {
        if (s == images_->current().get())
            chatView()->refreshMessage(int(s->messages.size()) - 1);
        explanation_->answerEnded(s);
        status_->hideProgress();
        updateActions();
    });
    connect(conversation_, &ConversationController::answerFinished, this, &MainWindow::closeIfClosing);
    connect(conversation_, &ConversationController::cleared, this, [this](ImageSession* s) {
        checks_->conversationCleared(s);
        chatView()->setMessages(&s->messages);
        explanation_->conversationCleared(s);
        updateRightPanel();
        updateActions();
        questionBox()->setFocus();
    });

    // The explanation.
    connect(chatView(), &ChatView::tokenHovered, explanation_, &ExplanationController::hover);
    connect(chatView(), &ChatView::hoverLeft, explanation_, &ExplanationController::leave);
    connect(chatView(), &ChatView::tokenClicked, explanation_, &ExplanationController::showTokenHeatmap);
    connect(canvas(), &ImageCanvas::boxHovered, explanation_, &ExplanationController::hoverBox);
    connect(explanation_, &ExplanationController::viewChanged, this, [this](const HeatmapView& view) {
        image_panel_->showHeatmap(view);
        chatView()->setHighlight(view.highlight_message, view.highlight_begin, view.highlight_end);
    });
    connect(explanation_, &ExplanationController::relevancyRunning, this, [this](bool running) {
        if (running)
            status_->showProgress(tr("relevancy"));
        else
            status_->hideProgress();
    });
    ExplainBar* bar = explainBar();
    connect(bar, &ExplainBar::overlayToggled, this, [this](bool on) { settings_.overlay_visible = on; });
    connect(bar, &ExplainBar::boxesToggled, this, [this](bool on) { settings_.boxes_visible = on; });
    connect(bar, &ExplainBar::colormapChanged, this, [this](Colormap map) {
        settings_.colormap = colormapName(map);
        explanation_->setColormap(map);
    });
    connect(bar, &ExplainBar::opacityChanged, this, [this](double o) {
        settings_.overlay_opacity = o;
        explanation_->setOpacity(o);
    });
    connect(bar, &ExplainBar::layersChanged, this, [this, bar] {
        settings_.layer_begin = bar->layerBegin();
        settings_.layer_end = bar->layerEnd();
        settings_.head = bar->head();
        pushRequestParams();
        explanation_->regridLastAnswer();
    });
    connect(bar, &ExplainBar::modeChanged, this,
            [this](ExplainMode mode) { explanation_->setMapKind(static_cast<ExplanationController::MapKind>(mode)); });
    connect(bar, &ExplainBar::wholeAnswerRequested, this, [this] { explanation_->showWholeAnswerHeatmap(); });
    connect(bar, &ExplainBar::saveRequested, this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Save Heatmap"), QDir::homePath() + "/heatmap.png",
                                                          tr("PNG images (*.png)"));
        if (!path.isEmpty())
            exporter_->saveOverlay(path, image_panel_->canvas()->image());  // a video's frame on screen too
    });
}

void MainWindow::connectDownloads() {
    ModelDownloads* downloads = model_->downloads();
    connect(welcome_, &WelcomePage::downloadRequested, this, [this, downloads](const QString& repo) {
        if (downloads->start(repo))
            welcome_->setDownloadProgress(-1, tr("Asking the Hub for the list of files…"));
    });
    connect(welcome_, &WelcomePage::pauseRequested, downloads, &ModelDownloads::pause);
    connect(welcome_, &WelcomePage::resumeRequested, this, [downloads] { downloads->start(downloads->repo()); });
    connect(welcome_, &WelcomePage::cancelRequested, downloads, &ModelDownloads::cancel);
    connect(welcome_, &WelcomePage::managerRequested, this, &MainWindow::showModelManager);
    connect(model_, &ModelController::downloadProgress, this, [this](double fraction, const QString& text) {
        welcome_->setDownloadProgress(fraction, text);
        if (!busy())
            status_->showProgress(tr("download %p%"), fraction);
    });
    connect(model_, &ModelController::downloadState, this, [this](bool running, bool paused) {
        welcome_->setDownloadState(running, paused);
        if (!running && !busy())
            status_->hideProgress();
    });
    connect(model_, &ModelController::downloadMessage, welcome_, &WelcomePage::setDownloadMessage);
    connect(model_, &ModelController::downloadCancelled, welcome_, &WelcomePage::hideDownload);
    connect(model_, &ModelController::downloaded, this, [this](const QString& repo, const QString& dir) {
        welcome_->setRecommendedCached(ModelController::recommendedCached());
        if (busy())
            setStatus(tr("%1 is downloaded; load it from Model ▸ Models… when this finishes.").arg(repo));
        else
            loadModel(dir);
    });
    connect(model_, &ModelController::downloadFailed, this, [this](const QString& title, const QString& text) {
        if (!manager_ || !manager_->isVisible())
            showError(title, text);
    });
}

void MainWindow::buildLibrary() {
    library_panel_ = new LibraryPanel;
    library_dock_ = new QDockWidget(tr("Library"), this);
    library_dock_->setObjectName(QStringLiteral("library"));
    library_dock_->setWidget(library_panel_);
    library_dock_->setFeatures(QDockWidget::DockWidgetClosable | QDockWidget::DockWidgetMovable);
    addDockWidget(Qt::LeftDockWidgetArea, library_dock_);
    library_dock_->setVisible(QSettings().value(QStringLiteral("window/library"), false).toBool());
    connect(library_dock_, &QDockWidget::visibilityChanged, this, [this](bool visible) {
        if (!closing_ && isVisible())
            QSettings().setValue(QStringLiteral("window/library"), visible);
    });
    library_ = new LibraryController(images_, conversation_, model_, library_panel_, {}, this);
    connect(library_, &LibraryController::status, this, &MainWindow::setStatus);
}

ModelManagerDialog* MainWindow::showModelManager() {
    if (!manager_) {
        manager_ = new ModelManagerDialog(model_->downloads(), this);
        connect(manager_, &ModelManagerDialog::loadRequested, this, &MainWindow::loadModel);
    } else {
        manager_->refresh();
    }
    manager_->show();
    manager_->raise();
    manager_->activateWindow();
    return manager_;
}

CaptionFolderWindow* MainWindow::showCaptionFolder(const QStringList& inputs) {
    if (!caption_window_) {
        caption_window_ = new CaptionFolderWindow(engine_->worker(), this);
        connect(caption_window_, &CaptionFolderWindow::openImageRequested, this, &MainWindow::openImage);
    }
    if (!inputs.isEmpty() && !caption_window_->running())
        caption_window_->setInputs(inputs);
    caption_window_->show();
    caption_window_->raise();
    caption_window_->activateWindow();
    return caption_window_;
}

void MainWindow::describeImageDetail(SettingsDialog* dialog) {
    const auto session = images_->current();
    if (!session || !session->image.rgb || !model_->hasModel())
        return;
    const quint64 ticket = ++detail_ticket_;
    const int width = session->image.rgb->width, height = session->image.rgb->height;
    const QString name = QStringLiteral("%1 (%2×%3)").arg(session->image.name).arg(width).arg(height);
    const std::vector<int> budgets = dialog->detailBudgets();
    connect(engine_->worker(), &EngineWorker::imageTokenCounts, dialog,
            [this, dialog, ticket, budgets, name](quint64 answered, const std::vector<int>& counts) {
                if (answered != ticket || counts.size() != budgets.size())
                    return;
                QHash<int, int> tokens;
                for (std::size_t i = 0; i < budgets.size(); ++i)
                    tokens.insert(budgets[i], counts[i]);
                dialog->setImageTokenCounts(name, tokens, encode_ms_per_token_);
            });
    engine_->worker()->postImageTokenCounts(ticket, width, height, budgets);
}

EvaluateWindow* MainWindow::showEvaluate() {
    if (!evaluate_window_)
        evaluate_window_ = new EvaluateWindow(engine_->worker(), this);
    evaluate_window_->show();
    evaluate_window_->raise();
    evaluate_window_->activateWindow();
    return evaluate_window_;
}

SearchWindow* MainWindow::showSearch() {
    if (!search_window_) {
        search_window_ = new SearchWindow({}, this);
        connect(search_window_, &SearchWindow::openImageRequested, this, [this](const QString& path) {
            openImage(path);
            raise();
            activateWindow();
        });
    }
    search_window_->show();
    search_window_->raise();
    search_window_->activateWindow();
    return search_window_;
}

void MainWindow::findSimilarToCurrent() {
    const std::shared_ptr<ImageSession> s = images_->current();
    if (!s) {
        setStatus(tr("Open an image first: Find Similar Images looks for images like it."));
        return;
    }
    SearchWindow* w = showSearch();
    if (!s->image.path.isEmpty())
        w->findSimilar(s->image.path);
    else if (s->image.rgb)  // pasted or dropped pixels: searched by what they show
        w->findSimilarTo(s->image.rgb, s->image.name);
}

void MainWindow::captionWhenLoaded() {
    if (!caption_window_)
        return;
    CaptionFolderWindow* w = caption_window_;
    auto start = [this, w] {
        if (model_->hasModel() && !model_->isLoading() && !w->images().isEmpty() && !w->running())
            w->start();
    };
    connect(w, &CaptionFolderWindow::listed, this, start, Qt::SingleShotConnection);
    connect(model_, &ModelController::loaded, this, start, Qt::SingleShotConnection);
    start();
}

ServerDialog* MainWindow::showServerDialog() {
    auto* dialog = new ServerDialog(this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QDialog::accepted, this, [this, dialog] { connectServer(dialog->server()); });
    dialog->open();
    return dialog;
}

void MainWindow::connectServer(const RemoteServer& server) {
    if (conversation_->isGenerating() && !model_->isLoading()) {
        setStatus(tr("Stop the answer before connecting to a server."));
        return;
    }
    model_->connectServer(server);
}

PrecisionDialog* MainWindow::showPrecision() {
    if (!model_->hasModel() || model_->isRemote())
        return nullptr;
    const QString dir = model_->dir();
    QString current = ModelController::precisionFor(dir);
    if (current.isEmpty())
        current = QString::fromStdString(settings_.load.dtype);
    auto* dialog = new PrecisionDialog(dir, model_->name(), current, settings_.load.device, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QDialog::accepted, this, [this, dialog, dir, current] {
        if (dialog->chosen() == current)
            return;
        ModelController::rememberPrecision(dir, dialog->chosen());
        loadModel(dir);
    });
    dialog->open();
    return dialog;
}

// ---------------------------------------------------------------------------------------
// What the controllers report, shown

void MainWindow::pushRequestParams() {
    ExplainParams explain = settings_.explain();
    explain.layer_begin = explainBar()->layerBegin();
    explain.layer_end = explainBar()->layerEnd();
    explain.head = explainBar()->head();
    conversation_->setRequestParams(settings_.generation, explain, settings_.images);
}

void MainWindow::showCurrentImage(int index) {
    const std::shared_ptr<ImageSession> s = images_->current();
    image_panel_->showImage(s ? &s->image : nullptr, index);
    if (s) {
        chatView()->setMessages(&s->messages);
        setWindowTitle(tr("%1 — VQA Studio").arg(s->image.name));
        updateModelLabels();
    } else {  // the last one was closed: its messages go with it
        chatView()->setMessages(nullptr);
        setWindowTitle(tr("VQA Studio"));
    }
    explanation_->currentImageChanged();
    updateRightPanel();
    updateActions();
    if (s)
        conversation_->prepareCurrentImage();
}

void MainWindow::updateModelLabels() {
    const std::shared_ptr<ImageSession> s = images_->current();
    const QString image = !s ? tr("no image")
                          : s->pictureCount() > 1 ? tr("%1 and %n more", nullptr, s->pictureCount() - 1).arg(s->image.name)
                                                  : s->image.name;
    if (const auto& info = model_->info()) {
        status_->setDevice(
            QStringLiteral("%1 · %2").arg(QString::fromStdString(info->device), shortPrecision(*info)));
        chat_panel_->setHeader(tr("%1  ·  about %2").arg(model_->name(), image), model_->infoText());
        chatView()->setAssistantName(model_->name());
    } else {
        status_->setDevice(tr("no model"));
        chat_panel_->setHeader(tr("No model loaded  ·  %1").arg(image), model_->infoText());
    }
}

void MainWindow::updateActions() {
    const std::shared_ptr<ImageSession> s = images_->current();
    image_panel_->setHasImage(s != nullptr);
    ChatPanel::State state;
    state.has_image = s != nullptr;
    state.busy = conversation_->isGenerating();
    state.can_ask = s && model_->hasModel() && !busy();
    state.can_regenerate = state.can_ask && !s->messages.empty();
    state.can_clear = s && !s->messages.empty() && conversation_->generatingSession() != s.get();
    state.can_copy = !conversation_->lastAnswer().isEmpty();
    chat_panel_->setState(state);
    menus_->setState(state, model_->hasModel(), model_->hasModel() && !model_->isRemote());
}

void MainWindow::updateRightPanel() {
    const std::shared_ptr<ImageSession> s = images_->current();
    const bool empty = !s || s->messages.empty();
    right_stack_->setCurrentIndex(!model_->hasModel() && empty ? 0 : 1);
}

// ---------------------------------------------------------------------------------------
// Entry points, settings, events

void MainWindow::openImage(const QString& path) { images_->open(path); }

void MainWindow::openImagesFromElsewhere(const QStringList& paths) {
    QStringList folders, files;
    for (const QString& p : paths)
        (QFileInfo(p).isDir() ? folders : files) << p;
    // Files named together (`vqa-studio a.png b.mp4`) make one conversation, as a drop does.
    if (files.size() == 1)
        openImage(files.first());
    else if (files.size() > 1)
        images_->openMany(files);
    if (!folders.isEmpty())
        showCaptionFolder(folders);
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
    images_->close(index);  // the chat view moves to the next image's messages, or to none
}

void MainWindow::copyLastAnswer() {
    if (chatView()->textCursor().hasSelection()) {
        chatView()->copy();
        return;
    }
    const QString answer = conversation_->lastAnswer();
    if (answer.isEmpty())
        return;
    QApplication::clipboard()->setText(answer);
    setStatus(tr("The answer is on the clipboard."));
}

void MainWindow::applySettings(const AppSettings& settings) {
    // Settings' precision is the default of models without one of their own (Model ▸ Precision…).
    const bool own_precision = model_->hasModel() && !ModelController::precisionFor(model_->dir()).isEmpty();
    const bool reload = model_->hasModel() && (settings.load.device != settings_.load.device ||
                                               (settings.load.dtype != settings_.load.dtype && !own_precision));
    const bool detail_changed = !(settings.images == settings_.images);
    settings_ = settings;
    settings_.save();
    ExplainBar* bar = explainBar();
    bar->setColormap(colormapFromName(settings_.colormap));
    bar->setOpacity(settings_.overlay_opacity);
    bar->setOverlayVisible(settings_.overlay_visible);
    bar->setBoxesVisible(settings_.boxes_visible);
    bar->setLayers(settings_.layer_begin, settings_.layer_end, settings_.head);
    pushRequestParams();
    if (detail_changed)  // the shown image, encoded again at the new detail while the user types
        conversation_->prepareCurrentImage();
    if (reload)
        setStatus(tr("Device and data type apply when the model is loaded again (Model ▸ Open Model Folder…)."));
}


void MainWindow::showWelcome() { right_stack_->setCurrentWidget(welcome_); }

bool MainWindow::welcomeVisible() const { return right_stack_->currentWidget() == welcome_; }
QString MainWindow::statusText() const { return status_->message(); }
QString MainWindow::performanceText() const { return status_->performance(); }
QProgressBar* MainWindow::progressBar() const { return status_->progressBar(); }
QString MainWindow::heatmapCaption() const { return image_panel_->legend()->caption(); }

void MainWindow::setStatus(const QString& text) { status_->setMessage(text); }

void MainWindow::showError(const QString& title, const QString& message) {
    setStatus(title + ": " + QString(message).replace('\n', ' '));
    if (!dialogsAllowed())
        return;
    QMessageBox box(QMessageBox::Warning, title, title, QMessageBox::Ok, this);
    box.setInformativeText(message);
    box.exec();
}

bool MainWindow::busy() const { return model_->isLoading() || conversation_->isGenerating(); }

void MainWindow::closeIfClosing() {
    if (closing_)
        close();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (busy()) {
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
    QStringList folders;
    for (const QUrl& url : event->mimeData()->urls())
        if (url.isLocalFile() && QFileInfo(url.toLocalFile()).isDir())
            folders << url.toLocalFile();
    if (!folders.isEmpty())  // a folder is many images: caption them
        showCaptionFolder(folders);
    else
        dropPictures(event->mimeData(), event->modifiers());
    event->acceptProposedAction();
}

void MainWindow::changeEvent(QEvent* event) {
    QMainWindow::changeEvent(event);
    if (event->type() == QEvent::PaletteChange)
        canvas()->update();
}

}  // namespace vqa::ui
