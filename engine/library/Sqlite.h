// What the library's classes over one SQLite connection share (LibraryDb, EmbeddingStore):
// a prepared statement, a statement run for its effect, the write transaction every change
// takes, and the image rows both keep. Internal to engine/library: not a public header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <sqlite3.h>

#include "engine/library/LibraryDb.h"

namespace vqa::library::sql {

// Unix seconds.
std::int64_t now();

// One prepared statement; binds by position from 1, steps, reads columns, finalizes.
class Statement {
  public:
    Statement(sqlite3* db, const char* sql);
    Statement(sqlite3* db, const std::string& sql) : Statement(db, sql.c_str()) {}
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int i, std::int64_t v);
    Statement& bind(int i, const std::string& v);
    // The bytes are copied (SQLITE_TRANSIENT).
    Statement& bindBlob(int i, const void* data, std::size_t bytes);
    // True while there is a row.
    bool step();
    // Ready to bind and step again (bindings are kept until rebound).
    void reset();
    std::int64_t integer(int col) const;
    std::string text(int col) const;
    const void* blob(int col) const;
    std::size_t bytes(int col) const;

  private:
    void check(int rc);
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const char* sql);

// A write transaction taken up front (so two writers wait for each other instead of failing
// on upgrade), rolled back unless committed.
class WriteTransaction {
  public:
    explicit WriteTransaction(sqlite3* db);
    ~WriteTransaction();
    WriteTransaction(const WriteTransaction&) = delete;
    WriteTransaction& operator=(const WriteTransaction&) = delete;
    void commit();

  private:
    sqlite3* db_;
    bool done_ = false;
};

// The columns readImage reads, in its order.
inline constexpr const char* kImageColumns = "id, path, size, mtime_ns, sha256, width, height";
// A row of kImageColumns starting at column `first`.
ImageRecord readImage(const Statement& s, int first = 0);

// Adds the image or brings its record up to date, inside the caller's transaction. A file
// whose content changed (another hash) loses what was made from the old content: its
// captions and its vectors (every model's).
ImageRecord upsertImageRow(sqlite3* db, const ImageRecord& image);

} // namespace vqa::library::sql
