// How much memory a model folder will take once loaded, from its safetensors headers alone
// (no weights read), against what the machine has, so the UI and CLI can warn before a load
// that may not fit and Engine::load can refuse one that cannot. Free of LibTorch and Qt.
#pragma once

#include <cstdint>
#include <string>

#include "engine/Types.h"

namespace vqa {

struct MemoryEstimate {
    enum class Verdict { Fits, Tight, TooLarge };
    std::int64_t parameters = 0;     // elements over all tensors
    std::int64_t stored_bytes = 0;   // tensor bytes in the files
    std::int64_t needed_bytes = 0;   // weights in the dtype they will run in, plus working room
    std::string device;              // "cpu" or "cuda"
    std::string dtype;               // "float32", "bfloat16", "float16"
    std::int64_t available_bytes = -1;  // free memory on that device now (-1: unknown)
    std::int64_t total_bytes = -1;      // all memory the process may use (-1: unknown)
    Verdict verdict = Verdict::Fits;
    std::string message;  // a sentence for people: what is needed, what there is, what to do
};

// The device and dtype Engine::load would choose for `options` (cuda and bfloat16 when a GPU
// is there and asked for or auto), the weights' size in that dtype plus ~5% and 256 MiB of
// working room (KV cache, activations), compared with the device's memory: on the CPU
// MemAvailable / MemTotal of /proc/meminfo, tightened by a cgroup limit; on CUDA the device's
// free and total memory when LibTorch's CUDA part can say. TooLarge: more than the device has
// at all; Tight: more than is free now (the system may swap or the load may fail).
// Throws vqa::Error when the folder holds no readable weights.
MemoryEstimate estimateMemory(const std::string& model_dir, const LoadOptions& options = {});

// The same from numbers, for tests and for other callers: `needed` against `available` and
// `total` (-1: unknown).
MemoryEstimate::Verdict memoryVerdict(std::int64_t needed, std::int64_t available, std::int64_t total);

std::string formatMemorySize(std::int64_t bytes);  // "3.9 GiB", "512 MiB"

}  // namespace vqa
