#include "engine/library/LibraryDb.h"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <sstream>
#include <utility>

#include <sqlite3.h>

#include "engine/library/Sqlite.h"
#include "models/base/Error.h"

namespace vqa::library {
namespace fs = std::filesystem;
using sql::exec;
using sql::kImageColumns;
using sql::now;
using sql::readImage;
using sql::Statement;
using sql::WriteTransaction;

std::string defaultLibraryPath() {
    const char* data = std::getenv("XDG_DATA_HOME");
    fs::path base;
    if (data && *data) {
        base = data;
    } else {
        const char* home = std::getenv("HOME");
        base = fs::path(home && *home ? home : ".") / ".local" / "share";
    }
    return (base / "vqa-studio" / "library.db").string();
}

namespace {

// The schema, one step per version: step i takes a database from version i to i + 1.
// Never edit a step that has shipped; add one.
const char* const kMigrations[] = {
    // 1: images and their captions.
    R"sql(
    CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        width INTEGER NOT NULL DEFAULT 0,
        height INTEGER NOT NULL DEFAULT 0,
        added_at INTEGER NOT NULL);
    CREATE INDEX images_by_content ON images(sha256);
    CREATE TABLE captions (
        id INTEGER PRIMARY KEY,
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        prompt TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (image_id, model, prompt));
    )sql",
    // 2: conversations, and full-text search over captions and messages.
    R"sql(
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        image_id INTEGER REFERENCES images(id) ON DELETE SET NULL,
        title TEXT NOT NULL,
        model TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (conversation_id, seq));
    CREATE VIRTUAL TABLE search USING fts5(
        text, kind UNINDEXED, ref UNINDEXED, tokenize = 'unicode61 remove_diacritics 2');
    CREATE TRIGGER captions_ai AFTER INSERT ON captions BEGIN
        INSERT INTO search (text, kind, ref) VALUES (new.text, 'caption', new.id); END;
    CREATE TRIGGER captions_ad AFTER DELETE ON captions BEGIN
        DELETE FROM search WHERE kind = 'caption' AND ref = old.id; END;
    CREATE TRIGGER captions_au AFTER UPDATE OF text ON captions BEGIN
        DELETE FROM search WHERE kind = 'caption' AND ref = old.id;
        INSERT INTO search (text, kind, ref) VALUES (new.text, 'caption', new.id); END;
    CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
        INSERT INTO search (text, kind, ref) VALUES (new.text, 'message', new.id); END;
    CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
        DELETE FROM search WHERE kind = 'message' AND ref = old.id; END;
    INSERT INTO search (text, kind, ref) SELECT text, 'caption', id FROM captions;
    )sql",
    // 3: image search (engine/retrieval/ImageIndex, through EmbeddingStore). An image's vector
    // per dual-encoder model (float32, little-endian, `dim` of them); a per-model version the
    // triggers raise on every change, so a search's in-memory copy knows when to reload (other
    // processes write too); the folders indexed per model; and the files that could not be
    // read, by size and modification time, so an unchanged broken file is reported without
    // being decoded again on every run.
    R"sql(
    CREATE TABLE embeddings (
        id INTEGER PRIMARY KEY,
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        dim INTEGER NOT NULL,
        vector BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (model, image_id));
    CREATE INDEX embeddings_by_image ON embeddings(image_id);
    CREATE TABLE embedding_versions (
        model TEXT PRIMARY KEY,
        version INTEGER NOT NULL);
    CREATE TRIGGER embeddings_ai AFTER INSERT ON embeddings BEGIN
        INSERT OR IGNORE INTO embedding_versions (model, version) VALUES (new.model, 0);
        UPDATE embedding_versions SET version = version + 1 WHERE model = new.model; END;
    CREATE TRIGGER embeddings_au AFTER UPDATE ON embeddings BEGIN
        UPDATE embedding_versions SET version = version + 1 WHERE model IN (old.model, new.model); END;
    CREATE TRIGGER embeddings_ad AFTER DELETE ON embeddings BEGIN
        UPDATE embedding_versions SET version = version + 1 WHERE model = old.model; END;
    CREATE TABLE indexed_folders (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        model TEXT NOT NULL,
        added_at INTEGER NOT NULL,
        indexed_at INTEGER NOT NULL DEFAULT 0,
        UNIQUE (path, model));
    CREATE TABLE unreadable_files (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        reason TEXT NOT NULL,
        failed_at INTEGER NOT NULL);
    )sql",
    // 4: the pictures each question brought (a conversation about several images and videos),
    // in the order they go before its text: the file (pasted pixels: the library's copy), image
    // or video, the window's content key, the name, and the picture's place among the
    // conversation's pictures (0: the main image, conversations.image_id). They belong to their
    // message row (its conversation and position), so a message replaced or deleted, or its
    // conversation deleted, takes them along.
    R"sql(
    CREATE TABLE message_pictures (
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        ord INTEGER NOT NULL,
        picture INTEGER NOT NULL,
        path TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('image', 'video')),
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (message_id, ord));
    )sql",
};
static_assert(std::size(kMigrations) == LibraryDb::kSchemaVersion);

