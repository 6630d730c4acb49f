#include "engine/retrieval/ImageIndex.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <unordered_map>

#include "engine/hub/Checksum.h"
#include "engine/library/ImageFiles.h"
#include "engine/library/LibraryDb.h"
#include "engine/retrieval/VectorSearch.h"
#include "engine/vision/ImageIO.h"
#include "models/base/Error.h"

namespace vqa::retrieval {
namespace fs = std::filesystem;
using library::FileProblem;
using library::FileStamp;
using library::ImageRecord;
using library::KnownImage;

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

bool sameStamp(const ImageRecord& image, const FileStamp& stamp) {
    return image.size == stamp.size && image.mtime_ns == stamp.mtime_ns;
}

bool sameStamp(const library::UnreadableFile& file, const FileStamp& stamp) {
    return file.size == stamp.size && file.mtime_ns == stamp.mtime_ns;
}

// Whether `path` lies in a hidden file or folder below `folder`: listImageFiles never looks
// there, so such a file's absence from the listing does not mean it is gone (it may be in a
// hidden folder indexed on its own).
bool hiddenBelow(const std::string& folder, const std::string& path) {
    for (const auto& part : fs::path(path).lexically_relative(folder)) {
        const std::string name = part.string();
        if (!name.empty() && name[0] == '.' && name != "." && name != "..")
            return true;
    }
    return false;
}

void checkVectors(const std::vector<float>& vectors, std::size_t images, const ImageEmbedder& embedder) {
    const std::size_t want = images * static_cast<std::size_t>(embedder.dim());
    if (vectors.size() != want)
        throw Error("the model " + embedder.modelId() + " gave " + std::to_string(vectors.size()) + " numbers for " +
                    std::to_string(images) + " images of " + std::to_string(embedder.dim()) + " each");
}

// One indexing run over one folder: what is settled so far and the batch in progress.
class Run {
  public:
    Run(library::EmbeddingStore& store, const ImageEmbedder& embedder, const IndexOptions& options, IndexReport& report)
        : store_(store), embedder_(embedder), options_(options), report_(report), dim_(embedder.dim()) {}

    // Settles `path` (needing work: not unchanged with a vector) or adds it to the batch.
    void take(const std::string& path, const FileStamp& stamp, const KnownImage* known);
    // Whether the batch in progress should be embedded and written now.
    bool full() const {
        return static_cast<int>(images_.size()) >= std::max(options_.batch_size, 1) ||
               pixels_ >= options_.max_batch_pixels || items_.size() + failures_.size() >= kMaxEntries;
    }
    // Embeds the batch's images (unless `embed` is false: a cancelled run drops them) and writes
    // everything settled in one transaction. Returns the files it settled.
    int flush(bool embed);

  private:
    // Records without a new image: a batch of renamed files is still written now and then.
    static constexpr std::size_t kMaxEntries = 256;
    enum class Kind { Added, Changed, Reused, Touched };
    struct Item {
        library::VectorBatch::Entry entry;
        Kind kind = Kind::Added;
        bool needs_vector = true;   // false: the record only (content unchanged)
        std::ptrdiff_t image = -1;  // its image in images_, to be embedded
        std::ptrdiff_t copy_of = -1;  // the item in this batch with the same content
    };

