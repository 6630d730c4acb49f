#include "engine/library/EmbeddingStore.h"

#include <bit>
#include <cstring>
#include <map>

#include "engine/library/Sqlite.h"
#include "models/base/Error.h"

namespace vqa::library {

using sql::Statement;
using sql::WriteTransaction;

// The BLOBs hold the floats as this machine lays them out; a big-endian build would read
// another machine's library wrongly, so there is none.
static_assert(std::endian::native == std::endian::little, "the library keeps vectors as little-endian float32");

namespace {

// A read transaction: what is read inside sees one state of the database (WAL snapshot).
class ReadTransaction {
  public:
    explicit ReadTransaction(sqlite3* db) : db_(db) { sql::exec(db_, "BEGIN"); }
    ~ReadTransaction() { sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr); }
    ReadTransaction(const ReadTransaction&) = delete;
    ReadTransaction& operator=(const ReadTransaction&) = delete;

  private:
    sqlite3* db_;
};

std::vector<float> readVector(const Statement& s, int col) {
    std::vector<float> v(s.bytes(col) / sizeof(float));
    if (!v.empty())
        std::memcpy(v.data(), s.blob(col), v.size() * sizeof(float));
    return v;
}

bool under(const std::string& path, const std::pair<std::string, std::string>& range) {
    return path >= range.first && path < range.second;
}

// Drops the image records among `ids` that nothing refers to any more.
void removeUnusedImages(sqlite3* db, const std::vector<std::int64_t>& ids) {
    Statement s(db,
                "DELETE FROM images WHERE id = ?1 "
                "AND NOT EXISTS (SELECT 1 FROM embeddings WHERE image_id = ?1) "
                "AND NOT EXISTS (SELECT 1 FROM captions WHERE image_id = ?1) "
                "AND NOT EXISTS (SELECT 1 FROM conversations WHERE image_id = ?1)");
    for (std::int64_t id : ids) {
        s.reset();
        s.bind(1, id).step();
    }
}

} // namespace

std::pair<std::string, std::string> pathRangeUnder(const std::string& folder) {
    std::string first = folder;
    if (first.empty() || first.back() != '/')
        first += '/';
    std::string last = first;
    last.back() = static_cast<char>('/' + 1);
    return {first, last};
}

EmbeddingStore::EmbeddingStore(LibraryDb& db) : db_(db.db_) {}

void EmbeddingStore::addFolder(const std::string& folder, const std::string& model) {
    WriteTransaction tx(db_);
    Statement s(db_, "INSERT OR IGNORE INTO indexed_folders (path, model, added_at) VALUES (?,?,?)");
    s.bind(1, folder).bind(2, model).bind(3, sql::now()).step();
    tx.commit();
}

void EmbeddingStore::markIndexed(const std::string& folder, const std::string& model) {
    WriteTransaction tx(db_);
    Statement s(db_,
                "INSERT INTO indexed_folders (path, model, added_at, indexed_at) VALUES (?1, ?2, ?3, ?3) "
                "ON CONFLICT (path, model) DO UPDATE SET indexed_at = excluded.indexed_at");
    s.bind(1, folder).bind(2, model).bind(3, sql::now()).step();
    tx.commit();
}

std::vector<IndexedFolder> EmbeddingStore::folders(const std::string& model) {
    Statement s(db_, model.empty() ? "SELECT path, model, added_at, indexed_at FROM indexed_folders ORDER BY path, model"
                                   : "SELECT path, model, added_at, indexed_at FROM indexed_folders WHERE model = ? "
                                     "ORDER BY path");
    if (!model.empty())
        s.bind(1, model);
    std::vector<IndexedFolder> out;
    while (s.step()) {
        IndexedFolder f;
        f.path = s.text(0);
        f.model = s.text(1);
        f.added_at = s.integer(2);
        f.indexed_at = s.integer(3);
        out.push_back(std::move(f));
    }
    Statement count(db_,
                    "SELECT COUNT(*) FROM embeddings e JOIN images i ON i.id = e.image_id "
                    "WHERE e.model = ? AND i.path >= ? AND i.path < ?");
    for (auto& f : out) {
        const auto range = pathRangeUnder(f.path);
        count.reset();
        count.bind(1, f.model).bind(2, range.first).bind(3, range.second);
        f.images = count.step() ? static_cast<int>(count.integer(0)) : 0;
    }
    return out;
}

