// The window's side of the library (engine/library/LibraryDb): every conversation kept as it
// goes, the history read back, searched, renamed, deleted. The database is only ever touched
// on one background thread, in the order the calls were made; answers come back as signals
// on the GUI thread. A write that fails says so (problem) and loses nothing already kept.
#pragma once

#include <QHash>
#include <QImage>
#include <QObject>
#include <QString>
#include <QThreadPool>

#include <memory>
#include <vector>

#include "ui/LibraryTypes.h"

namespace vqa::ui {

// A picture of a conversation (its main image, or one a question brought): its file, or
// (pasted or dropped data) its pixels, which the library keeps a copy of.
struct LibraryImage {
    QString path;  // empty: pasted or dropped
    QString key;   // content hash
    QString name;
    QImage pixels;  // used when there is no path
    bool video = false;
    int picture = 0;  // its place among the conversation's pictures (0: the main image)
};

// A message to keep: a question with the pictures it brought, or an answer.
struct LibraryMessage {
    std::string role;  // "user" or "assistant"
    std::string text;
    std::vector<LibraryImage> pictures = {};
};

class LibraryStore : public QObject {
    Q_OBJECT
public:
    // `path` empty: the user's library (library::defaultLibraryPath()).
    explicit LibraryStore(const QString& path = {}, QObject* parent = nullptr);
    ~LibraryStore() override;  // waits for the writes in flight

    QString path() const { return path_; }

    // A conversation to be: its first recordTurn creates it in the library.
    quint64 newConversation();
    // The conversation `token` continues the one kept as `conversation_id` (reopened).
    void adopt(quint64 token, qint64 conversation_id);
    // Keeps `messages` (with their pictures) as the conversation's messages from position
    // `first` on (a turn appended, or an answer regenerated), in one transaction.
    void recordTurn(quint64 token, const LibraryImage& image, const QString& model, int first,
                    const std::vector<LibraryMessage>& messages);

    void refreshHistory();                  // historyChanged follows
    void search(const QString& text);       // searched follows
    void loadConversation(qint64 id);       // conversationLoaded follows
    void rename(qint64 id, const QString& title);
    void remove(qint64 id);

    // Tests: returns once everything asked so far is done (its signals are still queued).
    void waitForIdle();

signals:
    void historyChanged(const std::vector<vqa::library::ConversationRecord>& conversations);
    void searched(const QString& text, const std::vector<vqa::library::SearchHit>& hits);
    // The messages come with their pictures (library::PictureRecord; a pasted one by the
    // library's copy of it).
    void conversationLoaded(qint64 id, const QString& image_path, const QString& title,
                            const std::vector<vqa::library::Message>& messages);
    void recorded(quint64 token, qint64 conversation_id);
    void problem(const QString& message);

private:
    // Runs `work` with the database on the library's thread; an exception becomes problem().
    void run(std::function<void(library::LibraryDb&)> work);
    // The picture's file: its own, or the library's copy of pasted pixels (written once).
    QString keptPath(const LibraryImage& image) const;
    library::ImageRecord imageRecord(library::LibraryDb& db, const LibraryImage& image);

    QString path_;
    QThreadPool pool_;
    quint64 next_token_ = 0;
    // On the library's thread only:
    std::unique_ptr<library::LibraryDb> db_;
    QHash<quint64, qint64> conversations_;  // token -> conversation id
};

}  // namespace vqa::ui