int userVersion(sqlite3* db) {
    Statement s(db, "PRAGMA user_version");
    return s.step() ? static_cast<int>(s.integer(0)) : 0;
}

sqlite3* openFile(const std::string& path) {
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                                   nullptr);
    if (rc != SQLITE_OK) {
        std::string m = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        throw Error("cannot open the library " + path + ": " + m);
    }
    sqlite3_busy_timeout(db, 15000);
    sqlite3_extended_result_codes(db, 1);
    return db;
}

// The pragmas every connection sets; throws when the file is not a usable database.
void configure(sqlite3* db) {
    exec(db, "PRAGMA journal_mode = WAL");
    exec(db, "PRAGMA synchronous = FULL");
    exec(db, "PRAGMA foreign_keys = ON");
}

// SQLite's quick check; "" when the file is sound, else what is wrong.
std::string damage(sqlite3* db) {
    try {
        Statement s(db, "PRAGMA quick_check");
        std::string result = s.step() ? s.text(0) : "no answer";
        return result == "ok" ? "" : result;
    } catch (const Error& e) {
        return e.what();
    }
}

std::string timestamp() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
    return buf;
}

// Each word quoted (FTS5 syntax taken literally), all required, the last one as a prefix.
std::string ftsQuery(const std::string& query) {
    std::istringstream in(query);
    std::string word, out;
    std::vector<std::string> words;
    while (in >> word)
        words.push_back(word);
    for (std::size_t i = 0; i < words.size(); ++i) {
        std::string quoted = "\"";
        for (char c : words[i])
            quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
        quoted += "\"";
        if (i + 1 == words.size())
            quoted += "*";
        out += (out.empty() ? "" : " ") + quoted;
    }
    return out;
}

CaptionRecord readCaption(const Statement& s) {
    CaptionRecord c;
    c.image_id = s.integer(0);
    c.image_path = s.text(1);
    c.model = s.text(2);
    c.prompt = s.text(3);
    c.text = s.text(4);
    c.created_at = s.integer(5);
    return c;
}

ConversationRecord readConversation(const Statement& s) {
    ConversationRecord r;
    r.id = s.integer(0);
    r.image_id = s.integer(1);
    r.image_path = s.text(2);
    r.title = s.text(3);
    r.model = s.text(4);
    r.created_at = s.integer(5);
    r.updated_at = s.integer(6);
    return r;
}

SearchHit readHit(const Statement& s) {
    SearchHit h;
    h.kind = s.text(0);
    h.snippet = s.text(1);
    h.image_id = s.integer(2);
    h.image_path = s.text(3);
    h.conversation_id = s.integer(4);
    return h;
}

// Every row the statement gives, each read by `read`.
template <typename Read>
auto allRows(Statement& s, Read read) {
    std::vector<decltype(read(s))> out;
    while (s.step())
        out.push_back(read(s));
    return out;
}

void checkRole(const Message& m) {
    if (m.role != "user" && m.role != "assistant")
        throw Error("a message's role is user or assistant, not '" + m.role + "'");
}

