// The window's conversations kept in the library, and the library panel's requests: each
// answer, once it ends, is written with its question (a regenerated answer replaces the one
// before), with the pictures each question brought; a new conversation starts a new entry; a
// conversation picked in the panel is reopened on its pictures (each question's images and
// videos back in it, a picture whose file is gone shown as missing), to be read and continued
// (the engine's cache is rebuilt from the text at the next question). Owns the LibraryStore; no
// widgets of its own.
#pragma once

#include <QObject>
#include <QString>

#include <optional>
#include <vector>

#include "ui/ImageLoader.h"
#include "ui/LibraryTypes.h"

namespace vqa::ui {

class ConversationController;
class ImageSet;
class LibraryPanel;
class LibraryPictures;
class LibraryStore;
class ModelController;
struct ImageSession;

class LibraryController : public QObject {
    Q_OBJECT
public:
    // `library_path` empty: the user's library.
    LibraryController(ImageSet* images, ConversationController* conversation, ModelController* model,
                      LibraryPanel* panel, const QString& library_path = {}, QObject* parent = nullptr);

    LibraryStore* store() const { return store_; }
    // Reopens a kept conversation on its pictures (asynchronous: reopened follows, or status).
    void reopen(qint64 conversation_id);
    // What the library last had to say (a damaged file set aside, a write that failed).
    QString lastProblem() const { return last_problem_; }

signals:
    void reopened(int image_index);
    void status(const QString& text);

private:
    void record(ImageSession* session);
    void restore(qint64 id, const QString& image_path, const std::vector<library::Message>& messages);
    void picturesLoaded(quint64 request, const std::vector<LoadedImage>& pictures);

    ImageSet* images_;
    ConversationController* conversation_;
    ModelController* model_;
    LibraryPanel* panel_;
    LibraryStore* store_;
    LibraryPictures* pictures_;
    // A conversation waiting for its pictures to be decoded (the latest asked for).
    struct Pending {
        quint64 request = 0;
        qint64 id = 0;
        std::vector<library::Message> messages;
        std::vector<int> kept;  // the pictures' kept places (PictureRecord::picture), in order
    };
    std::optional<Pending> pending_;
    quint64 next_request_ = 0;
    QString last_problem_;
};

}  // namespace vqa::ui
