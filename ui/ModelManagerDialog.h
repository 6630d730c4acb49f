// Model ▸ Models…: the models this build knows work (size, licence, what each is good for),
// the models already in the Hugging Face cache, downloads with progress, pause, resume and
// cancel, and loading. The downloads themselves run in ModelDownloads (a thread of their own).
#pragma once

#include <QDialog>

class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTreeWidget;
class QTreeWidgetItem;

namespace vqa::ui {

class ModelDownloads;

class ModelManagerDialog : public QDialog {
    Q_OBJECT
public:
    ModelManagerDialog(ModelDownloads* downloads, QWidget* parent = nullptr);

    // Lists the known and the cached models again (after a download, say).
    void refresh();
    // Selects the row of `repo_id` (false when it is not listed).
    bool select(const QString& repo_id);
    QString selectedRepo() const;

    QTreeWidget* list() const { return list_; }
    QPushButton* downloadButton() const { return download_; }
    QPushButton* pauseButton() const { return pause_; }
    QPushButton* cancelButton() const { return cancel_; }
    QPushButton* loadButton() const { return load_; }
    QLineEdit* otherRepoEdit() const { return other_; }
    QPushButton* otherDownloadButton() const { return other_download_; }
    QLabel* messageLabel() const { return message_; }
    QProgressBar* progressBar() const { return progress_; }

signals:
    void loadRequested(const QString& model_dir);

private:
    void updateButtons();
    void updateDetails();
    void onProgress();
    void onFailed(const QString& repo, const QString& message, bool offline);
    void showMessage(const QString& text, bool error);
    QString snapshotOf(const QString& repo) const;

    ModelDownloads* downloads_;
    QTreeWidget* list_;
    QLabel* details_;
    QLabel* message_;
    QProgressBar* progress_;
    QPushButton* download_;
    QPushButton* pause_;
    QPushButton* cancel_;
    QPushButton* load_;
    QLineEdit* other_;
    QPushButton* other_download_;
};

}  // namespace vqa::ui