// Inserts message `m` at position `seq` with its pictures, inside the caller's transaction.
void insertMessage(sqlite3* db, std::int64_t conversation_id, std::int64_t seq, const Message& m, std::int64_t t) {
    Statement s(db, "INSERT INTO messages (conversation_id, seq, role, text, created_at) VALUES (?,?,?,?,?)");
    s.bind(1, conversation_id).bind(2, seq).bind(3, m.role).bind(4, m.text).bind(5, t);
    s.step();
    if (m.pictures.empty())
        return;
    const std::int64_t message_id = sqlite3_last_insert_rowid(db);
    Statement p(db, "INSERT INTO message_pictures (message_id, ord, picture, path, kind, key, name) VALUES (?,?,?,?,?,?,?)");
    std::int64_t ord = 0;
    for (const PictureRecord& picture : m.pictures) {
        p.bind(1, message_id).bind(2, ord++).bind(3, std::int64_t{picture.picture}).bind(4, picture.path);
        p.bind(5, std::string(picture.video ? "video" : "image")).bind(6, picture.key).bind(7, picture.name);
        p.step();
        p.reset();
    }
}

#define VQA_CONVERSATION_SELECT                                                                        \
    "SELECT c.id, COALESCE(c.image_id, 0), COALESCE(i.path, ''), c.title, c.model, c.created_at, c.updated_at " \
    "FROM conversations c LEFT JOIN images i ON i.id = c.image_id "

#define VQA_CAPTION_SELECT \
    "SELECT c.image_id, i.path, c.model, c.prompt, c.text, c.created_at FROM captions c JOIN images i ON i.id = c.image_id "

// Messages from position `first` on replaced by `messages` (their pictures go with them: ON
// DELETE CASCADE) and the conversation touched, inside the caller's transaction.
void writeMessagesFrom(sqlite3* db, std::int64_t conversation_id, int first, const std::vector<Message>& messages,
                       std::int64_t t) {
    Statement u(db, "UPDATE conversations SET updated_at = ? WHERE id = ?");
    u.bind(1, t).bind(2, conversation_id).step();
    if (sqlite3_changes(db) == 0)
        throw Error("no conversation " + std::to_string(conversation_id) + " in the library");
    Statement d(db, "DELETE FROM messages WHERE conversation_id = ? AND seq >= ?");
    d.bind(1, conversation_id).bind(2, std::int64_t{first}).step();
    Statement count(db, "SELECT COUNT(*) FROM messages WHERE conversation_id = ?");
    count.bind(1, conversation_id);
    std::int64_t seq = count.step() ? count.integer(0) : 0;
    for (const auto& m : messages)
        insertMessage(db, conversation_id, seq++, m, t);
}

} // namespace

LibraryDb::LibraryDb(const std::string& path) : path_(path) {
    try {
        open();
    } catch (...) {
        sqlite3_close_v2(db_);
        throw;
    }
}

LibraryDb::~LibraryDb() {
    sqlite3_close_v2(db_);
}

void LibraryDb::open() {
    std::error_code ec;
    const fs::path parent = fs::path(path_).parent_path();
    if (!parent.empty())
        fs::create_directories(parent, ec);
    db_ = openFile(path_);
    std::string problem;
    try {
        configure(db_);
        problem = damage(db_);
    } catch (const Error& e) {
        problem = e.what();
    }
    if (!problem.empty()) {
        sqlite3_close_v2(db_);
        db_ = nullptr;
        const std::string aside = path_ + ".corrupt-" + timestamp();
        fs::rename(path_, aside, ec);
        if (ec)
            throw Error("the library " + path_ + " is damaged (" + problem + ") and cannot be moved aside: " + ec.message());
        for (const char* suffix : {"-wal", "-shm"}) {
            std::error_code ignored;
            if (fs::exists(path_ + suffix))
                fs::rename(path_ + suffix, aside + suffix, ignored);
        }
        notice_ = "The library " + path_ + " was damaged (" + problem + "); it was kept as " + aside +
                  " and a new, empty library started.";
        db_ = openFile(path_);
        configure(db_);
    }
    if (const int version = userVersion(db_); version > kSchemaVersion) {
        sqlite3_close_v2(db_);
        db_ = nullptr;
        throw Error("the library " + path_ + " was written by a newer VQA Studio (schema " + std::to_string(version) +
                    "); this one knows schema " + std::to_string(kSchemaVersion) + " and leaves it untouched");
    }
    migrate();
}

