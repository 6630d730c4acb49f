#include "engine/LoadPlan.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <torch/torch.h>

#include "engine/Device.h"
#include "engine/families/Families.h"
#include "engine/io/Checkpoint.h"
#include "engine/io/ModelFolder.h"
#include "models/base/Error.h"

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

// Bytes per element of a dtype the plan names.
std::int64_t dtypeBytes(const std::string& dtype) { return dtype == "float32" ? 4 : 2; }

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

LoadPlan planLoad(const std::string& model_dir, const LoadOptions& options) {
    LoadPlan plan;
    plan.model_dir = model_dir;
    plan.folder = std::make_shared<ModelFolder>(model_dir);
    plan.family = &detectFamily(plan.folder->config(), plan.folder->configPath());

    bool cuda = false;
    if (options.device == DevicePreference::Cuda) {
        if (!cudaAvailable())
            throw Error("the CUDA device was asked for, but " + cudaUnavailableReason() +
                        "; choose 'auto' or 'cpu'");
        cuda = true;
    } else if (options.device == DevicePreference::Auto) {
        cuda = cudaAvailable();
    }
    plan.device = cuda ? "cuda" : "cpu";
    if (options.dtype == "auto" || options.dtype.empty())
        plan.dtype = cuda ? "bfloat16" : "float32";
    else if (options.dtype == "float32" || options.dtype == "bfloat16" || options.dtype == "float16")
        plan.dtype = options.dtype;
    else
        throw Error("unknown dtype '" + options.dtype + "'; choose auto, float32, bfloat16 or float16");

    MemoryEstimate& e = plan.memory;
    e.device = plan.device;
    e.dtype = plan.dtype;
    const auto checkpoint = plan.folder->checkpoint();  // headers and mappings only
    e.parameters = checkpoint->parameterCount();
    e.stored_bytes = static_cast<std::int64_t>(checkpoint->byteSize());
    std::int64_t weights = 0;
    for (const auto& name : checkpoint->names()) {
        const auto* entry = checkpoint->entry(name);
        std::int64_t n = 1;
        for (auto d : entry->shape)
            n *= d;
        // Floating-point weights run in the model's dtype; others keep their size.
        weights += torch::isFloatingType(entry->scalar_type)
                       ? n * dtypeBytes(plan.dtype)
                       : n * static_cast<std::int64_t>(c10::elementSize(entry->scalar_type));
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
                    (plan.dtype == "float32" ? "; choose a smaller model, or bfloat16 (--dtype bfloat16)"
                                              : "; choose a smaller model");
        break;
    }
    return plan;
}

}  // namespace vqa
