// The window's conversations kept in the library, and the library panel's requests: each
// answer, once it ends, is written with its question (a regenerated answer replaces the one
// before); a new conversation starts a new entry; a conversation picked in the panel is
// reopened on its image, to be read and continued (the engine's cache is rebuilt from the
// text at the next question). Owns the LibraryStore; no widgets of its own.
#pragma once

#include <QObject>
#include <QString>

#include <optional>
#include <vector>

#include "ui/LibraryTypes.h"

namespace vqa::ui {

class ConversationController;
class ImageSet;
class LibraryPanel;
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
    // Reopens a kept conversation on its image (asynchronous: reopened follows, or status).
    void reopen(qint64 conversation_id);
    // What the library last had to say (a damaged file set aside, a write that failed).
    QString lastProblem() const { return last_problem_; }

signals:
    void reopened(int image_index);
    void status(const QString& text);

private:
    void record(ImageSession* session);
    void restore(qint64 id, const QString& image_path, const std::vector<library::Message>& messages);
    void imageAdded(int index);

    ImageSet* images_;
    ConversationController* conversation_;
    ModelController* model_;
    LibraryPanel* panel_;
    LibraryStore* store_;
    // A conversation waiting for its image to open.
    struct Pending {
        qint64 id = 0;
        QString path;
        std::vector<library::Message> messages;
    };
    std::optional<Pending> pending_;
    QString last_problem_;
};

}  // namespace vqa::ui