void LibraryDb::migrate() {
    const int from = userVersion(db_);
    for (int v = from; v < kSchemaVersion; ++v) {
        WriteTransaction tx(db_);
        // Another process may have migrated while this one waited for the lock.
        if (userVersion(db_) > v)
            continue;
        exec(db_, kMigrations[v]);
        exec(db_, ("PRAGMA user_version = " + std::to_string(v + 1)).c_str());
        tx.commit();
    }
    if (from > 0 && from < kSchemaVersion && notice_.empty())
        notice_ = "The library was brought from schema " + std::to_string(from) + " to " + std::to_string(kSchemaVersion) + ".";
}

void LibraryDb::createAtVersion(const std::string& path, int version) {
    if (version < 1 || version > kSchemaVersion)
        throw Error("no schema version " + std::to_string(version));
    sqlite3* db = openFile(path);
    try {
        configure(db);
        for (int v = 0; v < version; ++v)
            exec(db, kMigrations[v]);
        exec(db, ("PRAGMA user_version = " + std::to_string(version)).c_str());
    } catch (...) {
        sqlite3_close_v2(db);
        throw;
    }
    sqlite3_close_v2(db);
}

ImageRecord LibraryDb::upsertImage(const ImageRecord& image) {
    WriteTransaction tx(db_);
    ImageRecord r = sql::upsertImageRow(db_, image);
    tx.commit();
    return r;
}

std::optional<ImageRecord> LibraryDb::image(const std::string& path) {
    Statement s(db_, (std::string("SELECT ") + kImageColumns + " FROM images WHERE path = ?").c_str());
    s.bind(1, path);
    if (!s.step())
        return std::nullopt;
    return readImage(s);
}

std::optional<CaptionRecord> LibraryDb::caption(std::int64_t image_id, const std::string& model, const std::string& prompt) {
    Statement s(db_, VQA_CAPTION_SELECT "WHERE c.image_id = ? AND c.model = ? AND c.prompt = ?");
    s.bind(1, image_id).bind(2, model).bind(3, prompt);
    if (!s.step())
        return std::nullopt;
    return readCaption(s);
}

std::optional<CaptionRecord> LibraryDb::captionByContent(const std::string& sha256, const std::string& model,
                                                         const std::string& prompt) {
    Statement s(db_, VQA_CAPTION_SELECT "WHERE i.sha256 = ? AND c.model = ? AND c.prompt = ? ORDER BY c.id LIMIT 1");
    s.bind(1, sha256).bind(2, model).bind(3, prompt);
    if (!s.step())
        return std::nullopt;
    return readCaption(s);
}

void LibraryDb::putCaption(std::int64_t image_id, const std::string& model, const std::string& prompt,
                           const std::string& text) {
    WriteTransaction tx(db_);
    Statement s(db_,
                "INSERT INTO captions (image_id, model, prompt, text, created_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT (image_id, model, prompt) DO UPDATE SET text = excluded.text, created_at = excluded.created_at");
    s.bind(1, image_id).bind(2, model).bind(3, prompt).bind(4, text).bind(5, now());
    s.step();
    tx.commit();
}

std::vector<CaptionRecord> LibraryDb::captions(const std::string& model, const std::string& prompt) {
    Statement s(db_, VQA_CAPTION_SELECT "WHERE c.model = ? AND c.prompt = ? ORDER BY i.path");
    s.bind(1, model).bind(2, prompt);
    return allRows(s, readCaption);
}

std::vector<CaptionRecord> LibraryDb::captionsOf(std::int64_t image_id) {
    Statement s(db_, VQA_CAPTION_SELECT "WHERE c.image_id = ? ORDER BY c.created_at DESC, c.id DESC");
    s.bind(1, image_id);
    return allRows(s, readCaption);
}

std::int64_t LibraryDb::addConversation(std::int64_t image_id, const std::string& title, const std::string& model,
                                        const std::vector<Message>& messages) {
    for (const auto& m : messages)
        checkRole(m);
    WriteTransaction tx(db_);
    Statement s(db_, "INSERT INTO conversations (image_id, title, model, created_at, updated_at) VALUES (?,?,?,?,?)");
    if (image_id > 0)
        s.bind(1, image_id);
    const std::int64_t t = now();
    s.bind(2, title).bind(3, model).bind(4, t).bind(5, t);
    s.step();
    const std::int64_t id = sqlite3_last_insert_rowid(db_);
    writeMessagesFrom(db_, id, 0, messages, t);
    tx.commit();
    return id;
}

