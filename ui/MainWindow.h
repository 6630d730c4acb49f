// The main window: the image canvas beside the chat panel, menus and a status bar.
#pragma once

#include <QMainWindow>

class QLabel;
class QPlainTextEdit;
class QPushButton;
class QTextBrowser;

namespace vqa {
class EngineThread;
struct GenerationResult;
struct ModelInfo;
struct TokenEvent;
}  // namespace vqa

namespace vqa::ui {

class ImageCanvas;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    bool openImage(const QString& path);
    void setImage(const QImage& image, const QString& name);
    void loadModel(const QString& model_dir);

    ImageCanvas* canvas() const { return canvas_; }
    QTextBrowser* chatView() const { return chat_; }
    QPlainTextEdit* questionBox() const { return question_; }
    QString statusText() const;

private:
    void buildMenus();
    void showError(const QString& title, const QString& message);

    EngineThread* engine_;
    ImageCanvas* canvas_;
    QTextBrowser* chat_;
    QPlainTextEdit* question_;
    QPushButton* send_;
    QLabel* status_;
};

}  // namespace vqa::ui
