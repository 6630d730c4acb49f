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
#include "models/CpuGemmHalf.h"
#include "models/CpuGemv.h"
#include "models/base/Error.h"
#include "models/quant/QuantFormat.h"

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

bool endsWith(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Whether the checkpoint's tensor `name` belongs to the vision side (the tower and the
// connector or projector), as the families name them: Idefics3's model.vision_model and
// model.connector, LLaVA's vision_tower and multi_modal_projector, Qwen's visual.
bool visionPart(const std::string& name) {
    for (const char* part : {"vision", "visual", "connector", "multi_modal_projector"})
        if (name.find(part) != std::string::npos)
            return true;
    return false;
}

// One of the decoder layers' seven projections, told by their names as the families' decoders
// (models/Llama.cpp) take them. Vision towers name theirs alike but live under a vision prefix.
bool decoderProjection(const std::string& name, const std::vector<std::int64_t>& shape) {
    if (shape.size() != 2 || visionPart(name) || name.find(".layers.") == std::string::npos)
        return false;
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
        if (endsWith(name, std::string(proj) + ".weight"))
            return true;
    return false;
}

// The format the checkpoint's tensor `name` will be quantized to under `plan` ("": none): the
// decoder's projections, and its token embedding and lm_head.
std::string quantizedAs(const std::string& name, const std::vector<std::int64_t>& shape, const LoadPlan& plan) {
    if (plan.quantization.empty() || shape.size() != 2 || visionPart(name))
        return "";
    if (endsWith(name, "embed_tokens.weight") || endsWith(name, "lm_head.weight"))
        return plan.embedding_quantization;
    if (decoderProjection(name, shape))
        return plan.quantization;
    return "";
}

// An AWQ checkpoint's stored tensors: X.qweight [in, out/8] int32 is the [out, in] weight, 4
// bits a weight; X.qzeros and X.scales are folded into its q4_1 blocks. nullopt for any other
// tensor.
std::optional<std::vector<std::int64_t>> awqWeightShape(const std::string& name, const std::vector<std::int64_t>& shape) {
    const auto stem = awqStem(name);
    if (!stem || shape.size() != 2)
        return std::nullopt;
    if (name.compare(stem->size(), std::string::npos, ".qweight") != 0)
        return std::vector<std::int64_t>{};  // qzeros, scales
    return std::vector<std::int64_t>{shape[1] * 8, shape[0]};
}

// Bytes of a [rows, cols] matrix in a block format.
std::int64_t quantizedBytes(const std::string& format, const std::vector<std::int64_t>& shape) {
    models::QuantFormat f = models::QuantFormat::None;
    models::parseQuantFormat(format, f);
    return shape[0] * models::quantRowBytes(f, shape[1]);
}

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
    plan.awq = awqSettings(plan.folder->config(), plan.folder->configPath());

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
    const std::string& asked = options.dtype;
    const std::string weights_format = asked == "int8" ? "q8_0" : asked == "int4" ? "q4_0" : asked;
    if (plan.awq) {
        // The decoder's linears are 4-bit already; what is asked is the rest's dtype.
        if (asked == "int8" || asked == "q8_0" || asked == "q4_0")
            throw Error(plan.folder->configPath() + ": this checkpoint's decoder is quantized to 4 bits by AWQ "
                        "(quantization_config) and loads with those weights as they are; '" + asked +
                        "' would not make them more exact. Choose auto, int4, float32, bfloat16 or float16 for the "
                        "rest of the model, or the model's full-precision checkpoint for 8-bit weights");
        const bool named = asked == "float32" || asked == "bfloat16" || asked == "float16";
        plan.dtype = named ? asked : cuda ? "bfloat16" : "float32";
        plan.quantization = "q4_1";
        plan.embedding_quantization = "q8_0";
        plan.vision_dtype = named ? asked : "bfloat16";
    } else if (asked == "auto" || asked.empty() || asked == "fast") {
        plan.dtype = cuda ? "bfloat16" : "float32";
    } else if (asked == "float32" || asked == "bfloat16" || asked == "float16") {
        plan.dtype = asked;
    } else if (weights_format == "q8_0" || weights_format == "q4_0" || weights_format == "q4_1") {
        plan.dtype = cuda ? "bfloat16" : "float32";
        plan.quantization = weights_format;
        plan.embedding_quantization = "q8_0";
    } else {
        throw Error("unknown dtype '" + asked +
                    "'; choose auto, float32, bfloat16, float16, fast, int8 or int4 (also q8_0, q4_0, q4_1)");
    }
    if (!plan.awq)
        plan.vision_dtype = asked == "fast" || !plan.quantization.empty() ? "bfloat16" : plan.dtype;

    MemoryEstimate& e = plan.memory;
    e.device = plan.device;
    e.dtype = plan.dtype;
    e.quantization = plan.quantization;
    const auto checkpoint = plan.folder->checkpoint();  // headers and mappings only
    e.parameters = checkpoint->parameterCount();
    e.stored_bytes = static_cast<std::int64_t>(checkpoint->byteSize());
    std::int64_t weights = 0, awq_linears = 0, decoder_panel_bytes = 0;
    for (const auto& name : checkpoint->names()) {
        const auto* entry = checkpoint->entry(name);
        std::int64_t n = 1;
        for (auto d : entry->shape)
            n *= d;
        if (decoderProjection(name, entry->shape))
            decoder_panel_bytes += models::halfPackedBytes(entry->shape[0], entry->shape[1]);
        if (plan.awq) {
            if (const auto shape = awqWeightShape(name, entry->shape)) {
                if (!shape->empty()) {
                    weights += quantizedBytes(plan.quantization, *shape);
                    e.parameters += (*shape)[0] * (*shape)[1] - n;  // 8 weights an int32
                    ++awq_linears;
                } else {
                    e.parameters -= n;  // qzeros and scales: part of the weights above
                }
                continue;
            }
        }
        // Floating-point weights run in the model's dtype or quantized; others keep their size.
        const std::string format = quantizedAs(name, entry->shape, plan);
        if (!format.empty())
            weights += quantizedBytes(format, entry->shape);
        else
            weights += torch::isFloatingType(entry->scalar_type)
                           ? n * dtypeBytes(visionPart(name) ? plan.vision_dtype : plan.dtype)
                           : n * static_cast<std::int64_t>(c10::elementSize(entry->scalar_type));
    }
    if (plan.awq && awq_linears == 0)
        throw Error(plan.folder->configPath() + " says the checkpoint is quantized by AWQ (quantization_config), but " +
                    checkpoint->directory() + " holds no AWQ linear (X.qweight, X.qzeros and X.scales in place of "
                    "X.weight); is config.json the checkpoint's own?");
    e.weight_bytes = weights;
    // "fast" on a CPU where its prefill runs in float16: each decoder linear keeps its weight's
    // float16 panels (2 bytes a weight) within the process's budget for them (CpuGemv.h).
    if (!cuda && asked == "fast" && !plan.awq && models::cpuGemmHalfSupported())
        e.prefill_panel_bytes = std::min(decoder_panel_bytes, models::HalfPanelsCache::budget());
    e.needed_bytes = weights + weights / 20 + e.prefill_panel_bytes + (256ll << 20);

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
    const std::string precision =
        plan.awq ? plan.quantization + " weights from AWQ's 4 bits (" + e.dtype + " elsewhere)"
        : !plan.quantization.empty() ? plan.quantization + " weights (" + e.dtype + " elsewhere)"
        : plan.vision_dtype != e.dtype ? e.dtype + " (" + plan.vision_dtype + " vision)"
                                       : e.dtype;
    const std::string need = "the model needs about " + formatMemorySize(e.needed_bytes) + " in " + precision + " on the " +
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
                    (plan.quantization == "q4_0" || plan.quantization == "q4_1"
                         ? "; choose a smaller model"
                         : "; choose a smaller model, or 4-bit weights (--dtype int4)");
        break;
    }
    return plan;
}

}  // namespace vqa
