#include "engine/MemoryEstimate.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <torch/torch.h>

#include "engine/Device.h"
#include "models/base/Error.h"
#include "engine/io/Checkpoint.h"

namespace vqa {

namespace {

// A /proc/meminfo field in bytes, -1 when absent.
std::int64_t meminfo(const std::string& key) {
    std::ifstream in("/proc/meminfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(key + ":", 0) == 0) {
            std::istringstream fields(line.substr(key.size() + 1));
            std::int64_t kib = -1;
            fields >> kib;
            return kib < 0 ? -1 : kib * 1024;
        }
    return -1;
}

// The cgroup v2 memory limit and current use of this process, -1 when none.
std::pair<std::int64_t, std::int64_t> cgroupMemory() {
    std::ifstream max("/sys/fs/cgroup/memory.max"), cur("/sys/fs/cgroup/memory.current");
    std::string limit;
    std::int64_t used = -1;
    if (!(max >> limit) || limit == "max")
        return {-1, -1};
    cur >> used;
    try {
        return {std::stoll(limit), used};
    } catch (const std::exception&) {
        return {-1, -1};
    }
}

std::int64_t dtypeBytes(torch::ScalarType t) { return static_cast<std::int64_t>(c10::elementSize(t)); }

}  // namespace

std::string formatMemorySize(std::int64_t bytes) {
    char buf[32];
    const double b = static_cast<double>(bytes);
    if (b >= (1ll << 30))
        std::snprintf(buf, sizeof buf, "%.1f GiB", b / (1ll << 30));
    else
        std::snprintf(buf, sizeof buf, "%.0f MiB", b / (1ll << 20));
    return buf;
}

MemoryEstimate::Verdict memoryVerdict(std::int64_t needed, std::int64_t available, std::int64_t total) {
    if (total >= 0 && needed > total)
        return MemoryEstimate::Verdict::TooLarge;
    if (available >= 0 && needed > available)
        return MemoryEstimate::Verdict::Tight;
    return MemoryEstimate::Verdict::Fits;
}

MemoryEstimate estimateMemory(const std::string& model_dir, const LoadOptions& options) {
    MemoryEstimate e;
    const bool cuda = options.device == DevicePreference::Cuda ||
                      (options.device == DevicePreference::Auto && cudaAvailable());
    torch::ScalarType dtype = cuda ? torch::kBFloat16 : torch::kFloat32;
    if (options.dtype == "float32")
        dtype = torch::kFloat32;
    else if (options.dtype == "bfloat16")
        dtype = torch::kBFloat16;
    else if (options.dtype == "float16")
        dtype = torch::kFloat16;
    e.device = cuda ? "cuda" : "cpu";
    e.dtype = dtype == torch::kFloat32 ? "float32" : dtype == torch::kBFloat16 ? "bfloat16" : "float16";

    auto checkpoint = Checkpoint::open(model_dir);  // headers and mappings only
    e.parameters = checkpoint->parameterCount();
    e.stored_bytes = static_cast<std::int64_t>(checkpoint->byteSize());
    std::int64_t weights = 0;
    for (const auto& name : checkpoint->names()) {
        const auto* entry = checkpoint->entry(name);
        std::int64_t n = 1;
        for (auto d : entry->shape)
            n *= d;
        // Floating-point weights run in the model's dtype; others keep their size.
        weights += torch::isFloatingType(entry->scalar_type) ? n * dtypeBytes(dtype)
                                                             : n * dtypeBytes(entry->scalar_type);
    }
    e.needed_bytes = weights + weights / 20 + (256ll << 20);

    if (cuda) {
        // GPU memory is not asked here: LibTorch's CUDA part may not be loaded yet, and a
        // failed allocation on the GPU is reported by the load itself.
        e.available_bytes = e.total_bytes = -1;
    } else {
        e.available_bytes = meminfo("MemAvailable");
        e.total_bytes = meminfo("MemTotal");
        auto [limit, used] = cgroupMemory();
        if (limit >= 0) {
            e.total_bytes = e.total_bytes < 0 ? limit : std::min(e.total_bytes, limit);
            if (used >= 0)
                e.available_bytes =
                    e.available_bytes < 0 ? limit - used : std::min(e.available_bytes, limit - used);
        }
    }
    e.verdict = memoryVerdict(e.needed_bytes, e.available_bytes, e.total_bytes);
    const std::string need = "the model needs about " + formatMemorySize(e.needed_bytes) + " in " + e.dtype + " on the " +
                             (cuda ? "GPU" : "CPU") + " (" + std::to_string(e.parameters / 1000000) + "M parameters)";
    switch (e.verdict) {
    case MemoryEstimate::Verdict::Fits:
        e.message = need + (e.available_bytes >= 0 ? "; " + formatMemorySize(e.available_bytes) + " is free" : "");
        break;
    case MemoryEstimate::Verdict::Tight:
        e.message = need + ", but only " + formatMemorySize(e.available_bytes) +
                    " is free now; close other programs, or expect swapping";
        break;
    case MemoryEstimate::Verdict::TooLarge:
        e.message = need + ", more than this machine's " + formatMemorySize(e.total_bytes) +
                    (dtype == torch::kFloat32 ? "; choose a smaller model, or bfloat16 (--dtype bfloat16)"
                                              : "; choose a smaller model");
        break;
    }
    return e;
}

}  // namespace vqa
