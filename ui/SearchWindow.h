// Tools ▸ Search Images…: find images by what is in them, with a dual encoder (CLIP, SigLIP).
// Choose the model folder, add folders and index them (a progress bar with the time left, and
// Stop, which keeps what was indexed), then describe what you look for: the results come as
// thumbnails, best first, with the score under each, and follow the text as it is typed (after
// a short pause, or at once with Enter). A result opens in the main window for questions
// (double-click, or Ask About This Image), or is the start of a search for similar images, as is
// an image file dropped on the window. Zero-shot labels score how well each of a few words
// describes the selected image. The model, the folders and the engine's work live in
// SearchController, on its own thread; thumbnails are decoded on a thread of this window's.
#pragma once

#include <QHash>
#include <QPixmap>
#include <QString>
#include <QStringList>
#include <QThreadPool>
#include <QWidget>

#include <atomic>
#include <memory>

#include "ui/SearchController.h"

class QLabel;
class QLineEdit;
class QListWidget;
class QListWidgetItem;
class QProgressBar;
class QPushButton;
class QTimer;

namespace vqa::ui {

class SearchWindow : public QWidget {
    Q_OBJECT
public:
    // `library_path` empty: the user's library.
    explicit SearchWindow(const QString& library_path = {}, QWidget* parent = nullptr);
    ~SearchWindow() override;

    SearchController* controller() const { return controller_; }

    // The form, for the tests and the main window.
    void setModelFolder(const QString& folder);  // loads it
    void addFolder(const QString& folder);        // to the list (remembered); not indexed yet
    QStringList folders() const;
    void setQuery(const QString& text);  // as typed: searches after the pause

    QString statusText() const;
    QString timeText() const;
    QStringList skippedFiles() const;  // "name: reason", after an indexing run
    QString labelText() const;
    QProgressBar* progressBar() const { return progress_; }
    QListWidget* resultList() const { return results_; }
    QStringList resultPaths() const;
    QList<float> resultScores() const;
    int thumbnailsShown() const { return thumbnails_shown_; }

public slots:
    void chooseModel();
    void chooseFolder();
    void removeSelectedFolder();
    void indexFolders();  // every folder of the list
    void stop();
    void searchNow();  // the query as it is
    void findSimilar(const QString& path);
    void findSimilarTo(std::shared_ptr<const vqa::RgbImage> image, const QString& name);
    void askAboutSelected();
    void findSimilarToSelected();
    void scoreLabels();

signals:
    void openImageRequested(const QString& path);
    // The results on screen changed (a search or a find-similar answered).
    void resultsShown(int count);

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void showModel();
    void showProgress(const IndexProgress& p);
    void showIndexed(const IndexSummary& s);
    void showResults(const QList<SearchResult>& results, const QString& what);
    void showError(const QString& message);
    void loadThumbnails();
    void setStatus(const QString& text);
    void updateButtons();
    void rememberFolders() const;
    QString selectedPath() const;

    SearchController* controller_;
    QThreadPool thumbs_pool_;  // thumbnails; waited for on destruction
    std::atomic<unsigned> results_ticket_{0};  // an older result set's thumbnails are dropped
    QHash<QString, QPixmap> thumbs_;            // decoded before: a new search shows them at once
    int thumbnails_shown_ = 0;

    QLabel* model_;
    QPushButton* choose_model_;
    QListWidget* folders_;
    QPushButton* add_folder_;
    QPushButton* remove_folder_;
    QPushButton* index_;
    QPushButton* stop_;
    QProgressBar* progress_;
    QLabel* time_;
    QLabel* skipped_label_;
    QListWidget* skipped_;
    QLineEdit* query_;
    QTimer* typing_;
    QListWidget* results_;
    QPushButton* ask_;
    QPushButton* similar_;
    QLineEdit* labels_;
    QPushButton* score_labels_;
    QLabel* label_scores_;
    QLabel* status_;
};

}  // namespace vqa::ui