int EmbeddingStore::removeFolder(const std::string& folder, const std::string& model) {
    const auto range = pathRangeUnder(folder);
    WriteTransaction tx(db_);
    // The models the folder was indexed with, and every other folder of each.
    std::map<std::string, std::vector<std::pair<std::string, std::string>>> others;
    {
        Statement s(db_, "SELECT path, model FROM indexed_folders WHERE model = ?1 OR ?1 = ''");
        s.bind(1, model);
        std::vector<std::pair<std::string, std::string>> rows;
        while (s.step())
            rows.emplace_back(s.text(0), s.text(1));
        for (const auto& [path, m] : rows)
            if (path == folder)
                others[m];
        for (const auto& [path, m] : rows)
            if (path != folder && others.count(m))
                others[m].push_back(pathRangeUnder(path));
    }
    int removed = 0;
    std::vector<std::int64_t> touched;
    Statement vectors(db_,
                      "SELECT e.id, i.id, i.path FROM embeddings e JOIN images i ON i.id = e.image_id "
                      "WHERE e.model = ? AND i.path >= ? AND i.path < ?");
    Statement drop(db_, "DELETE FROM embeddings WHERE id = ?");
    for (const auto& [m, covered] : others) {
        vectors.reset();
        vectors.bind(1, m).bind(2, range.first).bind(3, range.second);
        std::vector<std::pair<std::int64_t, std::int64_t>> gone;  // vector, image
        while (vectors.step()) {
            const std::string path = vectors.text(2);
            bool kept = false;
            for (const auto& r : covered)
                kept = kept || under(path, r);
            if (!kept)
                gone.emplace_back(vectors.integer(0), vectors.integer(1));
        }
        for (const auto& [vector_id, image_id] : gone) {
            drop.reset();
            drop.bind(1, vector_id).step();
            touched.push_back(image_id);
            ++removed;
        }
        Statement row(db_, "DELETE FROM indexed_folders WHERE path = ? AND model = ?");
        row.bind(1, folder).bind(2, m).step();
    }
    removeUnusedImages(db_, touched);
    tx.commit();
    return removed;
}

std::vector<KnownImage> EmbeddingStore::imagesUnder(const std::string& folder, const std::string& model) {
    const auto range = pathRangeUnder(folder);
    Statement s(db_,
                "SELECT i.id, i.path, i.size, i.mtime_ns, i.sha256, i.width, i.height, "
                "  EXISTS (SELECT 1 FROM embeddings e WHERE e.image_id = i.id AND e.model = ?1) "
                "FROM images i WHERE i.path >= ?2 AND i.path < ?3 ORDER BY i.path");
    s.bind(1, model).bind(2, range.first).bind(3, range.second);
    std::vector<KnownImage> out;
    while (s.step())
        out.push_back({sql::readImage(s), s.integer(7) != 0});
    return out;
}

std::vector<UnreadableFile> EmbeddingStore::unreadableUnder(const std::string& folder) {
    const auto range = pathRangeUnder(folder);
    Statement s(db_, "SELECT path, size, mtime_ns, reason FROM unreadable_files WHERE path >= ? AND path < ? ORDER BY path");
    s.bind(1, range.first).bind(2, range.second);
    std::vector<UnreadableFile> out;
    while (s.step())
        out.push_back({s.text(0), s.integer(1), s.integer(2), s.text(3)});
    return out;
}

std::optional<std::vector<float>> EmbeddingStore::vectorByContent(const std::string& sha256, const std::string& model) {
    Statement s(db_,
                "SELECT e.vector FROM embeddings e JOIN images i ON i.id = e.image_id "
                "WHERE i.sha256 = ? AND e.model = ? LIMIT 1");
    s.bind(1, sha256).bind(2, model);
    if (!s.step())
        return std::nullopt;
    return readVector(s, 0);
}

std::optional<StoredVector> EmbeddingStore::vectorOf(const std::string& path, const std::string& model) {
    Statement s(db_, std::string("SELECT e.vector, ") +
                         "i.id, i.path, i.size, i.mtime_ns, i.sha256, i.width, i.height "
                         "FROM embeddings e JOIN images i ON i.id = e.image_id WHERE i.path = ? AND e.model = ?");
    s.bind(1, path).bind(2, model);
    if (!s.step())
        return std::nullopt;
    return StoredVector{sql::readImage(s, 1), readVector(s, 0)};
}

