#include "engine/hub/HubClient.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engine/hub/Checksum.h"
#include "engine/io/AtomicFile.h"
#include "engine/net/Curl.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace vqa::hub {

namespace {

using net::CurlPtr;
using net::SlistPtr;
using net::appendToString;
using net::curlMessage;
using net::isTransient;
using net::isUnreachable;

std::string envOr(const char* name, const std::string& fallback = {}) {
    const char* v = std::getenv(name);
    return v && *v ? std::string(v) : fallback;
}

std::string readToken() {
    if (auto t = envOr("HF_TOKEN"); !t.empty())
        return t;
    if (auto t = envOr("HUGGING_FACE_HUB_TOKEN"); !t.empty())
        return t;
    fs::path file;
    if (auto p = envOr("HF_TOKEN_PATH"); !p.empty())
        file = p;
    else if (auto h = envOr("HF_HOME"); !h.empty())
        file = fs::path(h) / "token";
    else
        file =
            fs::path(envOr("XDG_CACHE_HOME", envOr("HOME") + "/.cache")) / "huggingface" / "token";
    std::ifstream in(file);
    std::string token;
    std::getline(in, token);
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
        token.pop_back();
    return token;
}

// Percent-encodes everything but unreserved characters (and '/' when `keep_slash`).
std::string urlEncode(const std::string& s, bool keep_slash) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
            (keep_slash && c == '/')) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

[[noreturn]] void throwOffline(const std::string& endpoint, const std::string& detail) {
    throw HubOfflineError(
        "Cannot reach the Hugging Face Hub at " + endpoint + " (" + detail +
        "). Check the internet connection or proxy settings (or HF_ENDPOINT, if you "
        "use a mirror); models already downloaded stay usable without a connection.");
}

// A person-readable reason for an HTTP error from the Hub, with its own message if it gave one.
std::string httpProblem(long status, const std::string& body) {
    std::string detail;
    try {
        auto j = nlohmann::json::parse(body);
        if (j.is_object() && j.contains("error") && j["error"].is_string())
            detail = j["error"].get<std::string>();
    } catch (...) {
    }
    std::string what;
    switch (status) {
    case 401:
        what = "not found, or private (HTTP 401): check the model id; for a private model set "
               "HF_TOKEN";
        break;
    case 403:
        what = "access refused (HTTP 403): the model is gated; accept its conditions on its Hub "
               "page and "
               "set HF_TOKEN to an access token";
        break;
    case 404:
        what = "not found (HTTP 404): check the model id and revision";
        break;
    case 429:
        what = "too many requests (HTTP 429): wait a minute and try again";
        break;
    default:
        what = status >= 500 ? "the server had a problem (HTTP " + std::to_string(status) +
                                   "); try again later"
                             : "the server answered HTTP " + std::to_string(status);
    }
    if (!detail.empty())
        what += " — the Hub says: " + detail;
    return what;
}

CurlPtr newHandle(const HubClient::Options& o, char* errbuf, curl_slist* headers) {
    CurlPtr c = net::newCurlHandle();
    curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, errbuf);
    errbuf[0] = '\0';
    curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 1L); // LFS files redirect to a CDN
    curl_easy_setopt(c.get(), CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c.get(), CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT, o.connect_timeout_s);
    curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_TIME, o.stall_timeout_s);
    curl_easy_setopt(c.get(), CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c.get(), CURLOPT_USERAGENT, "vqa-studio (libcurl)");
    // curl drops an Authorization header when a redirect leaves the host, so the token
    // never reaches the CDN.
    curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers);
    return c;
}

SlistPtr authHeaders(const std::string& token) {
    curl_slist* list = nullptr;
    if (!token.empty())
        list = curl_slist_append(list, ("Authorization: Bearer " + token).c_str());
    return SlistPtr(list);
}


