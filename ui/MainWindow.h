// The main window: the image canvas (with heatmap controls and a thumbnail strip) beside the
// chat panel, menus, and a status bar. The engine runs on its own thread (EngineThread);
// nothing heavy runs here: images decode in a thread pool, models load in the worker.
#pragma once

#include <QElapsedTimer>
#include <QMainWindow>
#include <QTimer>

#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "engine/Types.h"
#include "ui/ChatMessage.h"
#include "ui/ConversationExport.h"
#include "ui/ImageLoader.h"
#include "ui/Settings.h"

class QNetworkAccessManager;
class QLabel;
class QListWidget;
class QMenu;
class QMimeData;
class QProgressBar;
class QPushButton;
class QStackedWidget;
class QToolButton;

namespace vqa {
class EngineThread;
}

namespace vqa::ui {

class ChatView;
class ColorLegend;
class ExplainBar;
class ImageCanvas;
class ModelDownloads;
class ModelManagerDialog;
class QuestionEdit;
class WelcomePage;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Images. Loading is asynchronous: imageAdded or imageFailed follows.
    void openImage(const QString& path);
    // Paths another start of the program handed over (SingleInstance): opens them and
    // brings the window forward.
    void openImagesFromElsewhere(const QStringList& paths);
    void addImage(const QImage& image, const QString& name);
    bool openFromMime(const QMimeData* mime);  // a drop or a paste
    void fetchImage(const QUrl& url);          // an image's web address dropped from a browser
    void pasteFromClipboard();
    int imageCount() const { return int(sessions_.size()); }
    int currentImageIndex() const { return current_; }
    void setCurrentImage(int index);
    void closeImage(int index);
    QStringList recentImages() const;
    int pendingImages() const;

    // Model.
    void loadModel(const QString& model_dir);
    void loadLastModel();  // the folder remembered from the last successful load, if any
    bool hasModel() const { return model_.has_value(); }
    bool isLoadingModel() const { return loading_model_; }
    QString modelInfoText() const;
    QString modelName() const;  // what the window calls the loaded model
    // Downloads from the Hub (the first-run button and the model manager share them); a
    // finished download loads its model.
    ModelDownloads* downloads() const { return downloads_; }
    // Model ▸ Models…: shows the model manager (non-modal; one at a time).
    ModelManagerDialog* showModelManager();
    // What the worker reports after loadModel (tests may call them to stand in for it).
    void handleModelLoaded(const vqa::ModelInfo& info);
    void handleModelFailed(const QString& message);

    // Chat about the current image. ask/describe/regenerate return false (and say why in
    // the status bar) when they cannot start.
    bool ask(const QString& question);
    bool describe();
    bool regenerate();
    void stop();
    void newConversation();
    void copyLastAnswer();
    bool isGenerating() const { return generating_ != nullptr; }
    const std::vector<ChatMessage>& messages() const;

    // The engine's stream, also callable directly (tests feed synthetic events): begin an
    // answer to `question` without submitting it, then tokens, then the result.
    void beginAnswer(const QString& question);
    void handleToken(const vqa::TokenEvent& event);
    void handleFinished(const vqa::GenerationResult& result);

    // Explanation: the heatmap of a word (the word holding `token`) or of a whole answer.
    void showTokenHeatmap(int message, int token);
    void showWholeAnswerHeatmap(int message = -1);  // -1: the last answer
    void clearHeatmap();
    // Relevancy of the word holding `token` (computed on the worker; heatmapUpdated follows).
    // Returns false, saying why in the status bar, when it cannot start now.
    bool requestRelevancy(int message, int token);
    // Redraws the last answer's maps with the explanation bar's layers and head (on the worker).
    bool regridLastAnswer();
    bool isExplaining() const { return !pending_explain_.empty(); }
    QString heatmapCaption() const;
    bool saveOverlay(const QString& path);

    bool exportMarkdown(const QString& path);
    bool exportJson(const QString& path);

    const AppSettings& settings() const { return settings_; }
    void applySettings(const AppSettings& settings);  // and saves them

