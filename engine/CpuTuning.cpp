#include "engine/CpuTuning.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include <sched.h>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <torch/version.h>

#include "engine/io/AtomicFile.h"
#include "models/CpuAttention.h"
#include "models/CpuGemmF32.h"
#include "models/CpuGemmHalf.h"
#include "models/CpuGemv.h"

namespace fs = std::filesystem;

namespace vqa {

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

// The CPU's model name as the kernel reports it, and the LibTorch version: what a choice
// measured once holds for.
std::string cpuModel() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            if (colon != std::string::npos)
                return line.substr(line.find_first_not_of(' ', colon + 1));
        }
    return "unknown CPU";
}

// The kernels a name (from the environment or a record) stands for; none for another name.
// "half" where the CPU cannot run it (a record copied from another machine, a forced setting)
// is "widened", its attention and its fallback.
std::optional<models::Bf16Kernels> kernelsNamed(const std::string& name) {
    if (name == "half")
        return models::cpuGemmHalfSupported() ? models::Bf16Kernels::Half : models::Bf16Kernels::Widened;
    if (name == "widened")
        return models::Bf16Kernels::Widened;
    if (name == "native")
        return models::Bf16Kernels::Native;
    return std::nullopt;
}

// The attention a name stands for; none for another name. "ours" where the CPU cannot run it
// is "widened", what ours computes.
std::optional<models::Bf16Attention> attentionNamed(const std::string& name) {
    if (name == "ours")
        return models::cpuAttentionSupported() ? models::Bf16Attention::Ours : models::Bf16Attention::Widened;
    if (name == "widened")
        return models::Bf16Attention::Widened;
    if (name == "native")
        return models::Bf16Attention::Native;
    return std::nullopt;
}

// The float32 rows' way a name stands for; none for another name. "ours" where the CPU cannot
// run it is "native".
std::optional<models::F32Rows> rowsNamed(const std::string& name) {
    if (name == "ours")
        return models::cpuGemmF32Supported() ? models::F32Rows::Ours : models::F32Rows::Native;
    if (name == "native")
        return models::F32Rows::Native;
    return std::nullopt;
}

// Puts `kernels` in force and says so in `t`.
void apply(CpuTuning& t, models::Bf16Kernels kernels, const char* source) {
    models::setBf16Kernels(kernels);
    t.bf16_kernels = models::bf16KernelsName(kernels);
    t.source = source;
}

// Puts `attention` in force and says so in `t`.
void apply(CpuTuning& t, models::Bf16Attention attention, const char* source) {
    models::setBf16Attention(attention);
    t.bf16_attention = models::bf16AttentionName(attention);
    t.attention_source = source;
}

// Puts `rows` in force and says so in `t`.
void apply(CpuTuning& t, models::F32Rows rows, const char* source) {
    models::setF32Rows(rows);
    t.f32_rows = models::f32RowsName(rows);
    t.f32_rows_source = source;
}

// Tasks ready to run on the machine now, this thread among them (/proc/stat's procs_running);
// -1 where it cannot be read.
int runnableTasks() {
    std::ifstream in("/proc/stat");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("procs_running ", 0) == 0)
            return std::atoi(line.c_str() + 14);
    return -1;
}

// The cores this process may run on.
int usableCores() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        return CPU_COUNT(&set);
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Decides both from the record for `key` in `recorded` (true), or leaves them (false).
bool applyRecorded(CpuTuning& t, const nlohmann::json& recorded, const std::string& key) {
    const auto it = recorded.find(key);
    if (it == recorded.end() || !it->is_object())
        return false;
    const auto kernels = kernelsNamed(it->value("bf16_kernels", ""));
    const auto attention = attentionNamed(it->value("bf16_attention", ""));
    const auto rows = rowsNamed(it->value("f32_rows", ""));
    if (!kernels || !attention || !rows)
        return false;
    t.native_ms = it->value("native_ms", 0.0);
    t.widened_ms = it->value("widened_ms", 0.0);
    t.half_ms = it->value("half_ms", 0.0);
    t.attention_native_ms = it->value("attention_native_ms", 0.0);
    t.attention_widened_ms = it->value("attention_widened_ms", 0.0);
    t.attention_ours_ms = it->value("attention_ours_ms", 0.0);
    t.f32_native_ms = it->value("f32_native_ms", 0.0);
    t.f32_ours_ms = it->value("f32_ours_ms", 0.0);
    t.threads = it->value("threads", 0);
    apply(t, *kernels, "recorded");
    apply(t, *attention, "recorded");
    apply(t, *rows, "recorded");
    return true;
}

}  // namespace