void EmbeddingStore::write(const std::string& model, int dim, const VectorBatch& batch) {
    for (const auto& e : batch.entries)
        if (!e.vector.empty() && e.vector.size() != static_cast<std::size_t>(dim))
            throw Error("a vector of " + std::to_string(e.vector.size()) + " numbers for " + e.image.path + " (model " +
                        model + " makes " + std::to_string(dim) + ")");
    WriteTransaction tx(db_);
    Statement put(db_,
                  "INSERT INTO embeddings (image_id, model, dim, vector, created_at) VALUES (?,?,?,?,?) "
                  "ON CONFLICT (model, image_id) DO UPDATE SET dim = excluded.dim, vector = excluded.vector, "
                  "created_at = excluded.created_at");
    Statement readable(db_, "DELETE FROM unreadable_files WHERE path = ?");
    const std::int64_t t = sql::now();
    for (const auto& e : batch.entries) {
        const ImageRecord record = sql::upsertImageRow(db_, e.image);
        if (e.vector.empty())
            continue;
        put.reset();
        put.bind(1, record.id).bind(2, model).bind(3, std::int64_t{dim});
        put.bindBlob(4, e.vector.data(), e.vector.size() * sizeof(float)).bind(5, t).step();
        readable.reset();
        readable.bind(1, e.image.path).step();
    }
    Statement unreadable(db_,
                         "INSERT INTO unreadable_files (path, size, mtime_ns, reason, failed_at) VALUES (?,?,?,?,?) "
                         "ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
                         "reason = excluded.reason, failed_at = excluded.failed_at");
    Statement stale(db_, "DELETE FROM embeddings WHERE image_id = (SELECT id FROM images WHERE path = ?)");
    Statement image(db_, "SELECT id FROM images WHERE path = ?");
    std::vector<std::int64_t> touched;
    for (const auto& u : batch.unreadable) {
        unreadable.reset();
        unreadable.bind(1, u.path).bind(2, u.size).bind(3, u.mtime_ns).bind(4, u.reason).bind(5, t).step();
        // What the file held before is gone: so are the vectors made from it.
        stale.reset();
        stale.bind(1, u.path).step();
        image.reset();
        image.bind(1, u.path);
        if (image.step())
            touched.push_back(image.integer(0));
    }
    removeUnusedImages(db_, touched);
    tx.commit();
}

void EmbeddingStore::removeVectors(const std::string& model, const std::vector<std::int64_t>& image_ids) {
    if (image_ids.empty())
        return;
    WriteTransaction tx(db_);
    Statement s(db_, "DELETE FROM embeddings WHERE image_id = ? AND model = ?");
    for (std::int64_t id : image_ids) {
        s.reset();
        s.bind(1, id).bind(2, model).step();
    }
    removeUnusedImages(db_, image_ids);
    tx.commit();
}

void EmbeddingStore::removeUnreadable(const std::vector<std::string>& paths) {
    if (paths.empty())
        return;
    WriteTransaction tx(db_);
    Statement s(db_, "DELETE FROM unreadable_files WHERE path = ?");
    for (const auto& p : paths) {
        s.reset();
        s.bind(1, p).step();
    }
    tx.commit();
}

std::int64_t EmbeddingStore::version(const std::string& model) {
    Statement s(db_, "SELECT version FROM embedding_versions WHERE model = ?");
    s.bind(1, model);
    return s.step() ? s.integer(0) : 0;
}

int EmbeddingStore::count(const std::string& model) {
    Statement s(db_, "SELECT COUNT(*) FROM embeddings WHERE model = ?");
    s.bind(1, model);
    return s.step() ? static_cast<int>(s.integer(0)) : 0;
}

VectorMatrix EmbeddingStore::load(const std::string& model) {
    ReadTransaction tx(db_);
    VectorMatrix m;
    m.model = model;
    m.version = version(model);
    const int rows = count(model);
    m.paths.reserve(static_cast<std::size_t>(rows));
    m.widths.reserve(static_cast<std::size_t>(rows));
    m.heights.reserve(static_cast<std::size_t>(rows));
    Statement s(db_,
                "SELECT i.path, i.width, i.height, e.dim, e.vector FROM embeddings e JOIN images i ON i.id = e.image_id "
                "WHERE e.model = ? ORDER BY i.path");
    s.bind(1, model);
    while (s.step()) {
        const int dim = static_cast<int>(s.integer(3));
        if (m.paths.empty()) {
            m.dim = dim;
            m.data.reserve(static_cast<std::size_t>(rows) * static_cast<std::size_t>(dim));
        }
        if (dim != m.dim || dim <= 0 || s.bytes(4) != static_cast<std::size_t>(dim) * sizeof(float))
            throw Error("the library " + std::string(sqlite3_db_filename(db_, "main")) + " holds a vector of " +
                        std::to_string(s.bytes(4) / sizeof(float)) + " numbers for " + s.text(0) + " where model " +
                        model + " makes " + std::to_string(m.dim) + "; index the folder again");
        // memcpy: SQLite promises no alignment for a BLOB's bytes.
        const std::size_t at = m.data.size();
        m.data.resize(at + static_cast<std::size_t>(dim));
        std::memcpy(m.data.data() + at, s.blob(4), s.bytes(4));
        m.paths.push_back(s.text(0));
        m.widths.push_back(static_cast<int>(s.integer(1)));
        m.heights.push_back(static_cast<int>(s.integer(2)));
    }
    return m;
}

} // namespace vqa::library
