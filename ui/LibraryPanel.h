// The library beside the image (View ▸ Library): every kept conversation grouped under its
// image with a thumbnail, most recent first, and a search box over captions and
// conversations whose results show the matching images. Double-click (or Enter) reopens a
// conversation; its context menu renames or deletes it. Shows what LibraryStore reports;
// thumbnails are decoded off the GUI thread.
#pragma once

#include <QHash>
#include <QThreadPool>
#include <QWidget>

#include <atomic>
#include <vector>

#include "ui/LibraryTypes.h"

class QLabel;
class QLineEdit;
class QTimer;
class QTreeWidget;
class QTreeWidgetItem;

namespace vqa::ui {

class LibraryPanel : public QWidget {
    Q_OBJECT
public:
    explicit LibraryPanel(QWidget* parent = nullptr);
    ~LibraryPanel() override;

    QTreeWidget* tree() const { return tree_; }
    QLineEdit* searchBox() const { return search_; }
    QString emptyText() const;
    // Conversations listed (history) or results shown (search).
    int rowCount() const;

public slots:
    void showHistory(const std::vector<vqa::library::ConversationRecord>& conversations);
    void showResults(const QString& text, const std::vector<vqa::library::SearchHit>& hits);

signals:
    void searchRequested(const QString& text);  // "" : back to the history
    void openRequested(qint64 conversation_id);
    void openImageRequested(const QString& path);  // a caption's image
    void renameRequested(qint64 conversation_id, const QString& title);
    void deleteRequested(qint64 conversation_id);

private:
    void activate(QTreeWidgetItem* item);
    void contextMenu(const QPoint& pos);
    QTreeWidgetItem* imageItem(const QString& path);
    void loadThumbnails();

    QLineEdit* search_;
    QTreeWidget* tree_;
    QLabel* empty_;
    QTimer* debounce_;
    QThreadPool pool_;
    std::atomic<unsigned> generation_{0};  // thumbnails of an older listing are dropped
    QHash<QString, QTreeWidgetItem*> images_;
    bool searching_ = false;
};

}  // namespace vqa::ui
