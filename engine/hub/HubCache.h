// The Hugging Face Hub cache on disk, in the layout huggingface_hub uses, so models that
// Python tools downloaded are found here and ours are found there:
//   <cache>/models--Org--Name/blobs/<sha256 or git blob id>      file contents
//   <cache>/models--Org--Name/blobs/<id>.incomplete              a download in progress
//   <cache>/models--Org--Name/snapshots/<commit>/<file>          relative links to blobs
//   <cache>/models--Org--Name/refs/<revision>                    the commit a branch names
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vqa::hub {

// $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub (the same order as huggingface_hub).
std::filesystem::path defaultCacheDir();

// $VQA_HUB_ENDPOINT, else $HF_ENDPOINT, else https://huggingface.co; no trailing slash.
std::string defaultEndpoint();

// $HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) set to 1/true/yes/on.
bool offlineModeRequested();

// "Org/Name" -> "models--Org--Name". Throws vqa::Error for ids that are not "org/name".
std::string repoFolderName(const std::string& repo_id);
void validateRepoId(const std::string& repo_id);

struct CachedModel {
    std::string repo_id;            // "HuggingFaceTB/SmolVLM-256M-Instruct"
    std::string commit;             // of refs/main, else of the newest snapshot
    std::filesystem::path snapshot; // the folder to load the model from
    std::uint64_t bytes = 0;        // of the files in that snapshot
    int files = 0;
    bool loadable = false;           // has config.json and safetensors weights
    std::uint64_t partial_bytes = 0; // in *.incomplete blobs: a paused download
};

// Every model repository in `cache_dir` (none when it does not exist), sorted by id.
// Reads only the disk.
std::vector<CachedModel>
listCachedModels(const std::filesystem::path& cache_dir = defaultCacheDir());

// The snapshot folder `revision` (a branch name or a commit) points to, if it is in the cache
// and loadable.
std::optional<std::filesystem::path>
cachedSnapshot(const std::string& repo_id, const std::string& revision = "main",
               const std::filesystem::path& cache_dir = defaultCacheDir());

} // namespace vqa::hub