// One file's transfer into its .incomplete blob.
struct FileTransfer {
    CURL* curl = nullptr;
    std::FILE* out = nullptr;
    std::uint64_t offset = 0;  // bytes already on disk when this request started
    std::uint64_t written = 0; // bytes this request wrote
    long status = 0;
    bool status_known = false;
    int write_errno = 0;
    std::string error_body;
    const std::atomic<bool>* pause = nullptr;
    // progress
    const ProgressCallback* progress = nullptr;
    DownloadProgress* state = nullptr;
    std::uint64_t bytes_before_file = 0;
    Clock::time_point last_report{};
    Clock::time_point rate_time{};
    std::uint64_t rate_bytes = 0;

    std::uint64_t onDisk() const { return offset + written; }

    void report(bool force) {
        if (!progress || !*progress)
            return;
        const auto now = Clock::now();
        if (!force && now - last_report < std::chrono::milliseconds(100))
            return;
        const double dt = std::chrono::duration<double>(now - rate_time).count();
        if (dt >= 0.5) {
            const double rate = static_cast<double>(onDisk() - rate_bytes) / dt;
            state->bytes_per_second =
                state->bytes_per_second == 0 ? rate : 0.6 * rate + 0.4 * state->bytes_per_second;
            rate_time = now;
            rate_bytes = onDisk();
        }
        last_report = now;
        state->file_bytes = onDisk();
        state->bytes = bytes_before_file + onDisk();
        (*progress)(*state);
    }
};

size_t writeToFile(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<FileTransfer*>(user);
    const size_t len = size * n;
    if (!t->status_known) {
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
        t->status_known = true;
        if (t->status == 200 && t->offset > 0) {
            // The server ignored our range request and sends the whole file: start over.
            if (ftruncate(fileno(t->out), 0) != 0 || std::fseek(t->out, 0, SEEK_SET) != 0) {
                t->write_errno = errno;
                return 0;
            }
            t->offset = 0;
        }
    }
    if (t->status >= 300) {
        if (t->error_body.size() < 4096)
            t->error_body.append(data, std::min<size_t>(len, 4096));
        return len;
    }
    if (std::fwrite(data, 1, len, t->out) != len) {
        t->write_errno = errno;
        return 0;
    }
    t->written += len;
    return len;
}

int onTransferProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* t = static_cast<FileTransfer*>(user);
    if (t->pause && t->pause->load())
        return 1; // aborts the transfer; what was written stays for a resume
    t->report(false);
    return 0;
}

// An exclusive lock on one blob, in <cache>/.locks/ where huggingface_hub keeps its own,
// so two programs never write the same file.
class BlobLock {
  public:
    BlobLock(const fs::path& lock_path, const std::string& what) {
        std::error_code ec;
        fs::create_directories(lock_path.parent_path(), ec);
        fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0)
            return; // a read-only cache: no lock, the download itself will say what fails
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            ::close(fd_);
            fd_ = -1;
            throw Error("Another program is downloading " + what + " right now (it holds " +
                        lock_path.string() +
                        "); wait for it to finish, or close it and try again.");
        }
    }
    ~BlobLock() {
        if (fd_ >= 0)
            ::close(fd_); // releases the lock
    }
    BlobLock(const BlobLock&) = delete;
    BlobLock& operator=(const BlobLock&) = delete;

  private:
    int fd_ = -1;
};

void linkIntoSnapshot(const fs::path& blob, const fs::path& link) {
    std::error_code ec;
    fs::create_directories(link.parent_path(), ec);
    if (ec)
        throw Error("Cannot create " + link.parent_path().string() + ": " + ec.message());
    const fs::path target = blob.lexically_relative(link.parent_path());
    if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec) == target)
        return;
    fs::remove(link, ec);
    fs::create_symlink(target, link, ec);
    if (ec) {
        // A file system without symbolic links: copy, as huggingface_hub does.
        fs::copy_file(blob, link, fs::copy_options::overwrite_existing, ec);
        if (ec)
            throw Error("Cannot place " + link.string() + " in the model cache: " + ec.message());
    }
}

} // namespace

bool isModelFile(const HubFile& file) {
    if (file.path.find('/') != std::string::npos)
        return false; // subfolders hold exports (onnx/) and alternatives, not what we load
    const fs::path p(file.path);
    const std::string ext = p.extension().string();
    return ext == ".json" || ext == ".safetensors" || ext == ".model" || ext == ".txt" ||
           ext == ".jinja" || file.path == "tokenizer.model";
}

