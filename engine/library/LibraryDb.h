// The library: what a person keeps of their work with VQA Studio, in one SQLite database in
// their data folder. Images (by path, with size, modification time and content hash), the
// captions made for them (one per image, model and prompt), conversations and their messages,
// a full-text index (FTS5) over captions and messages, the pictures each question brought (since
// schema 4), and (through EmbeddingStore) the image search's vectors.
//
// Durability: the database runs in WAL mode with full synchronization, and every change is one
// transaction, so a crash at any instant (SIGKILL, power) loses at most the change in progress.
// Several processes may write at once (the window and `vqa caption`): writers take the lock
// up front (BEGIN IMMEDIATE) and wait for each other up to a timeout.
//
// Schema versions live in PRAGMA user_version and are migrated forward on open, one step at a
// time, each in its own transaction. A file that is not a database, or fails SQLite's
// integrity check, is renamed aside ("<name>.corrupt-<time>") and a new one created; the
// notice says so, and nothing crashes.
//
// Torch-free: the window and the CLI include it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace vqa::library {

// <XDG_DATA_HOME or ~/.local/share>/vqa-studio/library.db
std::string defaultLibraryPath();

struct ImageRecord {
    std::int64_t id = 0;
    std::string path;  // absolute, normalized
    std::int64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::string sha256;
    int width = 0;
    int height = 0;
};

struct CaptionRecord {
    std::int64_t image_id = 0;
    std::string image_path;
    std::string model;
    std::string prompt;
    std::string text;
    std::int64_t created_at = 0;  // unix seconds
};

// A picture a question brought into its conversation (schema 4): an image or a video, in the
// order they go before the question's text.
struct PictureRecord {
    int picture = 0;   // its place among the conversation's pictures (0: the main image)
    std::string path;  // absolute; for pasted or dropped pixels, the library's copy of them
    bool video = false;
    std::string key;   // the content key the window knows it by
    std::string name;
};

struct Message {
    std::string role;  // "user" or "assistant"
    std::string text;
    // A question's pictures. Empty for answers, for questions that brought none, and for
    // everything kept before schema 4 (a conversation about its main image alone).
    std::vector<PictureRecord> pictures = {};
};

struct ConversationRecord {
    std::int64_t id = 0;
    std::int64_t image_id = 0;  // 0: about no image
    std::string image_path;
    std::string title;
    std::string model;
    std::int64_t created_at = 0;
    std::int64_t updated_at = 0;
};

struct SearchHit {
    std::string kind;  // "caption" or "message"
    std::int64_t image_id = 0;
    std::string image_path;
    std::int64_t conversation_id = 0;  // for "message"
    std::string snippet;  // the matching text, the match in [brackets]
};

class LibraryDb {
  public:
    // Opens (creating folders and file as needed) and migrates. Throws vqa::Error when the
    // file cannot be opened or created at all; a corrupt file is set aside instead (notice()).
    explicit LibraryDb(const std::string& path);
    ~LibraryDb();
    LibraryDb(const LibraryDb&) = delete;
    LibraryDb& operator=(const LibraryDb&) = delete;

    static constexpr int kSchemaVersion = 4;
    const std::string& path() const { return path_; }
    // Non-empty when opening had something to tell: a corrupt file set aside, a migration.
    const std::string& notice() const { return notice_; }

    // Adds the image or brings its record up to date. A file whose content changed (another
    // hash) loses the captions and the search vectors made for the old content.
    ImageRecord upsertImage(const ImageRecord& image);
    std::optional<ImageRecord> image(const std::string& path);

    std::optional<CaptionRecord> caption(std::int64_t image_id, const std::string& model, const std::string& prompt);
    // A caption already made for the same content (another path with this hash).
    std::optional<CaptionRecord> captionByContent(const std::string& sha256, const std::string& model,
                                                  const std::string& prompt);
    // Replaces any caption for the same image, model and prompt.
    void putCaption(std::int64_t image_id, const std::string& model, const std::string& prompt, const std::string& text);
    std::vector<CaptionRecord> captions(const std::string& model, const std::string& prompt);
    std::vector<CaptionRecord> captionsOf(std::int64_t image_id);

    // A new conversation, with its first messages (and their pictures) in the same transaction:
    // a crash or a refused picture leaves either all of it or nothing, never an empty one.
    std::int64_t addConversation(std::int64_t image_id, const std::string& title, const std::string& model,
                                 const std::vector<Message>& messages = {});
    // Appends one message (its position is the next one) with its pictures and touches the
    // conversation.
    void addMessage(std::int64_t conversation_id, const Message& message);
    // Replaces the messages (and their pictures) from position `first` on with `messages`, in
    // one transaction: a turn appended (first = the count so far), or an answer regenerated
    // (first = where the question was).
    void replaceMessagesFrom(std::int64_t conversation_id, int first, const std::vector<Message>& messages);
    std::vector<Message> messages(std::int64_t conversation_id);
    std::optional<ConversationRecord> conversation(std::int64_t conversation_id);
    // Most recently updated first.
    std::vector<ConversationRecord> conversations();
    void renameConversation(std::int64_t conversation_id, const std::string& title);
    void deleteConversation(std::int64_t conversation_id);  // with its messages and their pictures

    // Captions and messages matching every word of `query` (the last as a prefix), best first.
    // Any text is a valid query: FTS5 syntax in it is taken literally.
    std::vector<SearchHit> search(const std::string& query, int limit = 50);

    // For tests: a database at an older schema version, as that version created it.
    static void createAtVersion(const std::string& path, int version);

  private:
    friend class EmbeddingStore;  // the image index's tables, over this connection
    void open();
    void migrate();
    sqlite3* db_ = nullptr;
    std::string path_;
    std::string notice_;
};

} // namespace vqa::library