    ImageCanvas* canvas() const { return canvas_; }
    ChatView* chatView() const { return chat_; }
    QuestionEdit* questionBox() const { return question_; }
    ExplainBar* explainBar() const { return explain_; }
    WelcomePage* welcomePage() const { return welcome_; }
    QListWidget* thumbnailStrip() const { return thumbnails_; }
    QProgressBar* progressBar() const { return progress_; }
    bool welcomeVisible() const;
    QString statusText() const;
    QString performanceText() const;

signals:
    void imageAdded(int index);
    void imageFailed(const QString& message);
    void modelReady(const vqa::ModelInfo& info);
    void modelLoadFailed(const QString& message);
    void tokenReceived(int index);
    void answerFinished();
    void heatmapUpdated();  // a regrid or a relevancy map arrived (or failed)

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;
    void changeEvent(QEvent* event) override;

private:
    struct Session {
        LoadedImage image;
        std::vector<ChatMessage> messages;
        int pinned_message = -1;  // pinned heatmap: a word's token, or a whole answer
        int pinned_token = -1;
        bool pinned_whole = false;
    };

    Session* current() const;
    void buildUi();
    void buildMenus();
    void connectEngine();
    void onImageLoaded(const LoadedImage& image);
    void submitCurrent();
    void prepareCurrentImage();
    void updateActions();
    void updateRightPanel();
    void updateOverlay();
    void updateModelLabels();
    void updateMemory();
    void connectDownloads();
    void updateWelcomeCache();
    void rebuildRecentMenu();
    void addRecentImage(const QString& path);
    void showError(const QString& title, const QString& message);
    void setStatus(const QString& text);
    void setPerformance(const QString& text);
    void onTokenHovered(int message, int token);
    void onHoverLeft();
    void onRegridded(quint64 ticket, const std::vector<std::vector<HeatmapGrid>>& per_token);
    void onRelevancy(quint64 ticket, const std::vector<int>& indices,
                     const std::vector<std::vector<HeatmapGrid>>& per_index);
    void onExplainFailed(quint64 ticket, const QString& message);
    void forgetEngineAnswer(Session* s);
    ExplainParams explainParams() const;
    std::vector<ExportedHeatmap> heatmapsForExport() const;
    ConversationExport exportData() const;

    EngineThread* engine_;
    ImageLoader* loader_;
    QNetworkAccessManager* network_ = nullptr;  // made on the first web address dropped
    ModelDownloads* downloads_;
    ModelManagerDialog* manager_ = nullptr;
    AppSettings settings_;

    std::vector<std::shared_ptr<Session>> sessions_;
    int current_ = -1;
    std::shared_ptr<Session> generating_;  // the session the streaming answer belongs to
    QElapsedTimer generation_clock_;
    double first_token_ms_ = -1;
    double last_token_ms_ = -1;
    int streamed_tokens_ = 0;
    int hover_message_ = -1, hover_token_ = -1;

    // The answer whose attention the engine keeps (the last one it generated): layer and
    // head changes re-reduce it there.
    std::weak_ptr<Session> engine_answer_session_;
    int engine_answer_message_ = -1;
    bool regrid_after_answer_ = false;
    struct PendingExplain {
        std::weak_ptr<Session> session;
        int message = -1;
        int tokens = 0;  // regrid: the answer's token count; relevancy: the first token asked
        bool relevancy = false;
    };
    std::map<quint64, PendingExplain> pending_explain_;
    quint64 next_ticket_ = 0;

    std::optional<ModelInfo> model_;
    bool loading_model_ = false;
    QString loading_dir_;
    bool closing_ = false;

    // Widgets.
    ImageCanvas* canvas_;
    ExplainBar* explain_;
    ColorLegend* legend_;
    QLabel* zoom_label_;
    QWidget* view_row_;
    QListWidget* thumbnails_;
    QStackedWidget* right_stack_;
    WelcomePage* welcome_;
    QLabel* chat_header_;
    ChatView* chat_;
    QuestionEdit* question_;
    QPushButton* send_;
    QPushButton* describe_button_;
    QPushButton* regenerate_button_;
    QPushButton* new_button_;
    QPushButton* copy_button_;
    QLabel* status_;
    QProgressBar* progress_;
    QLabel* perf_label_;
    QLabel* device_label_;
    QLabel* memory_label_;
    QTimer memory_timer_;
    QTimer overlay_timer_;
    QMenu* recent_menu_ = nullptr;

    // Actions that depend on state.
    QAction* describe_action_ = nullptr;
    QAction* stop_action_ = nullptr;
    QAction* regenerate_action_ = nullptr;
    QAction* new_action_ = nullptr;
    QAction* copy_action_ = nullptr;
    QAction* overlay_action_ = nullptr;
    QAction* whole_action_ = nullptr;
    QAction* save_overlay_action_ = nullptr;
    QAction* export_md_action_ = nullptr;
    QAction* export_json_action_ = nullptr;
    QAction* model_info_action_ = nullptr;
    QAction* close_image_action_ = nullptr;
};

}  // namespace vqa::ui
