// The open images: each with its own conversation (an ImageSession), the one on screen, and
// the ways one arrives (a file, dropped or pasted data, a web address), decoded off the GUI
// thread by ImageLoader. Also the list of recently opened files. No widgets: the window
// shows what it reports (inserted, removed, currentChanged).
#pragma once

#include <QObject>
#include <QString>
#include <QStringList>
#include <QUrl>

#include <map>
#include <memory>
#include <optional>
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
    LoadedImage image;  // picture 0
    // The conversation's other pictures (images and videos), pictures 1, 2, ... in the order
    // they came; each goes into the request with the user message that added it
    // (ChatMessage::pictures).
    std::vector<LoadedImage> attachments;
    // Pictures that go with the next question (a new session: all of them; an added file: it).
    std::vector<int> unsent = {0};
    // The picture the user chose to see (a click on its thumbnail or the video's timeline);
    // when none was chosen, the explanation shows the one the word looked at most.
    int chosen = 0;
    int chosen_frame = -1;  // of a video: the place among the frames the model saw; -1: any
    bool chosen_by_user = false;
    std::vector<ChatMessage> messages;
    HeatmapPin pin;
    // Which conversation of the library these messages are kept as (LibraryController);
    // 0 until the first answer is kept, and again after a new conversation starts.
    quint64 library_token = 0;

    int pictureCount() const { return 1 + int(attachments.size()); }
    const LoadedImage& picture(int index) const {
        return index <= 0 || index > int(attachments.size()) ? image : attachments[size_t(index - 1)];
    }
    int imageCount() const;  // pictures that are images
    int videoCount() const;
    // The unsent pictures as a user message records them.
    std::vector<MessagePicture> unsentPictures() const;
    // Those of them the next question brings: the unsent pictures not yet in the conversation.
    std::vector<MessagePicture> nextPictures() const;
    // The first picture whose file could not be read back (LoadedImage::missing), or null.
    const LoadedImage* missingPicture() const;
};

class ImageSet : public QObject {
    Q_OBJECT
public:
    static constexpr int kMaxRecent = 10;
    // What the engine takes in one request (every request carries all the conversation's
    // pictures).
    static constexpr int kMaxImages = 16;
    static constexpr int kMaxVideos = 4;

    explicit ImageSet(QObject* parent = nullptr);

    // Loading is asynchronous: added or failed follows.
    void open(const QString& path);
    void add(const QImage& image, const QString& name);
    bool openFromMime(const QMimeData* mime);  // a drop or a paste; several files: one conversation
    // Several files as one conversation holding them all (the first is its main picture).
    void openMany(const QStringList& paths);
    // Files (or dropped data) added to the current conversation: they go with the next question.
    // Without a current conversation they open one. False (saying why) when nothing is there.
    void addToCurrent(const QStringList& paths);
    bool addFromMime(const QMimeData* mime);
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
    // A session made elsewhere (a conversation reopened from the library) joins the set and
    // becomes the current one; added follows. Returns its index.
    int insert(const std::shared_ptr<ImageSession>& session);

    QStringList recent() const;  // most recent first, absolute paths
    void clearRecent();
    QString lastDir() const;  // the folder of the last image opened from a file

signals:
    void inserted(int index);        // a new image, before it becomes the current one
    void removed(int index);         // before the current image changes
    void currentChanged(int index);  // -1: no image left
    void added(int index);           // an image finished loading (new, or the same pixels again)
    // Pictures were added to the session at `index` (the conversation's, not a new image).
    void picturesAdded(int index);
    void failed(const QString& message);
    void status(const QString& text);
    void error(const QString& title, const QString& message);

private:
    void onLoaded(const LoadedImage& image);
    void addRecent(const QString& path);
    // A group of sources loaded together: into a new session (target null) or added to one.
    void loadGroup(std::vector<ImageSource> sources, const std::shared_ptr<ImageSession>& target);
    void groupItemDone(quint64 group, int slot, std::optional<LoadedImage> image, const QString& error);
    void finishGroup(quint64 group);
    void insertSession(const std::shared_ptr<ImageSession>& session);

    struct Group {
        bool add = false;  // to `target`, not a new session
        std::weak_ptr<ImageSession> target;
        std::vector<std::optional<LoadedImage>> items;
        QStringList errors;
        int left = 0;
    };
    std::map<quint64, Group> groups_;
    quint64 next_group_ = 0;

    ImageLoader* loader_;
    QNetworkAccessManager* network_ = nullptr;  // made on the first web address dropped
    std::vector<std::shared_ptr<ImageSession>> sessions_;
    int current_ = -1;
};

}  // namespace vqa::ui