HubClient::HubClient() : HubClient(Options{}) {}

HubClient::HubClient(Options options) : options_(std::move(options)) {
    while (!options_.endpoint.empty() && options_.endpoint.back() == '/')
        options_.endpoint.pop_back();
    if (options_.token.empty())
        options_.token = readToken();
}

RepoInfo HubClient::repoInfo(const std::string& repo_id, const std::string& revision) {
    validateRepoId(repo_id);
    if (options_.offline)
        throw HubOfflineError(
            "HF_HUB_OFFLINE is set, so VQA Studio does not contact the Hub to list " + repo_id +
            "; unset it to download.");
    const std::string url = options_.endpoint + "/api/models/" + urlEncode(repo_id, true) +
                            "/revision/" + urlEncode(revision, false) + "?blobs=true";
    char errbuf[CURL_ERROR_SIZE];
    auto headers = authHeaders(options_.token);
    auto curl = newHandle(options_, errbuf, headers.get());
    std::string body;
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT,
                     options_.connect_timeout_s + options_.stall_timeout_s);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, appendToString);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
    CURLcode code = CURLE_OK;
    for (int attempt = 0;; ++attempt) {
        body.clear();
        code = curl_easy_perform(curl.get());
        if (code == CURLE_OK || isUnreachable(code) || !isTransient(code) || attempt >= 2)
            break;
    }
    if (isUnreachable(code))
        throwOffline(options_.endpoint, curlMessage(code, errbuf));
    if (code != CURLE_OK)
        throw Error("Listing the files of " + repo_id + " at " + url +
                    " failed: " + curlMessage(code, errbuf));
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        throw Error("Model " + repo_id + " (revision " + revision + ") on " + options_.endpoint +
                    ": " + httpProblem(status, body));

    RepoInfo info;
    info.repo_id = repo_id;
    try {
        const auto j = nlohmann::json::parse(body);
        info.commit = j.at("sha").get<std::string>();
        for (const auto& s : j.at("siblings")) {
            HubFile f;
            f.path = s.at("rfilename").get<std::string>();
            f.size = s.value("size", std::uint64_t{0});
            f.blob_id = s.value("blobId", std::string());
            if (s.contains("lfs") && s["lfs"].is_object()) {
                f.lfs_sha256 = s["lfs"].value("sha256", std::string());
                f.size = s["lfs"].value("size", f.size);
            }
            info.files.push_back(std::move(f));
        }
    } catch (const nlohmann::json::exception& e) {
        throw Error("The Hub at " + options_.endpoint + " answered the file listing of " + repo_id +
                    " with something that is not the expected JSON (" + e.what() + ")");
    }
    const bool safe_commit =
        info.commit.size() >= 7 && info.commit.find_first_of("/\\.") == std::string::npos;
    if (!safe_commit)
        throw Error("The Hub at " + options_.endpoint + " gave '" + info.commit +
                    "' as the commit of " + repo_id + ", which is not a commit hash");
    for (const auto& f : info.files) {
        const fs::path p(f.path);
        const bool escapes =
            p.is_absolute() ||
            std::any_of(p.begin(), p.end(), [](const fs::path& c) { return c == ".."; });
        if (escapes || f.path.empty())
            throw Error("The Hub listed a file named '" + f.path + "' in " + repo_id +
                        ", which VQA Studio refuses to write");
        if (f.blobName().empty() || f.blobName().find_first_of("/\\.") != std::string::npos)
            throw Error("The Hub gave no usable checksum for " + f.path + " of " + repo_id);
    }
    return info;
}

