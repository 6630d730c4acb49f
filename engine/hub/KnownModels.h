// Models we know work with this build: what a newcomer picks from on first run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vqa::hub {

struct KnownModel {
    std::string repo_id;          // "HuggingFaceTB/SmolVLM-256M-Instruct"
    std::string name;             // "SmolVLM 256M Instruct"
    std::string family;           // model_type in config.json: "idefics3"
    std::string license;          // SPDX id: "Apache-2.0"
    std::uint64_t download_bytes; // about how much the download is (weights + tokenizer)
    std::uint64_t memory_bytes;   // about how much memory it needs on the CPU (fp32)
    std::string good_for;         // one sentence a person can choose by
    bool recommended = false;     // the one to offer first
};

const std::vector<KnownModel>& knownModels();

// nullptr when `repo_id` is not one of ours (compared without regard to case).
const KnownModel* findKnownModel(const std::string& repo_id);

// "1.2 GB", "513 MB", "12 kB": decimal units, as download sizes are shown on the Hub.
std::string formatBytes(std::uint64_t bytes);

} // namespace vqa::hub