bool machineBusy() {
    const int tasks = runnableTasks();
    return tasks > usableCores();
}

nlohmann::json choicesJson(const CpuTuning& t) {
    return {{"bf16_kernels", t.bf16_kernels},
            {"threads", t.threads},
            {"native_ms", t.native_ms},
            {"widened_ms", t.widened_ms},
            {"half_ms", t.half_ms},
            {"bf16_attention", t.bf16_attention},
            {"attention_native_ms", t.attention_native_ms},
            {"attention_widened_ms", t.attention_widened_ms},
            {"attention_ours_ms", t.attention_ours_ms},
            {"f32_rows", t.f32_rows},
            {"f32_native_ms", t.f32_native_ms},
            {"f32_ours_ms", t.f32_ours_ms}};
}

fs::path defaultCpuTuningFile() {
    const std::string cache = env("XDG_CACHE_HOME");
    const fs::path base = !cache.empty() ? fs::path(cache) : fs::path(env("HOME")) / ".cache";
    return base / "vqa-studio" / "cpu-tuning.json";
}

void useCpuThreads(int threads) {
    if (threads > 0)
        at::set_num_threads(threads);
}

CpuTuning tuneCpuKernels(const fs::path& file, const std::function<bool()>& machine_busy, TuneFrom from) {
    CpuTuning t;
    t.cpu = cpuModel();
    // The choices measured are part of the key: a record from before a kernel existed never
    // compared it, so it is measured again.
    t.key = t.cpu + " | torch " + TORCH_VERSION +
            " | native, widened, half | attention: native, widened, ours | float32 rows: native, ours";
    const auto forced_attention = attentionNamed(env("VQA_BF16_ATTENTION"));
    const auto forced_rows = rowsNamed(env("VQA_F32_ROWS"));
    if (const auto forced = kernelsNamed(env("VQA_BF16_KERNELS"))) {
        apply(t, *forced, "environment");
        // Nothing measured nor recorded: the attention forced too, or as the products go (ours
        // unless they are LibTorch's bfloat16 kernels).
        if (forced_attention)
            apply(t, *forced_attention, "environment");
        else
            apply(t, *forced == models::Bf16Kernels::Native ? models::Bf16Attention::Native : *attentionNamed("ours"),
                  "rule");
        if (forced_rows) {
            apply(t, *forced_rows, "environment");
        } else { // measured by the first product it matters to, for this process
            models::setF32Rows(models::F32Rows::Auto);
            t.f32_rows = "auto";
            t.f32_rows_source = "at first use";
        }
        return t;
    }
    nlohmann::json recorded = nlohmann::json::object();
    bool known = false;
    try {
        std::ifstream in(file);
        if (in)
            recorded = nlohmann::json::parse(in);
        if (!recorded.is_object())
            recorded = nlohmann::json::object();
        known = from == TuneFrom::RecordOrMeasure && applyRecorded(t, recorded, t.key);
    } catch (const std::exception&) {
        recorded = nlohmann::json::object();  // unreadable: measured again and written anew
    }
    if (!known) {
        // Other work competing for the cores skews the timings, and a record is kept for good:
        // what was measured while more tasks were ready to run than there are cores is used
        // by this process and measured again by the next.
        bool busy = machine_busy();
        t.threads = at::get_num_threads();
        const auto times = models::measureBf16Kernels();
        busy = machine_busy() || busy;
        t.native_ms = times.native_ms;
        t.widened_ms = times.widened_ms;
        t.half_ms = times.half_ms;
        apply(t, times.fastest(), "measured");
        // With the products' choice in force: ours multiplies by the values in float16 where it is Half.
        const auto attention = models::measureBf16Attention(models::bf16Kernels() == models::Bf16Kernels::Half);
        t.attention_native_ms = attention.native_ms;
        t.attention_widened_ms = attention.widened_ms;
        t.attention_ours_ms = attention.ours_ms;
        apply(t, attention.fastest(), "measured");
        const auto rows = models::measureF32Rows();
        t.f32_native_ms = rows.native_ms;
        t.f32_ours_ms = rows.ours_ms;
        apply(t, rows.fastest(), "measured");
        t.busy = machine_busy() || busy;
        if (!t.busy) try {  // recorded whole or not at all
            recorded[t.key] = choicesJson(t);
            writeFileAtomically(file.string(), recorded.dump(1) + "\n");
        } catch (const std::exception&) {
            // Not recorded: measured again next time.
        }
    }
    if (forced_attention)
        apply(t, *forced_attention, "environment");
    if (forced_rows)
        apply(t, *forced_rows, "environment");
    return t;
}

}  // namespace vqa