    library::EmbeddingStore& store_;
    const ImageEmbedder& embedder_;
    const IndexOptions& options_;
    IndexReport& report_;
    const int dim_;
    std::vector<Item> items_;
    std::vector<RgbImage> images_;
    std::unordered_map<std::string, std::size_t> pending_content_;  // sha256 -> item embedding it
    std::vector<library::UnreadableFile> failures_;
    std::int64_t pixels_ = 0;
};

void Run::take(const std::string& path, const FileStamp& stamp, const KnownImage* known) {
    const std::string& model = report_.model;
    Item item;
    try {
        // A record of this very file (unchanged) keeps its hash: a vector of that content
        // (another path's) is taken without reading the file.
        if (known && sameStamp(known->image, stamp)) {
            if (auto v = store_.vectorByContent(known->image.sha256, model)) {
                item.entry = {known->image, std::move(*v)};
                item.kind = Kind::Reused;
                items_.push_back(std::move(item));
                return;
            }
        }
        const std::string bytes = library::readFileBytes(path, options_.max_file_bytes);
        ImageRecord& record = item.entry.image;
        record.path = path;
        record.size = stamp.size;
        record.mtime_ns = stamp.mtime_ns;
        record.sha256 = hub::sha256Bytes(bytes.data(), bytes.size());
        const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
        if (auto header = readImageHeader(data, bytes.size())) {
            record.width = header->width;
            record.height = header->height;
        }
        const bool indexed = known && known->has_vector;
        if (indexed && known->image.sha256 == record.sha256) {  // touched, not changed
            record.width = known->image.width;
            record.height = known->image.height;
            item.kind = Kind::Touched;
            item.needs_vector = false;
            items_.push_back(std::move(item));
            return;
        }
        item.kind = indexed ? Kind::Changed : Kind::Added;
        if (auto v = store_.vectorByContent(record.sha256, model)) {
            item.entry.vector = std::move(*v);
            item.kind = Kind::Reused;
        } else if (auto same = pending_content_.find(record.sha256); same != pending_content_.end()) {
            item.copy_of = static_cast<std::ptrdiff_t>(same->second);
            record.width = items_[same->second].entry.image.width;
            record.height = items_[same->second].entry.image.height;
            item.kind = Kind::Reused;
        } else {
            ImageDecodeOptions decode;
            decode.max_pixels = options_.max_pixels;
            RgbImage image;
            try {
                image = decodeImageBytes(data, bytes.size(), fs::path(path).filename().string(), decode);
            } catch (const Error& e) {
                throw FileProblem(e.what());
            }
            record.width = image.width;
            record.height = image.height;
            pixels_ += static_cast<std::int64_t>(image.width) * image.height;
            item.image = static_cast<std::ptrdiff_t>(images_.size());
            images_.push_back(std::move(image));
            pending_content_[record.sha256] = items_.size();
        }
        items_.push_back(std::move(item));
    } catch (const FileProblem& e) {
        const std::string reason = library::fileMessage(path, e.what());
        failures_.push_back({path, stamp.size, stamp.mtime_ns, reason});
        report_.failed.push_back({path, reason, false});
    }
}

int Run::flush(bool embed) {
    if (embed && !images_.empty()) {
        const std::vector<float> vectors = embedder_.embedImages(images_);
        checkVectors(vectors, images_.size(), embedder_);
        for (auto& it : items_)
            if (it.image >= 0) {
                const auto first = vectors.begin() + it.image * dim_;
                it.entry.vector.assign(first, first + dim_);
            }
        for (auto& it : items_)
            if (it.copy_of >= 0)
                it.entry.vector = items_[static_cast<std::size_t>(it.copy_of)].entry.vector;
    }
    library::VectorBatch batch;
    batch.unreadable = std::move(failures_);
    std::vector<Kind> kinds;
    for (auto& it : items_) {
        if (it.needs_vector && it.entry.vector.empty())
            continue;  // its image was not embedded (a cancelled run): the next run takes it
        kinds.push_back(it.kind);
        batch.entries.push_back(std::move(it.entry));
    }
    if (!batch.entries.empty() || !batch.unreadable.empty())
        store_.write(report_.model, dim_, batch);
    for (Kind k : kinds) {
        switch (k) {
        case Kind::Added: ++report_.added; break;
        case Kind::Changed: ++report_.changed; break;
        case Kind::Reused: ++report_.reused; break;
        case Kind::Touched: ++report_.unchanged; break;
        }
    }
    const int settled = static_cast<int>(kinds.size() + batch.unreadable.size());
    items_.clear();
    images_.clear();
    pending_content_.clear();
    failures_.clear();
    pixels_ = 0;
    return settled;
}

} // namespace

std::string normalPath(const std::string& path) {
    std::error_code ec;
    std::string p = fs::absolute(path, ec).lexically_normal().string();
    if (ec)
        p = fs::path(path).lexically_normal().string();
    while (p.size() > 1 && p.back() == '/')
        p.pop_back();
    return p;
}

ImageIndex::ImageIndex(library::LibraryDb& db) : store_(db) {}

ImageIndex::~ImageIndex() = default;

