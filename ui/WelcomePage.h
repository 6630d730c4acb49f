// First-run screen, shown in place of the chat while no model is loaded: what a model is,
// and two ways to one: download the recommended model (with progress, pause and cancel),
// or open a model folder.
#pragma once

#include <QWidget>

class QLabel;
class QProgressBar;
class QPushButton;

namespace vqa::ui {

class WelcomePage : public QWidget {
    Q_OBJECT
public:
    explicit WelcomePage(QWidget* parent = nullptr);
    void setLastModel(const QString& dir);  // offers "Load it again" when not empty
    void setLoading(bool loading, const QString& what = {});
    // The recommended model's folder when it is already in the Hub cache: the download
    // button then loads it instead.
    void setRecommendedCached(const QString& snapshot_dir);
    // Download state shown under the buttons; fraction < 0: unknown.
    void setDownloadProgress(double fraction, const QString& text);
    void setDownloadState(bool running, bool paused);
    void setDownloadMessage(const QString& text, bool error);
    void hideDownload();
    QString downloadMessage() const;

    QPushButton* openButton() const { return open_; }
    QPushButton* downloadButton() const { return download_; }
    QPushButton* pauseButton() const { return pause_; }
    QPushButton* cancelButton() const { return cancel_; }
    QPushButton* managerButton() const { return manager_; }
    QProgressBar* downloadProgress() const { return progress_; }

signals:
    void openModelRequested();
    void reloadRequested(const QString& dir);
    void downloadRequested(const QString& repo_id);
    void pauseRequested();
    void resumeRequested();
    void cancelRequested();
    void managerRequested();

private:
    QLabel* text_;
    QPushButton* open_;
    QPushButton* reload_;
    QPushButton* download_;
    QPushButton* manager_;
    QWidget* download_box_;
    QProgressBar* progress_;
    QLabel* download_text_;
    QPushButton* pause_;
    QPushButton* cancel_;
    QString last_model_;
    QString recommended_repo_;
    QString recommended_cached_;
    bool paused_ = false;
};

}  // namespace vqa::ui
