// Downloads model repositories from the Hugging Face Hub (or a mirror: the endpoint is
// configurable) into the standard Hub cache (see HubCache.h). Plain C++ over libcurl; no Qt,
// so the CLI, the tests and the UI (from a worker thread) use the same code.
//
// A download lists the repository's files at one commit (with their sizes and checksums),
// keeps the ones a model needs, and fetches each into blobs/<id>.incomplete, resuming with an
// HTTP range request from where an earlier attempt stopped (paused, cut off, or crashed).
// A finished file is checked against the Hub's checksum (SHA-256 for LFS files, the git blob
// id for the others) before it is renamed to its blob and linked into the snapshot; a file
// that does not match is deleted and reported. Files already in the cache are reused.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "models/base/Error.h"
#include "engine/hub/HubCache.h"

namespace vqa::hub {

// The Hub could not be reached at all (no network, DNS failure, refused, timed out before
// connecting). The message says so and what to do; the UI may offer the cached models.
class HubOfflineError : public Error {
  public:
    using Error::Error;
};

struct HubFile {
    std::string path; // in the repository: "model.safetensors", "onnx/model.onnx"
    std::uint64_t size = 0;
    std::string blob_id;    // git object id (SHA-1)
    std::string lfs_sha256; // empty for files not in LFS

    // The name of its blob in the cache (what huggingface_hub uses: the ETag).
    const std::string& blobName() const { return lfs_sha256.empty() ? blob_id : lfs_sha256; }
};

struct RepoInfo {
    std::string repo_id;
    std::string commit; // the revision resolved to a commit hash
    std::vector<HubFile> files;
};

struct DownloadProgress {
    enum class Phase { Listing, Downloading, Verifying, Done };
    Phase phase = Phase::Listing;
    std::string file;   // the file being worked on
    int file_index = 0; // 0-based, of file_count
    int file_count = 0;
    std::uint64_t file_bytes = 0; // of `file`, on disk so far
    std::uint64_t file_total = 0;
    std::uint64_t bytes = 0; // of all files to fetch, on disk so far
    std::uint64_t total = 0;
    double bytes_per_second = 0; // recent transfer rate, 0 when not transferring
};

// Called on the downloading thread, at most every ~100 ms and at each file's end.
using ProgressCallback = std::function<void(const DownloadProgress&)>;

// Which files of a repository to fetch. The default keeps what the engine loads: top-level
// configuration, tokenizer and chat-template files and safetensors weights (and skips ONNX,
// GGUF, PyTorch pickles, images of the model card...).
using FileFilter = std::function<bool(const HubFile&)>;
bool isModelFile(const HubFile& file);

struct DownloadResult {
    bool complete = false;          // false: paused by requestPause(); run again to resume
    std::filesystem::path snapshot; // the folder to load the model from
    std::string commit;
    int files_downloaded = 0; // fetched (fully or the rest of a partial file)
    int files_reused = 0;     // already in the cache
    std::uint64_t bytes_transferred = 0;
};

class HubClient {
  public:
    struct Options {
        std::string endpoint = defaultEndpoint();
        std::filesystem::path cache_dir = defaultCacheDir();
        std::string token; // empty: $HF_TOKEN, else the file <HF_HOME>/token
        long connect_timeout_s = 15;
        long stall_timeout_s = 60; // give up on a transfer that makes no progress this long
        int retries = 4;           // resumed attempts per file after a cut connection
        bool offline = offlineModeRequested(); // HF_HUB_OFFLINE: use the cache only
    };

    HubClient();
    explicit HubClient(Options options);

    const Options& options() const { return options_; }

    // The repository's files at `revision` (a branch, tag or commit), with checksums.
    // Throws HubOfflineError when the Hub is unreachable, vqa::Error otherwise.
    RepoInfo repoInfo(const std::string& repo_id, const std::string& revision = "main");

    // Fetches what is missing of the repository into the cache. Blocking; run it on a worker
    // thread in a UI. With Options::offline, returns the cached snapshot or throws.
    DownloadResult download(const std::string& repo_id, const std::string& revision = "main",
                            const ProgressCallback& progress = {},
                            const FileFilter& filter = isModelFile);

    // Thread- and signal-safe: the running download stops soon, keeps what it has fetched
    // (a later download() resumes it) and returns with complete == false.
    void requestPause() { pause_.store(true); }

  private:
    Options options_;
    std::atomic<bool> pause_{false};
};

} // namespace vqa::hub