IndexReport ImageIndex::update(const std::string& folder, const ImageEmbedder& embedder,
                               const std::function<void(const IndexProgress&)>& progress,
                               const std::atomic<bool>* cancel, const IndexOptions& options) {
    const auto start = Clock::now();
    IndexReport report;
    report.folder = normalPath(folder);
    std::error_code ec;
    const auto status = fs::status(report.folder, ec);
    if (!fs::exists(status))
        throw Error("the folder " + folder + " does not exist");
    if (!fs::is_directory(status))
        throw Error(folder + " is not a folder (index the folder it is in)");
    report.model = embedder.modelId();
    if (embedder.dim() <= 0)
        throw Error("the model " + report.model + " gives vectors of " + std::to_string(embedder.dim()) + " numbers");
    const std::vector<std::string> files = library::listImageFiles({report.folder}, true);  // sorted
    report.files = static_cast<int>(files.size());
    store_.addFolder(report.folder, report.model);

    std::unordered_map<std::string, KnownImage> known;
    for (auto& k : store_.imagesUnder(report.folder, report.model))
        known.emplace(k.image.path, std::move(k));
    std::unordered_map<std::string, library::UnreadableFile> unreadable;
    for (auto& u : store_.unreadableUnder(report.folder))
        unreadable.emplace(u.path, std::move(u));

    // First what needs no work at all, by size and modification time alone: the files
    // indexed and unchanged, and those that failed before and are unchanged since.
    struct Work {
        const std::string* path;
        FileStamp stamp;
        const KnownImage* known;
    };
    std::vector<Work> work;
    for (const std::string& path : files) {
        FileStamp stamp;
        try {
            stamp = library::fileStamp(path);
        } catch (const FileProblem& e) {  // gone or unreadable since the listing
            report.failed.push_back({path, library::fileMessage(path, e.what()), false});
            continue;
        }
        const auto k = known.find(path);
        const KnownImage* kp = k == known.end() ? nullptr : &k->second;
        if (kp && kp->has_vector && sameStamp(kp->image, stamp)) {
            ++report.unchanged;
            continue;
        }
        if (const auto u = unreadable.find(path);
            !options.retry_unreadable && u != unreadable.end() && sameStamp(u->second, stamp)) {
            report.failed.push_back({path, u->second.reason, true});
            continue;
        }
        work.push_back({&path, stamp, kp});
    }

    const int total = report.files;
    int done = total - static_cast<int>(work.size());
    int work_done = 0;
    const auto work_start = Clock::now();
    auto report_progress = [&](const std::string& current) {
        if (!progress)
            return;
        IndexProgress p;
        p.done = done;
        p.total = total;
        p.current = current;
        p.elapsed_s = secondsSince(start);
        if (work_done > 0)
            p.eta_s = secondsSince(work_start) / work_done * static_cast<double>(work.size() - work_done);
        else if (work.empty())
            p.eta_s = 0;
        progress(p);
    };

    Run run(store_, embedder, options, report);
    auto settle = [&](bool embed) {
        const int n = run.flush(embed);
        done += n;
        work_done += n;
    };
    for (const Work& w : work) {
        if (cancel && cancel->load()) {
            report.cancelled = true;
            break;
        }
        report_progress(*w.path);
        run.take(*w.path, w.stamp, w.known);
        if (run.full())
            settle(true);
    }
    settle(!report.cancelled);

    // Files gone from the folder leave its index; only after a whole run, so a file renamed
    // but not reached yet still finds its vector by content next time.
    if (!report.cancelled) {
        std::vector<std::int64_t> gone;
        for (const auto& [path, k] : known)
            if (k.has_vector && !std::binary_search(files.begin(), files.end(), path) &&
                !hiddenBelow(report.folder, path))
                gone.push_back(k.image.id);
        store_.removeVectors(report.model, gone);
        report.removed = static_cast<int>(gone.size());
        std::vector<std::string> forgotten;
        for (const auto& [path, u] : unreadable)
            if (!std::binary_search(files.begin(), files.end(), path))
                forgotten.push_back(path);
        store_.removeUnreadable(forgotten);
        store_.markIndexed(report.folder, report.model);
    }
    std::sort(report.failed.begin(), report.failed.end(),
              [](const IndexFailure& a, const IndexFailure& b) { return a.path < b.path; });
    report_progress("");
    report.seconds = secondsSince(start);
    return report;
}

const library::VectorMatrix& ImageIndex::matrix(const std::string& model_id) {
    const std::int64_t version = store_.version(model_id);
    if (cache_.model != model_id || cache_.version != version) {
        cache_ = {};  // the old matrix goes before the new one is read
        cache_ = store_.load(model_id);
    }
    return cache_;
}

