// The image search's tables in the library database (schema 3), over LibraryDb's connection:
// an image's vector per dual-encoder model, the folders indexed with each model, and the files
// that could not be read. engine/retrieval/ImageIndex decides what to embed and searches; this
// class only keeps and reads, each change in one transaction.
//
// Vectors are float32 BLOBs in the machine's byte order (little-endian: the only order this
// program is built for), `dim` of them, keyed by image record and model id: the same file
// indexed with two models has two vectors that never meet.
//
// Torch-free: the window and the CLI may include it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/library/LibraryDb.h"

namespace vqa::library {

struct IndexedFolder {
    std::string path;   // absolute, normalized, no trailing separator
    std::string model;  // the model id its vectors are kept under
    std::int64_t added_at = 0;    // unix seconds
    std::int64_t indexed_at = 0;  // the last run that finished; 0: none yet
    int images = 0;  // vectors of this model under the folder now
};

// A file that could not be read as an image, as it was when it failed: an unchanged file is
// reported again without being decoded again.
struct UnreadableFile {
    std::string path;
    std::int64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::string reason;
};

// An image record under a folder, and whether it has a vector for the model asked about.
struct KnownImage {
    ImageRecord image;
    bool has_vector = false;
};

// One vector and the image it belongs to.
struct StoredVector {
    ImageRecord image;
    std::vector<float> vector;
};

// Every vector of one model as one contiguous row-major matrix (rows sorted by path, so the
// images under a folder are one run of rows), with each row's file and image size.
struct VectorMatrix {
    std::string model;
    int dim = 0;
    std::int64_t version = -1;  // the model's version when read (EmbeddingStore::version)
    std::vector<float> data;    // rows() * dim
    std::vector<std::string> paths;
    std::vector<int> widths;
    std::vector<int> heights;
    std::size_t rows() const { return paths.size(); }
};

// What one batch of an indexing run changes, written in one transaction: a crash loses at
// most the batch in progress.
struct VectorBatch {
    struct Entry {
        ImageRecord image;          // added or brought up to date (LibraryDb::upsertImage's rules)
        std::vector<float> vector;  // its vector for the model; empty: the record only
    };
    std::vector<Entry> entries;
    std::vector<UnreadableFile> unreadable;
};

class EmbeddingStore {
  public:
    // `db` must outlive the store.
    explicit EmbeddingStore(LibraryDb& db);

    // Remembers `folder` as indexed with `model` (nothing when it is already).
    void addFolder(const std::string& folder, const std::string& model);
    // A run over `folder` with `model` finished now.
    void markIndexed(const std::string& folder, const std::string& model);
    // The folders indexed with `model` (every model's when empty), by path.
    std::vector<IndexedFolder> folders(const std::string& model = {});
    // Forgets `folder` for `model` (for every model when empty): its row, and the vectors of
    // the images under it that no other folder indexed with that model covers. Image records
    // that nothing uses any more go too. Returns the vectors removed.
    int removeFolder(const std::string& folder, const std::string& model = {});

    // Every image record whose file lies under `folder`, by path.
    std::vector<KnownImage> imagesUnder(const std::string& folder, const std::string& model);
    std::vector<UnreadableFile> unreadableUnder(const std::string& folder);

    // A vector of `model` for an image with this content (any path).
    std::optional<std::vector<float>> vectorByContent(const std::string& sha256, const std::string& model);
    // The vector of `model` kept for the file at `path`, with its record.
    std::optional<StoredVector> vectorOf(const std::string& path, const std::string& model);

    // Writes one batch in one transaction. Every vector must have `dim` floats. An unreadable
    // file loses the vectors (every model's) made from what it held before; a file with a
    // vector now is no longer unreadable.
    void write(const std::string& model, int dim, const VectorBatch& batch);
    // Drops `model`'s vectors of these images, and the image records nothing uses any more
    // (no caption, conversation or other model's vector), in one transaction.
    void removeVectors(const std::string& model, const std::vector<std::int64_t>& image_ids);
    void removeUnreadable(const std::vector<std::string>& paths);

    // Raised by every change to `model`'s vectors (by any process): an unchanged version means
    // an unchanged set of vectors. 0 when the model never had any.
    std::int64_t version(const std::string& model);
    int count(const std::string& model);
    // Every vector of `model`, read in one transaction (the version with it). Throws
    // vqa::Error when a stored vector's length disagrees with the others.
    VectorMatrix load(const std::string& model);

  private:
    sqlite3* db_;
};

// The smallest and the first string past every path under `folder` ("/a/b" gives "/a/b/" and
// "/a/b0"): a range query over the sorted paths. A folder given with a trailing separator
// ("/") is taken as it is.
std::pair<std::string, std::string> pathRangeUnder(const std::string& folder);

} // namespace vqa::library