void LibraryDb::addMessage(std::int64_t conversation_id, const Message& message) {
    checkRole(message);
    WriteTransaction tx(db_);
    const std::int64_t t = now();
    Statement u(db_, "UPDATE conversations SET updated_at = ? WHERE id = ?");
    u.bind(1, t).bind(2, conversation_id).step();
    if (sqlite3_changes(db_) == 0)
        throw Error("no conversation " + std::to_string(conversation_id) + " in the library");
    Statement next(db_, "SELECT COALESCE(MAX(seq), -1) + 1 FROM messages WHERE conversation_id = ?");
    next.bind(1, conversation_id);
    insertMessage(db_, conversation_id, next.step() ? next.integer(0) : 0, message, t);
    tx.commit();
}

void LibraryDb::replaceMessagesFrom(std::int64_t conversation_id, int first, const std::vector<Message>& messages) {
    for (const auto& m : messages)
        checkRole(m);
    WriteTransaction tx(db_);
    writeMessagesFrom(db_, conversation_id, first, messages, now());
    tx.commit();
}

std::optional<ConversationRecord> LibraryDb::conversation(std::int64_t conversation_id) {
    Statement s(db_, VQA_CONVERSATION_SELECT "WHERE c.id = ?");
    s.bind(1, conversation_id);
    if (!s.step())
        return std::nullopt;
    return readConversation(s);
}

std::vector<Message> LibraryDb::messages(std::int64_t conversation_id) {
    Statement s(db_, "SELECT seq, role, text FROM messages WHERE conversation_id = ? ORDER BY seq");
    s.bind(1, conversation_id);
    std::vector<Message> out;
    std::map<std::int64_t, size_t> at_seq;
    while (s.step()) {
        at_seq[s.integer(0)] = out.size();
        out.push_back(Message{s.text(1), s.text(2)});
    }
    Statement p(db_,
                "SELECT m.seq, p.picture, p.path, p.kind, p.key, p.name "
                "FROM message_pictures p JOIN messages m ON m.id = p.message_id "
                "WHERE m.conversation_id = ? ORDER BY m.seq, p.ord");
    p.bind(1, conversation_id);
    while (p.step())
        out[at_seq.at(p.integer(0))].pictures.push_back(
            PictureRecord{int(p.integer(1)), p.text(2), p.text(3) == "video", p.text(4), p.text(5)});
    return out;
}

std::vector<ConversationRecord> LibraryDb::conversations() {
    Statement s(db_, VQA_CONVERSATION_SELECT "ORDER BY c.updated_at DESC, c.id DESC");
    return allRows(s, readConversation);
}

void LibraryDb::renameConversation(std::int64_t conversation_id, const std::string& title) {
    WriteTransaction tx(db_);
    Statement s(db_, "UPDATE conversations SET title = ? WHERE id = ?");
    s.bind(1, title).bind(2, conversation_id).step();
    tx.commit();
}

void LibraryDb::deleteConversation(std::int64_t conversation_id) {
    WriteTransaction tx(db_);
    Statement s(db_, "DELETE FROM conversations WHERE id = ?");
    s.bind(1, conversation_id).step();
    tx.commit();
}

std::vector<SearchHit> LibraryDb::search(const std::string& query, int limit) {
    const std::string match = ftsQuery(query);
    if (match.empty())
        return {};
    Statement s(db_,
                "SELECT s.kind, snippet(search, 0, '[', ']', '…', 16), "
                "  CASE s.kind WHEN 'caption' THEN c.image_id ELSE v.image_id END, "
                "  COALESCE(i.path, ''), COALESCE(m.conversation_id, 0) "
                "FROM search s "
                "LEFT JOIN captions c ON s.kind = 'caption' AND c.id = s.ref "
                "LEFT JOIN messages m ON s.kind = 'message' AND m.id = s.ref "
                "LEFT JOIN conversations v ON v.id = m.conversation_id "
                "LEFT JOIN images i ON i.id = CASE s.kind WHEN 'caption' THEN c.image_id ELSE v.image_id END "
                "WHERE search MATCH ? ORDER BY rank LIMIT ?");
    s.bind(1, match).bind(2, std::int64_t{limit});
    return allRows(s, readHit);
}

} // namespace vqa::library