std::vector<ImageMatch> ImageIndex::search(const std::string& model_id, const std::vector<float>& query, int top,
                                           const std::string& exclude_path, const std::vector<std::string>& folders) {
    const library::VectorMatrix& m = matrix(model_id);
    if (m.rows() == 0)
        return {};
    if (query.size() != static_cast<std::size_t>(m.dim))
        throw Error("the query vector has " + std::to_string(query.size()) + " numbers, but the vectors indexed for " +
                    model_id + " have " + std::to_string(m.dim) + " (a vector of another model?)");
    double norm = 0;
    for (float v : query)
        norm += static_cast<double>(v) * v;
    norm = std::sqrt(norm);
    if (!(norm > 0) || !std::isfinite(norm))
        throw Error("the query vector is all zeros or not finite");
    std::vector<float> unit(query.size());
    for (std::size_t i = 0; i < query.size(); ++i)
        unit[i] = static_cast<float>(query[i] / norm);

    // Rows are sorted by path: the images under a folder are one run of rows.
    std::vector<std::pair<std::size_t, std::size_t>> ranges;
    for (const auto& f : folders) {
        const auto [first, last] = library::pathRangeUnder(normalPath(f));
        const auto a = std::lower_bound(m.paths.begin(), m.paths.end(), first);
        const auto b = std::lower_bound(m.paths.begin(), m.paths.end(), last);
        if (a < b)
            ranges.emplace_back(a - m.paths.begin(), b - m.paths.begin());
    }
    if (!folders.empty()) {
        if (ranges.empty())
            return {};
        std::sort(ranges.begin(), ranges.end());
        std::vector<std::pair<std::size_t, std::size_t>> merged;  // nested folders overlap
        for (const auto& r : ranges)
            if (!merged.empty() && r.first <= merged.back().second)
                merged.back().second = std::max(merged.back().second, r.second);
            else
                merged.push_back(r);
        ranges = std::move(merged);
    }
    std::size_t skip = SIZE_MAX;
    if (!exclude_path.empty()) {
        const std::string ex = normalPath(exclude_path);
        const auto it = std::lower_bound(m.paths.begin(), m.paths.end(), ex);
        if (it != m.paths.end() && *it == ex)
            skip = static_cast<std::size_t>(it - m.paths.begin());
    }
    const std::size_t want = top <= 0 ? m.rows() : std::min<std::size_t>(static_cast<std::size_t>(top), m.rows());
    const auto best = topRowsByDot(m.data.data(), m.rows(), static_cast<std::size_t>(m.dim), unit.data(), want,
                                   ranges, skip);
    std::vector<ImageMatch> out;
    out.reserve(best.size());
    for (const auto& r : best)
        out.push_back({m.paths[r.row], r.score, m.widths[r.row], m.heights[r.row]});
    return out;
}

std::optional<std::vector<float>> ImageIndex::storedVector(const std::string& model_id, const std::string& path) {
    const std::string p = normalPath(path);
    auto stored = store_.vectorOf(p, model_id);
    if (!stored)
        return std::nullopt;
    std::error_code ec;
    if (!fs::exists(p, ec))
        return std::move(stored->vector);  // gone: the vector is all there is of it
    try {
        if (sameStamp(stored->image, library::fileStamp(p)))
            return std::move(stored->vector);
    } catch (const FileProblem&) {
    }
    return std::nullopt;  // changed since it was indexed
}

std::vector<float> ImageIndex::imageVector(const std::string& path, const ImageEmbedder& embedder) {
    if (auto v = storedVector(embedder.modelId(), path))
        return std::move(*v);
    std::vector<RgbImage> images;
    images.push_back(decodeImageFile(path));
    std::vector<float> v = embedder.embedImages(images);
    checkVectors(v, 1, embedder);
    return v;
}

std::vector<ImageMatch> ImageIndex::similar(const std::string& path, const ImageEmbedder& embedder, int top,
                                            const std::vector<std::string>& folders) {
    return search(embedder.modelId(), imageVector(path, embedder), top, path, folders);
}

int ImageIndex::count(const std::string& model_id) {
    return store_.count(model_id);
}

std::vector<library::IndexedFolder> ImageIndex::folders(const std::string& model_id) {
    return store_.folders(model_id);
}

int ImageIndex::removeFolder(const std::string& folder, const std::string& model_id) {
    return store_.removeFolder(normalPath(folder), model_id);
}

} // namespace vqa::retrieval
