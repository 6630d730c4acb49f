// Finding images by what is in them: the vectors a dual encoder (ImageEmbedder) makes of the
// images in a person's folders, kept in the library database (library::EmbeddingStore), and
// the search over them.
//
// Indexing (update) is incremental and resumable. A folder is read recursively (the same
// files as `vqa caption` takes: library::listImageFiles); a file whose path, size and
// modification time the library knows, with a vector for this model, is not read at all.
// Other files are hashed (SHA-256, as the library keys images): content that already has a
// vector for this model (a file renamed, moved or copied) reuses it; the rest is decoded
// (with the decoder's pixel limits) and embedded a batch at a time, each batch written in one
// transaction, so a crash or a cancel loses at most the batch in progress and the next run
// goes on from there. A file that cannot be read as an image is skipped and reported, and
// remembered by size and modification time, so it is reported again but not decoded again
// while it stays unchanged. Files gone from the folder leave the index at the end of a run
// that was not cancelled (their image records stay while captions or conversations use them).
//
// Several folders may be indexed with one model; vectors are kept per model id, so folders
// indexed with another model (or another checkpoint) are independent of these.
//
// Search is brute force: every vector of the model, loaded once into one contiguous matrix
// (reloaded when the model's vectors changed, in this process or another), scored against a
// unit query by dot products (the cosine), the best kept in a heap.
//
// Not thread-safe: one thread uses an ImageIndex at a time. Torch-free: it uses only the
// ImageEmbedder interface; the window and the CLI include it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/library/EmbeddingStore.h"
#include "engine/retrieval/ImageEmbedder.h"

namespace vqa::library {
class LibraryDb;
}

namespace vqa::retrieval {

struct IndexOptions {
    // Images embedded together: more use the model better; a cancel or crash loses at most
    // this many.
    int batch_size = 8;
    // A batch is embedded early once its decoded images hold this many pixels (a folder of
    // 50-megapixel photos would otherwise hold gigabytes at once).
    std::int64_t max_batch_pixels = 100'000'000;
    std::int64_t max_pixels = 100'000'000;      // a larger image is skipped (the decoder's default)
    std::int64_t max_file_bytes = 256ll << 20;  // a larger file is skipped
    // Decode again the files remembered as unreadable even if unchanged (after raising a limit).
    bool retry_unreadable = false;
};

struct IndexProgress {
    int done = 0;   // files settled (unchanged ones from the start)
    int total = 0;  // image files in the folder
    std::string current;  // the file being read, "" at the end
    double elapsed_s = 0;
    double eta_s = -1;  // from the pace of this run so far; < 0: not known yet
};

struct IndexFailure {
    std::string path;
    std::string reason;  // "name.jpg: what is wrong"
    bool remembered = false;  // failed before and unchanged since: not decoded again
};

struct IndexReport {
    std::string folder;  // absolute, normalized
    std::string model;   // the embedder's model id
    int files = 0;       // image files found
    int added = 0;       // embedded for the first time
    int changed = 0;     // content changed since the last run, embedded again
    int reused = 0;      // a vector of the same content taken (a file renamed, moved or copied)
    int removed = 0;     // gone from the folder, dropped from the index
    int unchanged = 0;   // kept as they were
    std::vector<IndexFailure> failed;
    bool cancelled = false;  // stopped early: what was finished is kept, removals wait for a full run
    double seconds = 0;
};

// One image found.
struct ImageMatch {
    std::string path;
    float score = 0;  // cosine similarity, -1..1
    int width = 0;    // of the image as stored (0 when not known)
    int height = 0;
};

class ImageIndex {
  public:
    // `db` must outlive the index.
    explicit ImageIndex(library::LibraryDb& db);
    ~ImageIndex();
    ImageIndex(const ImageIndex&) = delete;
    ImageIndex& operator=(const ImageIndex&) = delete;

    // Brings the index of `folder` for `embedder`'s model up to date. `progress` is called
    // before each file that needs work and once at the end; `cancel` is checked between files
    // and batches. Throws vqa::Error when the folder does not exist or is not a folder, and
    // when the embedder or the database fails (batches written before stay).
    IndexReport update(const std::string& folder, const ImageEmbedder& embedder,
                       const std::function<void(const IndexProgress&)>& progress = {},
                       const std::atomic<bool>* cancel = nullptr, const IndexOptions& options = {});

    // The `top` images (all when top <= 0) whose vectors of `model_id` are most like `query`,
    // best first; `exclude_path` is left out, and with `folders` only images under them are
    // considered. The query is normalized to unit length. An index without vectors of the
    // model gives no results. Throws vqa::Error when the query's length is not the model's,
    // or the query is all zeros.
    std::vector<ImageMatch> search(const std::string& model_id, const std::vector<float>& query, int top,
                                   const std::string& exclude_path = {}, const std::vector<std::string>& folders = {});

    // The vector of `model_id` kept for the image file at `path`, when it is indexed and the
    // file is unchanged since (or gone).
    std::optional<std::vector<float>> storedVector(const std::string& model_id, const std::string& path);
    // The vector of the image at `path` for `embedder`'s model: the stored one when there is,
    // else the file decoded and embedded (nothing is written). Throws vqa::Error naming the
    // file when it cannot be read as an image.
    std::vector<float> imageVector(const std::string& path, const ImageEmbedder& embedder);
    // The images most like the one at `path` (indexed or not), itself left out.
    std::vector<ImageMatch> similar(const std::string& path, const ImageEmbedder& embedder, int top,
                                    const std::vector<std::string>& folders = {});

    // Vectors kept for `model_id`.
    int count(const std::string& model_id);
    // The folders indexed with `model_id` (every model's when empty).
    std::vector<library::IndexedFolder> folders(const std::string& model_id = {});
    // Forgets `folder` for `model_id` (every model when empty): the vectors of its images that
    // no other folder indexed with the model covers. Returns how many vectors went.
    int removeFolder(const std::string& folder, const std::string& model_id = {});

  private:
    // The model's vectors, loaded or reloaded when they changed. One model's at a time: a
    // million vectors of 768 floats take 3 GB.
    const library::VectorMatrix& matrix(const std::string& model_id);

    library::EmbeddingStore store_;
    library::VectorMatrix cache_;
};

// `path` absolute and lexically normal, without a trailing separator: how the index names
// files and folders.
std::string normalPath(const std::string& path);

} // namespace vqa::retrieval
