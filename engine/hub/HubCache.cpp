#include "engine/hub/HubCache.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

#include "models/base/Error.h"

namespace fs = std::filesystem;

namespace vqa::hub {

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

fs::path expandHome(const std::string& p) {
    if (p.size() >= 1 && p[0] == '~') {
        const std::string home = env("HOME");
        if (!home.empty())
            return fs::path(home + p.substr(1));
    }
    return fs::path(p);
}

bool isTrue(std::string v) {
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
    return v == "1" || v == "true" || v == "yes" || v == "on";
}

std::string readFirstLine(const fs::path& p) {
    std::ifstream in(p);
    std::string line;
    std::getline(in, line);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
        line.pop_back();
    return line;
}

bool isCommitHash(const std::string& s) {
    return s.size() == 40 &&
           std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

bool snapshotLoadable(const fs::path& dir) {
    std::error_code ec;
    if (!fs::is_regular_file(dir / "config.json", ec)) // follows the link to the blob
        return false;
    for (const auto& entry : fs::directory_iterator(dir, ec))
        if (entry.path().extension() == ".safetensors" && fs::is_regular_file(entry.path(), ec))
            return true;
    return false;
}

} // namespace

fs::path defaultCacheDir() {
    if (auto v = env("HF_HUB_CACHE"); !v.empty())
        return expandHome(v);
    if (auto v = env("HUGGINGFACE_HUB_CACHE"); !v.empty()) // the older name
        return expandHome(v);
    if (auto v = env("HF_HOME"); !v.empty())
        return expandHome(v) / "hub";
    if (auto v = env("XDG_CACHE_HOME"); !v.empty())
        return expandHome(v) / "huggingface" / "hub";
    return expandHome("~") / ".cache" / "huggingface" / "hub";
}

std::string defaultEndpoint() {
    std::string e = env("VQA_HUB_ENDPOINT");
    if (e.empty())
        e = env("HF_ENDPOINT");
    if (e.empty())
        e = "https://huggingface.co";
    while (!e.empty() && e.back() == '/')
        e.pop_back();
    return e;
}

bool offlineModeRequested() {
    return isTrue(env("HF_HUB_OFFLINE")) || isTrue(env("TRANSFORMERS_OFFLINE"));
}

void validateRepoId(const std::string& repo_id) {
    const auto slash = repo_id.find('/');
    auto ok_part = [](const std::string& s) {
        return !s.empty() && s != "." && s != ".." && s.find("--") == std::string::npos &&
               std::all_of(s.begin(), s.end(), [](unsigned char c) {
                   return std::isalnum(c) || c == '-' || c == '_' || c == '.';
               });
    };
    if (slash == std::string::npos || !ok_part(repo_id.substr(0, slash)) ||
        !ok_part(repo_id.substr(slash + 1)))
        throw Error("'" + repo_id +
                    "' is not a Hugging Face model id: expected 'organisation/name', "
                    "for example HuggingFaceTB/SmolVLM-256M-Instruct");
}

std::string repoFolderName(const std::string& repo_id) {
    validateRepoId(repo_id);
    std::string name = "models--" + repo_id;
    name.replace(name.find('/'), 1, "--");
    return name;
}

std::vector<CachedModel> listCachedModels(const fs::path& cache_dir) {
    std::vector<CachedModel> result;
    std::error_code ec;
    for (const auto& repo : fs::directory_iterator(cache_dir, ec)) {
        const std::string folder = repo.path().filename().string();
        if (!repo.is_directory(ec) || folder.rfind("models--", 0) != 0)
            continue;
        std::string id = folder.substr(8);
        const auto sep = id.find("--");
        if (sep == std::string::npos)
            continue;
        id.replace(sep, 2, "/");

        CachedModel m;
        m.repo_id = id;
        m.commit = readFirstLine(repo.path() / "refs" / "main");
        if (m.commit.empty() || !fs::is_directory(repo.path() / "snapshots" / m.commit, ec)) {
            // No main ref (a download by commit): take the newest snapshot.
            fs::file_time_type newest{};
            m.commit.clear();
            for (const auto& snap : fs::directory_iterator(repo.path() / "snapshots", ec)) {
                auto t = snap.last_write_time(ec);
                if (m.commit.empty() || t > newest) {
                    newest = t;
                    m.commit = snap.path().filename().string();
                }
            }
        }
        if (!m.commit.empty()) {
            m.snapshot = repo.path() / "snapshots" / m.commit;
            for (auto it = fs::recursive_directory_iterator(m.snapshot, ec);
                 !ec && it != fs::end(it); it.increment(ec)) {
                std::error_code size_ec;
                if (it->is_regular_file(size_ec)) { // follows links; a dangling link is skipped
                    m.bytes += it->file_size(size_ec);
                    ++m.files;
                }
            }
            ec.clear();
            m.loadable = snapshotLoadable(m.snapshot);
        }
        for (const auto& blob : fs::directory_iterator(repo.path() / "blobs", ec))
            if (blob.path().extension() == ".incomplete")
                m.partial_bytes += blob.file_size(ec);
        ec.clear();
        result.push_back(std::move(m));
    }
    std::sort(result.begin(), result.end(),
              [](const auto& a, const auto& b) { return a.repo_id < b.repo_id; });
    return result;
}

std::optional<fs::path> cachedSnapshot(const std::string& repo_id, const std::string& revision,
                                       const fs::path& cache_dir) {
    const fs::path repo = cache_dir / repoFolderName(repo_id);
    std::string commit =
        isCommitHash(revision) ? revision : readFirstLine(repo / "refs" / revision);
    if (commit.empty())
        return std::nullopt;
    fs::path snap = repo / "snapshots" / commit;
    if (!snapshotLoadable(snap))
        return std::nullopt;
    return snap;
}

} // namespace vqa::hub
