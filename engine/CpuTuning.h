// Kernel choices that depend on the CPU, made once per machine rather than by a rule: whether
// bfloat16 products of many rows run through LibTorch's bfloat16 kernels, its float32 ones on
// widened operands, or our float16 GEMM (models/CpuGemv.h says why each can win), whether
// an image's attention runs in LibTorch's bfloat16 kernel, its float32 one on widened inputs, or
// ours (models/CpuAttention.h), and whether float32 products of a few rows (a prompt) run in
// LibTorch's GEMM or ours (models/CpuGemmF32.h). Each comes from the environment when set
// (VQA_BF16_KERNELS: native, widened or half; VQA_BF16_ATTENTION: native, widened or ours;
// VQA_F32_ROWS: native or ours); else from what was
// measured before on this CPU model with this LibTorch version (cpu-tuning.json in the project's
// cache folder); else it is measured now (a fraction of a second) and recorded for next time,
// written whole or not at all, unless more tasks were ready to run than there are cores while
// it was measured (then it holds for this process only). Engine::load applies them before a
// model runs on the CPU. `vqa tune` shows them, and `vqa tune --again` measures them
// again in place of the record: the busy check sees this machine's tasks, not other virtual
// machines' on the same host, and a record is otherwise kept for good.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace vqa {

struct CpuTuning {
    std::string bf16_kernels;  // "native", "widened" or "half"
    std::string source;        // "environment", "recorded" or "measured"
    double native_ms = 0, widened_ms = 0, half_ms = 0;  // the measurement behind it (0: not measured)
    std::string bf16_attention;    // "native", "widened" or "ours"
    std::string attention_source;  // "environment", "recorded", "measured" or, with the products
                                   // forced and the attention not, "rule" (as the products go)
    double attention_native_ms = 0, attention_widened_ms = 0, attention_ours_ms = 0;
    std::string f32_rows;          // "native" or "ours"; "auto" (measured at first use, not
                                   // recorded) where the bfloat16 products were forced and it was not
    std::string f32_rows_source;   // "environment", "recorded", "measured" or "at first use"
    double f32_native_ms = 0, f32_ours_ms = 0;
    std::string cpu;           // the CPU model it is for
    std::string key;           // its record's key in the file: the CPU model, LibTorch's version, the ways compared
    int threads = 0;           // the threads it was measured with (0: not measured, or recorded before they were kept)
    bool busy = false;         // measured while other work competed for the cores: used, not recorded
};

// Where the choices come from when the environment does not set them.
enum class TuneFrom {
    RecordOrMeasure,  // this CPU's record, else measured now and recorded
    Measure,          // measured now whatever was recorded, and recorded in its place (`vqa tune --again`)
};

// The choices, the threads and the timings, as a record in the file keeps them (and `vqa tune
// --json` prints them, with the rest).
nlohmann::json choicesJson(const CpuTuning& t);

// <XDG_CACHE_HOME or ~/.cache>/vqa-studio/cpu-tuning.json
std::filesystem::path defaultCpuTuningFile();

// Other work competes for this process's cores now: more tasks are ready to run on the machine
// than there are cores it may use (/proc/stat's procs_running, this thread counted).
bool machineBusy();

// Decides (as above), applies them (models::setBf16Kernels, setBf16Attention, setF32Rows) and
// returns them. `machine_busy` is asked before, between and after the measurements. Never
// throws: a file that cannot be read or written is measured past.
CpuTuning tuneCpuKernels(const std::filesystem::path& file = defaultCpuTuningFile(),
                         const std::function<bool()>& machine_busy = machineBusy,
                         TuneFrom from = TuneFrom::RecordOrMeasure);

// The intra-op threads this process computes with from now on, the measurement's among them
// (0: LibTorch's default, one a core); for callers without LibTorch of their own (`vqa tune`).
void useCpuThreads(int threads);

}  // namespace vqa
