#include "engine/hub/KnownModels.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace vqa::hub {

const std::vector<KnownModel>& knownModels() {
    // Sizes are those of the files the downloader fetches (safetensors weights in bf16,
    // tokenizer and configuration), not of the whole repository (which also holds ONNX
    // exports). Memory is for fp32 on the CPU; bf16 on a GPU needs about half.
    static const std::vector<KnownModel> models = {
        {"HuggingFaceTB/SmolVLM-256M-Instruct", "SmolVLM 256M Instruct", "idefics3", "Apache-2.0",
         520'000'000ULL, 1'500'000'000ULL,
         "The smallest and fastest: captions and simple questions about photos and screenshots, "
         "quick even on a laptop CPU. Start here.",
         true},
        {"HuggingFaceTB/SmolVLM-500M-Instruct", "SmolVLM 500M Instruct", "idefics3", "Apache-2.0",
         1'030'000'000ULL, 2'500'000'000ULL,
         "Twice the size, noticeably better at reading text in images, charts and documents, "
         "and at detailed answers; slower on a CPU.",
         false},
        // The weights are float16 (three shards, 7.06 billion parameters); the licence is
        // Llama 2's community licence, which has no SPDX identifier.
        {"llava-hf/llava-1.5-7b-hf", "LLaVA 1.5 7B", "llava", "Llama 2 Community License",
         14'140'000'000ULL, 28'500'000'000ULL,
         "The classic LLaVA-1.5 (CLIP + Vicuna 7B): fuller answers about everyday scenes; "
         "meant for a GPU with 16 GB or more, very slow on a CPU.",
         false},
        // Qwen2.5-VL and Qwen2-VL: bf16 weights (3.75, 8.29 and 2.21 billion parameters),
        // sharded. The 3B's licence is Qwen's research licence (no commercial use), which has
        // no SPDX identifier; the 7B and the 2B are Apache-2.0.
        {"Qwen/Qwen2.5-VL-3B-Instruct", "Qwen2.5-VL 3B Instruct", "qwen2_5_vl", "Qwen Research License",
         7'520'000'000ULL, 15'500'000'000ULL,
         "Reads documents, screenshots, charts and receipts, and points at things: ask where "
         "something is and it draws boxes on the image. Best on a GPU with 12 GB or more.",
         false},
        {"Qwen/Qwen2.5-VL-7B-Instruct", "Qwen2.5-VL 7B Instruct", "qwen2_5_vl", "Apache-2.0",
         16'590'000'000ULL, 33'700'000'000ULL,
         "The larger Qwen2.5-VL: better at dense documents, small print and exact boxes; "
         "meant for a GPU with 24 GB or more, very slow on a CPU.",
         false},
        // The AWQ checkpoints Qwen publishes: the decoder's linears in 4 bits (groups of 128
        // with float16 scales), the rest in float16; sizes computed from the shapes. They run
        // their own 4 bits (q4_1) with 8-bit embeddings and a bfloat16 vision tower on the CPU.
        {"Qwen/Qwen2.5-VL-3B-Instruct-AWQ", "Qwen2.5-VL 3B Instruct (AWQ, 4-bit)", "qwen2_5_vl",
         "Qwen Research License", 3'400'000'000ULL, 4'500'000'000ULL,
         "Qwen2.5-VL 3B already in 4 bits: the same documents, charts and boxes in a third of the "
         "memory; runs on a laptop CPU.",
         false},
        {"Qwen/Qwen2.5-VL-7B-Instruct-AWQ", "Qwen2.5-VL 7B Instruct (AWQ, 4-bit)", "qwen2_5_vl", "Apache-2.0",
         6'900'000'000ULL, 7'500'000'000ULL,
         "The larger Qwen2.5-VL already in 4 bits: fits a 16 GB laptop without a GPU.",
         false},
        // Qwen3-VL (dense): bf16 weights of 2.13, 4.44 and 8.77 billion parameters, Apache-2.0.
        {"Qwen/Qwen3-VL-2B-Instruct", "Qwen3-VL 2B Instruct", "qwen3_vl", "Apache-2.0",
         4'260'000'000ULL, 9'500'000'000ULL,
         "The current Qwen generation at its smallest: strong at reading text, documents and "
         "screenshots, names boxes on the image; runs on a laptop CPU, best in 8-bit (--dtype int8).",
         false},
        {"Qwen/Qwen3-VL-4B-Instruct", "Qwen3-VL 4B Instruct", "qwen3_vl", "Apache-2.0",
         8'880'000'000ULL, 19'000'000'000ULL,
         "Qwen3-VL with more capacity: better reasoning about charts, small print and scenes; "
         "a GPU with 12 GB, or a CPU with 4-bit weights.",
         false},
        {"Qwen/Qwen3-VL-8B-Instruct", "Qwen3-VL 8B Instruct", "qwen3_vl", "Apache-2.0",
         17'540'000'000ULL, 36'000'000'000ULL,
         "The largest dense Qwen3-VL that fits one consumer GPU (24 GB in bf16); on a 16 GB "
         "laptop only with 4-bit weights.",
         false},
        {"Qwen/Qwen3-VL-2B-Thinking", "Qwen3-VL 2B Thinking", "qwen3_vl", "Apache-2.0",
         4'260'000'000ULL, 9'500'000'000ULL,
         "Qwen3-VL 2B that reasons step by step before it answers (the window shows the reasoning "
         "collapsed): slower, better on puzzles, counting and charts.",
         false},
        {"Qwen/Qwen2-VL-2B-Instruct", "Qwen2-VL 2B Instruct", "qwen2_vl", "Apache-2.0",
         4'430'000'000ULL, 9'300'000'000ULL,
         "The Qwen generation before 2.5, smaller and quicker: reads text in images well and "
         "names boxes too; usable on a CPU with patience.",
         false},
    };
    return models;
}

const KnownModel* findKnownModel(const std::string& repo_id) {
    auto lower = [](std::string s) {
        std::transform(s.begin(), s.end(), s.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        return s;
    };
    const std::string wanted = lower(repo_id);
    for (const auto& m : knownModels())
        if (lower(m.repo_id) == wanted)
            return &m;
    return nullptr;
}

std::string formatBytes(std::uint64_t bytes) {
    const char* units[] = {"B", "kB", "MB", "GB", "TB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1000.0 && unit < 4) {
        value /= 1000.0;
        ++unit;
    }
    char buf[32];
    if (unit == 0)
        std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
    else
        std::snprintf(buf, sizeof buf, value < 10.0 ? "%.1f %s" : "%.0f %s", value, units[unit]);
    return buf;
}

} // namespace vqa::hub