DownloadResult HubClient::download(const std::string& repo_id, const std::string& revision,
                                   const ProgressCallback& progress, const FileFilter& filter) {
    pause_.store(false);
    const fs::path repo_dir = options_.cache_dir / repoFolderName(repo_id);
    DownloadResult result;

    if (options_.offline) {
        if (auto snap = cachedSnapshot(repo_id, revision, options_.cache_dir)) {
            result.complete = true;
            result.snapshot = *snap;
            result.commit = snap->filename().string();
            return result;
        }
        throw HubOfflineError("HF_HUB_OFFLINE is set and " + repo_id +
                              " is not in the model cache (" + options_.cache_dir.string() +
                              "); unset HF_HUB_OFFLINE to download it.");
    }

    DownloadProgress state;
    if (progress)
        progress(state); // Listing
    RepoInfo info;
    try {
        info = repoInfo(repo_id, revision);
    } catch (const HubOfflineError& e) {
        if (auto snap = cachedSnapshot(repo_id, revision, options_.cache_dir))
            throw HubOfflineError(std::string(e.what()) + " " + repo_id +
                                  " is already downloaded, in " + snap->string() + ".");
        throw;
    }
    std::vector<HubFile> files;
    for (const auto& f : info.files)
        if (!filter || filter(f))
            files.push_back(f);
    if (files.empty())
        throw Error(
            repo_id +
            " has no files this program can load (config.json, *.safetensors, tokenizer files)");

    const fs::path blobs = repo_dir / "blobs";
    const fs::path snapshot = repo_dir / "snapshots" / info.commit;
    const fs::path locks = options_.cache_dir / ".locks" / repoFolderName(repo_id);
    std::error_code ec;
    fs::create_directories(blobs, ec);
    if (ec)
        throw Error("Cannot create the model cache folder " + blobs.string() + ": " + ec.message() +
                    ". Set HF_HUB_CACHE to a folder you can write to.");
    fs::create_directories(snapshot, ec);
    if (revision != info.commit)
        writeFileAtomically((repo_dir / "refs" / revision).string(), info.commit);

    result.commit = info.commit;
    result.snapshot = snapshot;
    state.file_count = static_cast<int>(files.size());
    for (const auto& f : files)
        state.total += f.size;

    std::uint64_t done_before = 0; // bytes of the files finished so far
    char errbuf[CURL_ERROR_SIZE];
    auto headers = authHeaders(options_.token);

    for (size_t i = 0; i < files.size(); ++i) {
        const HubFile& f = files[i];
        state.file = f.path;
        state.file_index = static_cast<int>(i);
        state.file_total = f.size;
        state.bytes_per_second = 0;
        const fs::path blob = blobs / f.blobName();
        const fs::path link = snapshot / f.path;

        std::error_code size_ec;
        if (fs::is_regular_file(blob, size_ec) && fs::file_size(blob, size_ec) == f.size) {
            // Blobs are named by their checksum and only renamed into place once checked.
            linkIntoSnapshot(blob, link);
            ++result.files_reused;
            done_before += f.size;
            state.phase = DownloadProgress::Phase::Downloading;
            state.file_bytes = f.size;
            state.bytes = done_before;
            if (progress)
                progress(state);
            continue;
        }

        BlobLock lock(locks / (f.blobName() + ".lock"), f.path + " of " + repo_id);
        const fs::path partial = blob.string() + ".incomplete";
        const std::string url = options_.endpoint + "/" + urlEncode(repo_id, true) + "/resolve/" +
                                urlEncode(info.commit, false) + "/" + urlEncode(f.path, true);
        state.phase = DownloadProgress::Phase::Downloading;

        bool have_all = false;
        std::string last_problem;
        for (int attempt = 0; attempt <= options_.retries && !have_all; ++attempt) {
            std::uint64_t offset =
                fs::exists(partial, size_ec) ? fs::file_size(partial, size_ec) : 0;
            if (offset > f.size) {
                fs::resize_file(partial, 0, size_ec);
                offset = 0;
            }
            if (offset == f.size) {
                have_all = true;
                break;
            }
            if (attempt > 0) {
                // Back off a little before resuming a broken transfer (not before the first retry).
                for (int ms = 0; ms < 1000 * std::min(attempt - 1, 5) && !pause_.load(); ms += 50)
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            if (pause_.load()) {
                result.complete = false;
                return result;
            }
            std::FILE* out = std::fopen(partial.c_str(), "ab");
            if (!out)
                throw Error("Cannot write " + partial.string() + ": " + std::strerror(errno) +
                            ". Set HF_HUB_CACHE to a folder you can write to.");
            auto curl = newHandle(options_, errbuf, headers.get());
            FileTransfer t;
            t.curl = curl.get();
            t.out = out;
            t.offset = offset;
            t.pause = &pause_;
            t.progress = &progress;
            t.state = &state;
            t.bytes_before_file = done_before;
            t.rate_time = Clock::now();
            t.rate_bytes = offset;
            const std::string range = std::to_string(offset) + "-";
            curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
            if (offset > 0)
                curl_easy_setopt(curl.get(), CURLOPT_RANGE, range.c_str());
            curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, writeToFile);
            curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &t);
            curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
            curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, onTransferProgress);
            curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &t);
            t.report(true);
            const CURLcode code = curl_easy_perform(curl.get());
            const bool closed_ok = std::fclose(out) == 0;
            long status = t.status;
            if (!t.status_known)
                curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
            result.bytes_transferred += t.written;
            t.report(true);

            if (code == CURLE_ABORTED_BY_CALLBACK && pause_.load()) {
                result.complete = false;
                return result;
            }
            if (code == CURLE_WRITE_ERROR || t.write_errno != 0 || !closed_ok)
                throw Error("Cannot write " + partial.string() + ": " +
                            std::strerror(t.write_errno ? t.write_errno : errno) +
                            " (is the disk full?). What was downloaded is kept; run the download "
                            "again to resume.");
            if (isUnreachable(code) && t.written == 0 && attempt == 0)
                throwOffline(options_.endpoint, curlMessage(code, errbuf));
            if (code == CURLE_OK && status == 416) {
                fs::resize_file(partial, 0, size_ec); // our partial file does not fit the server's
                last_problem = "the server refused to resume (HTTP 416)";
                continue;
            }
            if (code == CURLE_OK && status >= 300)
                throw Error("Downloading " + f.path + " of " + repo_id + " from " + url + ": " +
                            httpProblem(status, t.error_body));
            if (code != CURLE_OK && !isTransient(code))
                throw Error("Downloading " + f.path + " of " + repo_id + " from " + url +
                            " failed: " + curlMessage(code, errbuf));
            if (code != CURLE_OK)
                last_problem = curlMessage(code, errbuf);
            have_all = fs::file_size(partial, size_ec) == f.size;
            if (!have_all && code == CURLE_OK)
                last_problem = "the server sent " +
                               std::to_string(fs::file_size(partial, size_ec)) + " of " +
                               std::to_string(f.size) + " bytes";
        }
        if (!have_all)
            throw Error("Downloading " + f.path + " of " + repo_id + " broke off " +
                        std::to_string(options_.retries + 1) + " times (last: " + last_problem +
                        "). What was downloaded is kept; run the download again to resume.");

        state.phase = DownloadProgress::Phase::Verifying;
        state.file_bytes = f.size;
        state.bytes = done_before + f.size;
        state.bytes_per_second = 0;
        if (progress)
            progress(state);
        auto keep_going = [this](std::uint64_t) { return !pause_.load(); };
        const std::string actual = f.lfs_sha256.empty() ? gitBlobIdFile(partial, keep_going)
                                                        : sha256File(partial, keep_going);
        if (actual.empty()) { // paused while checking: the complete .incomplete file is checked
                              // next time
            result.complete = false;
            return result;
        }
        if (actual != f.blobName()) {
            fs::remove(partial, size_ec);
            throw Error(f.path + " of " + repo_id + " downloaded from " + url +
                        " does not match its checksum (" +
                        (f.lfs_sha256.empty() ? "git blob id " : "SHA-256 ") + "expected " +
                        f.blobName() + ", got " + actual +
                        "): it was damaged on the way and has been deleted. "
                        "Run the download again; if this keeps happening, a proxy may be altering "
                        "downloads.");
        }
        fs::rename(partial, blob, ec);
        if (ec)
            throw Error("Cannot move " + partial.string() + " into place: " + ec.message());
        linkIntoSnapshot(blob, link);
        ++result.files_downloaded;
        done_before += f.size;
    }

    state.phase = DownloadProgress::Phase::Done;
    state.file.clear();
    state.bytes = state.total;
    state.bytes_per_second = 0;
    if (progress)
        progress(state);
    result.complete = true;
    return result;
}

} // namespace vqa::hub
