// File ▸ Caption a Folder… (or a folder dropped on the window): the images of one or more
// folders in a gallery, captioned in the background with the loaded model and a prompt the
// user picks (presets, or their own with {name} and {folder}), each caption kept in the
// library as it is made. A progress bar with the time left; pause, resume and cancel; a run
// started again continues where the last one stopped. The captions can be exported as a .txt
// beside each image (existing ones kept unless asked), JSONL or CSV. The prompt, start and
// avoided words of the last run are remembered. A folder's images that
// the library has captions for show them at once, before any run. Listing folders, thumbnails and
// exports run off the GUI thread; the captions come from the engine's worker, one image per
// turn of its queue, so a question in the main window is answered between two images.
#pragma once

#include <QHash>
#include <QString>
#include <QStringList>
#include <QThreadPool>
#include <QWidget>

#include <atomic>
#include <functional>

#include "engine/library/FolderCaptioner.h"
#include "engine/library/LibraryDb.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QListWidgetItem;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QToolButton;

namespace vqa {
class EngineWorker;
}

namespace vqa::ui {

class CaptionFolderWindow : public QWidget {
    Q_OBJECT
public:
    explicit CaptionFolderWindow(EngineWorker* worker, QWidget* parent = nullptr);
    ~CaptionFolderWindow() override;

    // The folders (and files) to caption; lists their images in the background (listed()).
    void setInputs(const QStringList& paths);
    void setLibraryPath(const QString& path);  // default: the user's library
    void setPrompt(const QString& prompt);
    void setMaxNewTokens(int tokens);
    // Words no caption may contain (comma-separated), enforced while sampling.
    void setAvoidedWords(const QString& words);
    // The text every caption starts with; the model goes on from it.
    void setCaptionStart(const QString& text);

    QStringList images() const { return images_; }
    QString prompt() const;
    bool running() const { return running_; }
    bool paused() const { return paused_; }
    QString caption(const QString& image) const { return captions_.value(image); }
    QString statusText() const;
    QString timeText() const;
    QProgressBar* progressBar() const { return progress_; }
    QListWidget* gallery() const { return gallery_; }
    int thumbnailsShown() const { return thumbnails_shown_; }

public slots:
    void start();
    void setPaused(bool paused);
    void cancel();
    // Exports; each runs in the background and says what it did in the status line.
    // A .txt beside each image; one that exists with other text is kept unless `overwrite`.
    void exportSidecars(bool overwrite = false);
    void exportJsonl(const QString& path);
    void exportCsv(const QString& path);

signals:
    void listed(int images);
    void itemDone(const vqa::library::CaptionItem& item);
    void pausedAt(int done);
    void runFinished(const vqa::library::CaptionSummary& summary, const QString& error);
    void exported(const QString& message);
    void openImageRequested(const QString& path);

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void showListed(const QStringList& images, const QHash<QString, QString>& kept, const QString& error);
    void showItem(const vqa::library::CaptionItem& item);
    void markCaptioned(const QString& path, const QString& text);
    void showProgress(const vqa::library::CaptionProgress& progress);
    void showFinished(const vqa::library::CaptionSummary& summary, const QString& error);
    void showSelected();
    void loadThumbnails();
    void setStatus(const QString& text);
    void updateButtons();
    std::vector<vqa::library::CaptionRecord> captionRecords() const;
    void runExport(const QString& what, std::function<QString()> work);

    EngineWorker* worker_;
    QThreadPool pool_;  // listing, thumbnails and exports; waited for on destruction
    QStringList inputs_;
    QStringList images_;
    QHash<QString, QListWidgetItem*> items_;
    QHash<QString, QString> captions_;
    QString library_path_;
    int max_new_tokens_ = 64;
    bool running_ = false;
    bool paused_ = false;
    int thumbnails_shown_ = 0;
    // The latest listing's number: an older listing's answer, and its thumbnails, are dropped.
    std::atomic<unsigned> listing_{0};

    QLabel* folders_;
    QCheckBox* recursive_;
    QComboBox* preset_;
    QLineEdit* prompt_;
    QLineEdit* avoid_;
    QLineEdit* start_with_;
    QListWidget* gallery_;
    QPlainTextEdit* selected_;
    QProgressBar* progress_;
    QLabel* time_;
    QLabel* status_;
    QPushButton* start_;
    QPushButton* pause_;
    QPushButton* cancel_;
    QToolButton* export_;
};

}  // namespace vqa::ui
