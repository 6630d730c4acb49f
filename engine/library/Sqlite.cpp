#include "engine/library/Sqlite.h"

#include <chrono>

#include "models/base/Error.h"

namespace vqa::library::sql {

std::int64_t now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Statement::Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
        throw Error(std::string("library database: ") + sqlite3_errmsg(db));
}

Statement::~Statement() {
    sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int i, std::int64_t v) {
    check(sqlite3_bind_int64(stmt_, i, v));
    return *this;
}

Statement& Statement::bind(int i, const std::string& v) {
    check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
}

Statement& Statement::bindBlob(int i, const void* data, std::size_t bytes) {
    check(sqlite3_bind_blob64(stmt_, i, data, bytes, SQLITE_TRANSIENT));
    return *this;
}

bool Statement::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    throw Error(std::string("library database: ") + sqlite3_errmsg(db_));
}

void Statement::reset() {
    sqlite3_reset(stmt_);
}

std::int64_t Statement::integer(int col) const {
    return sqlite3_column_int64(stmt_, col);
}

std::string Statement::text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
}

const void* Statement::blob(int col) const {
    return sqlite3_column_blob(stmt_, col);
}

std::size_t Statement::bytes(int col) const {
    return static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col));
}

void Statement::check(int rc) {
    if (rc != SQLITE_OK)
        throw Error(std::string("library database: ") + sqlite3_errmsg(db_));
}

void exec(sqlite3* db, const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string m = message ? message : sqlite3_errmsg(db);
        sqlite3_free(message);
        throw Error("library database: " + m);
    }
}

WriteTransaction::WriteTransaction(sqlite3* db) : db_(db) {
    exec(db_, "BEGIN IMMEDIATE");
}

WriteTransaction::~WriteTransaction() {
    if (!done_)
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void WriteTransaction::commit() {
    exec(db_, "COMMIT");
    done_ = true;
}

ImageRecord readImage(const Statement& s, int first) {
    ImageRecord r;
    r.id = s.integer(first);
    r.path = s.text(first + 1);
    r.size = s.integer(first + 2);
    r.mtime_ns = s.integer(first + 3);
    r.sha256 = s.text(first + 4);
    r.width = static_cast<int>(s.integer(first + 5));
    r.height = static_cast<int>(s.integer(first + 6));
    return r;
}

ImageRecord upsertImageRow(sqlite3* db, const ImageRecord& image) {
    ImageRecord r = image;
    Statement find(db, std::string("SELECT ") + kImageColumns + " FROM images WHERE path = ?");
    find.bind(1, image.path);
    if (!find.step()) {
        Statement s(db, "INSERT INTO images (path, size, mtime_ns, sha256, width, height, added_at) VALUES (?,?,?,?,?,?,?)");
        s.bind(1, image.path).bind(2, image.size).bind(3, image.mtime_ns).bind(4, image.sha256);
        s.bind(5, std::int64_t{image.width}).bind(6, std::int64_t{image.height}).bind(7, now());
        s.step();
        r.id = sqlite3_last_insert_rowid(db);
        return r;
    }
    const ImageRecord old = readImage(find);
    r.id = old.id;
    if (old.sha256 != image.sha256) {
        Statement captions(db, "DELETE FROM captions WHERE image_id = ?");
        captions.bind(1, r.id).step();
        Statement vectors(db, "DELETE FROM embeddings WHERE image_id = ?");
        vectors.bind(1, r.id).step();
    }
    Statement s(db, "UPDATE images SET size = ?, mtime_ns = ?, sha256 = ?, width = ?, height = ? WHERE id = ?");
    s.bind(1, image.size).bind(2, image.mtime_ns).bind(3, image.sha256);
    s.bind(4, std::int64_t{image.width}).bind(5, std::int64_t{image.height}).bind(6, r.id);
    s.step();
    return r;
}

} // namespace vqa::library::sql
