// The open images: each with its own conversation (an ImageSession), the one on screen, and
// the ways one arrives (a file, dropped or pasted data, a web address), decoded off the GUI
// thread by ImageLoader. Also the list of recently opened files. No widgets: the window
// shows what it reports (inserted, removed, currentChanged).
#pragma once

#include <QObject>
#include <QString>
#include <QStringList>
#include <QUrl>

#include <memory>
#include <vector>

#include "ui/ChatMessage.h"
#include "ui/ImageLoader.h"

class QImage;
class QMimeData;
class QNetworkAccessManager;

namespace vqa::ui {

// The heatmap pinned over an image: a word's token, or a whole answer (message >= 0).
// Written by the ExplanationController only.
struct HeatmapPin {
    int message = -1;
    int token = -1;
    bool whole = false;
    bool occlusion_map = false;  // the answer's occlusion map (ChatMessage::occlusion_map)
};

// One open image and what was said about it. The ImageSet owns the sessions; the
// ConversationController writes the messages, the ExplanationController the maps it
// computes later (regrid, relevancy) and the pin.
struct ImageSession {
    LoadedImage image;
    std::vector<ChatMessage> messages;
    HeatmapPin pin;
    // Which conversation of the library these messages are kept as (LibraryController);
    // 0 until the first answer is kept, and again after a new conversation starts.
    quint64 library_token = 0;
};

class ImageSet : public QObject {
    Q_OBJECT
public:
    static constexpr int kMaxRecent = 10;

    explicit ImageSet(QObject* parent = nullptr);

    // Loading is asynchronous: added or failed follows.
    void open(const QString& path);
    void add(const QImage& image, const QString& name);
    bool openFromMime(const QMimeData* mime);  // a drop or a paste
    void fetch(const QUrl& url);               // an image's web address dropped from a browser
    void paste();                              // the clipboard's image
    int pending() const { return loader_->pending(); }

    int count() const { return int(sessions_.size()); }
    int currentIndex() const { return current_; }
    std::shared_ptr<ImageSession> current() const { return at(current_); }
    std::shared_ptr<ImageSession> at(int index) const;
    std::shared_ptr<ImageSession> find(const ImageSession* session) const;  // null if closed
    void setCurrent(int index);
    void close(int index);

    QStringList recent() const;  // most recent first, absolute paths
    void clearRecent();
    QString lastDir() const;  // the folder of the last image opened from a file

signals:
    void inserted(int index);        // a new image, before it becomes the current one
    void removed(int index);         // before the current image changes
    void currentChanged(int index);  // -1: no image left
    void added(int index);           // an image finished loading (new, or the same pixels again)
    void failed(const QString& message);
    void status(const QString& text);
    void error(const QString& title, const QString& message);

private:
    void onLoaded(const LoadedImage& image);
    void addRecent(const QString& path);

    ImageLoader* loader_;
    QNetworkAccessManager* network_ = nullptr;  // made on the first web address dropped
    std::vector<std::shared_ptr<ImageSession>> sessions_;
    int current_ = -1;
};

}  // namespace vqa::ui
