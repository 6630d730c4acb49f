// The main window: the image canvas (with heatmap controls and a thumbnail strip) beside the
// chat panel, menus, and a status bar. It builds and arranges the widgets and connects them
// to the controllers that own the state (docs/ARCHITECTURE.md, "The window"): ImageSet (the
// open images and their conversations), ModelController, ConversationController (asking and
// the streaming answer), ExplanationController (which heatmap is shown, regrid, relevancy)
// and Exporter. The engine runs on its own thread (EngineThread); nothing heavy runs here.
#pragma once

#include <QMainWindow>

#include "ui/Settings.h"

class QDockWidget;
class QMimeData;
class QListWidget;
class QProgressBar;
class QStackedWidget;

namespace vqa {
class EngineThread;
}

namespace vqa::ui {

class CaptionFolderWindow;
class EvaluateWindow;
class SearchWindow;
class SettingsDialog;
class ChatPanel;
class ChatView;
class ConversationController;
class CounterfactualController;
class ExplainBar;
class ExplanationController;
class HeadExplorer;
class Exporter;
class ImageCanvas;
class ImagePanel;
class PrecisionDialog;
class ServerDialog;
class ImageSet;
class LibraryController;
class LibraryPanel;
class MainMenus;
class StatusLine;
class ModelController;
class ModelDownloads;
class ModelManagerDialog;
class QuestionEdit;
class WelcomePage;
struct HeatmapView;
struct ImageSession;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // What the program's start asks for.
    void openImage(const QString& path);  // asynchronous: images()->added or failed follows
    // Paths another start of the program handed over (SingleInstance), or its own command
    // line: opens the images, shows folders in Caption a Folder, and brings the window forward.
    void openImagesFromElsewhere(const QStringList& paths);
    void loadModel(const QString& model_dir);  // refused (status) while an answer streams
    void loadLastModel();  // the folder remembered from the last successful load, if any

    // The controllers that own the state.
    ImageSet* images() const { return images_; }
    ModelController* model() const { return model_; }
    ConversationController* conversation() const { return conversation_; }
    ExplanationController* explanation() const { return explanation_; }
    Exporter* exporter() const { return exporter_; }
    CounterfactualController* checks() const { return checks_; }
    HeadExplorer* headExplorer() const { return head_explorer_; }  // null until first opened
    // The library: every conversation kept, and the panel that lists and searches them
    // (View ▸ Library).
    LibraryController* library() const { return library_; }
    LibraryPanel* libraryPanel() const { return library_panel_; }
    QDockWidget* libraryDock() const { return library_dock_; }
    // Downloads from the Hub (the first-run button and the model manager share them); a
    // finished download loads its model.
    ModelDownloads* downloads() const;
    // Model ▸ Models…: shows the model manager (non-modal; one at a time).
    ModelManagerDialog* showModelManager();
    // Model ▸ Precision…: the loaded model's precision, chosen with each choice's memory;
    // accepting another loads the model again with it and keeps it for that folder.
    // Null without a model.
    PrecisionDialog* showPrecision();
    // Model ▸ Connect to a Server…: address, key and model of an OpenAI-compatible server
    // (non-modal); accepting connects to it. connectServer: the same without the dialog,
    // refused (status) while an answer streams.
    ServerDialog* showServerDialog();
    void connectServer(const RemoteServer& server);

    // File ▸ Caption a Folder…, or folders dropped on the window: the captioning window (one,
    // non-modal) with these folders and files, or as it was when `inputs` is empty.
    CaptionFolderWindow* showCaptionFolder(const QStringList& inputs = {});
    // Tools ▸ Evaluate…: the loaded model over a caption or VQA set, into a report.
    EvaluateWindow* showEvaluate();
    // Tools ▸ Search Images…: the image search window (one, non-modal), whose results open
    // here for questions. findSimilarToCurrent: the same window, searching by the image shown.
    SearchWindow* showSearch();
    void findSimilarToCurrent();
    // Asks the engine what each image detail of `dialog` means for the image shown (its tokens,
    // and the wait by this machine's last measured encoding); the answer fills the dialog.
    void describeImageDetail(SettingsDialog* dialog);
    double encodeMsPerImageToken() const { return encode_ms_per_token_; }
    // Starts the captioning window's run once both its folders are listed and a model is
    // loaded (`vqa-studio --caption FOLDER`); nothing when no folder was given.
    void captionWhenLoaded();

    void closeImage(int index);  // refused (status) while its answer streams
    void copyLastAnswer();  // the chat's selection, else the last answer

    const AppSettings& settings() const { return settings_; }
    void applySettings(const AppSettings& settings);  // and saves them

    ImageCanvas* canvas() const;
    ChatView* chatView() const;
    QuestionEdit* questionBox() const;
    ExplainBar* explainBar() const;
    WelcomePage* welcomePage() const { return welcome_; }
    QListWidget* thumbnailStrip() const;
    QProgressBar* progressBar() const;
    void showWelcome();  // the first-run page in place of the chat
    bool welcomeVisible() const;
    QString statusText() const;
    QString performanceText() const;
    QString heatmapCaption() const;

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;
    void changeEvent(QEvent* event) override;

private:
    void buildUi();
    void buildLibrary();
    void connectControllers();
    void connectDownloads();
    void connectChecks();  // MainWindowChecks.cpp: the checks and the head explorer
    // MainWindowPictures.cpp: a conversation's several pictures (the chat's thumbnails, the
    // picture on the canvas, the video's player strip) and drops with Ctrl or Shift held.
    void connectPictures();
    void showPictures(const HeatmapView& view);
    void dropPictures(const QMimeData* mime, Qt::KeyboardModifiers modifiers);
    void pushRequestParams();
    void showCurrentImage(int index);
    void updateActions();
    void updateRightPanel();
    void updateModelLabels();
    void showError(const QString& title, const QString& message);
    void setStatus(const QString& text);
    bool busy() const;  // a model loads or an answer streams
    void closeIfClosing();

    EngineThread* engine_;
    ImageSet* images_;
    ModelController* model_;
    ConversationController* conversation_;
    ExplanationController* explanation_;
    Exporter* exporter_;
    CounterfactualController* checks_;
    HeadExplorer* head_explorer_ = nullptr;
    ModelManagerDialog* manager_ = nullptr;
    CaptionFolderWindow* caption_window_ = nullptr;
    EvaluateWindow* evaluate_window_ = nullptr;
    SearchWindow* search_window_ = nullptr;
    quint64 detail_ticket_ = 0;
    double encode_ms_per_token_ = 0;  // the last image encoding's time per image token
    LibraryPanel* library_panel_ = nullptr;
    QDockWidget* library_dock_ = nullptr;
    LibraryController* library_ = nullptr;
    AppSettings settings_;
    bool closing_ = false;
    const ImageSession* seeked_session_ = nullptr;  // the video frame the strip was last sent to
    int seeked_picture_ = -1, seeked_frame_ = -1;

    // Widgets.
    ImagePanel* image_panel_;
    QStackedWidget* right_stack_;
    WelcomePage* welcome_;
    ChatPanel* chat_panel_;
    MainMenus* menus_;
    StatusLine* status_;
};

}  // namespace vqa::ui
