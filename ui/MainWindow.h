// The main window: the image canvas (with heatmap controls and a thumbnail strip) beside the
// chat panel, menus, and a status bar. It builds and arranges the widgets and connects them
// to the controllers that own the state (docs/ARCHITECTURE.md, "The window"): ImageSet (the
// open images and their conversations), ModelController, ConversationController (asking and
// the streaming answer), ExplanationController (which heatmap is shown, regrid, relevancy)
// and Exporter. The engine runs on its own thread (EngineThread); nothing heavy runs here.
#pragma once

#include <QMainWindow>

#include "ui/Settings.h"

class QLabel;
class QListWidget;
class QMenu;
class QProgressBar;
class QPushButton;
class QStackedWidget;

namespace vqa {
class EngineThread;
}

namespace vqa::ui {

class ChatView;
class ColorLegend;
class ConversationController;
class ExplainBar;
class ExplanationController;
class Exporter;
class ImageCanvas;
class ImageSet;
class ModelController;
class ModelDownloads;
class ModelManagerDialog;
class QuestionEdit;
class WelcomePage;
struct HeatmapView;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // What the program's start asks for.
    void openImage(const QString& path);  // asynchronous: images()->added or failed follows
    // Paths another start of the program handed over (SingleInstance): opens them and
    // brings the window forward.
    void openImagesFromElsewhere(const QStringList& paths);
    void loadModel(const QString& model_dir);  // refused (status) while an answer streams
    void loadLastModel();  // the folder remembered from the last successful load, if any

    // The controllers that own the state.
    ImageSet* images() const { return images_; }
    ModelController* model() const { return model_; }
    ConversationController* conversation() const { return conversation_; }
    ExplanationController* explanation() const { return explanation_; }
    Exporter* exporter() const { return exporter_; }
    // Downloads from the Hub (the first-run button and the model manager share them); a
    // finished download loads its model.
    ModelDownloads* downloads() const { return downloads_; }
    // Model ▸ Models…: shows the model manager (non-modal; one at a time).
    ModelManagerDialog* showModelManager();

    void closeImage(int index);  // refused (status) while its answer streams
    void copyLastAnswer();  // the chat's selection, else the last answer

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
    QString heatmapCaption() const;

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;
    void changeEvent(QEvent* event) override;

private:
    void buildUi();
    void buildMenus();
    void connectControllers();
    void connectDownloads();
    void pushRequestParams();
    void showCurrentImage(int index);
    void showHeatmapView(const HeatmapView& view);
    void showProgress(const QString& format, double fraction = -1);
    void updateActions();
    void updateRightPanel();
    void updateModelLabels();
    void updateWelcomeCache();
    void rebuildRecentMenu();
    void showError(const QString& title, const QString& message);
    void setStatus(const QString& text);
    void setPerformance(const QString& text);
    void closeIfClosing();

    EngineThread* engine_;
    ImageSet* images_;
    ModelController* model_;
    ConversationController* conversation_;
    ExplanationController* explanation_;
    Exporter* exporter_;
    ModelDownloads* downloads_;
    ModelManagerDialog* manager_ = nullptr;
    AppSettings settings_;
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
    QMenu* recent_menu_ = nullptr;

    // Actions that depend on state.
    QAction* describe_action_ = nullptr;
    QAction* stop_action_ = nullptr;
    QAction* regenerate_action_ = nullptr;
    QAction* new_action_ = nullptr;
    QAction* copy_action_ = nullptr;
    QAction* overlay_action_ = nullptr;
    QAction* export_md_action_ = nullptr;
    QAction* export_json_action_ = nullptr;
    QAction* model_info_action_ = nullptr;
    QAction* close_image_action_ = nullptr;
};

}  // namespace vqa::ui
