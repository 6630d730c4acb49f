// Kernel choices that depend on the CPU, made once per machine rather than by a rule: whether
// bfloat16 products of many rows run through LibTorch's bfloat16 kernels, its float32 ones on
// widened operands, or our float16 GEMM (models/CpuGemv.h says why each can win). The choice
// comes from VQA_BF16_KERNELS (native, widened or half) when set; else from what was measured before on this
// CPU model with this LibTorch version (cpu-tuning.json in the project's cache folder); else it
// is measured now (tens of milliseconds) and recorded for next time, written whole or not at
// all. Engine::load applies it before a bfloat16 model runs on the CPU.
#pragma once

#include <filesystem>
#include <string>

namespace vqa {

struct CpuTuning {
    std::string bf16_kernels;  // "native", "widened" or "half"
    std::string source;        // "environment", "recorded" or "measured"
    double native_ms = 0, widened_ms = 0, half_ms = 0;  // the measurement behind it (0: not measured)
    std::string cpu;           // the CPU model it is for
};

// <XDG_CACHE_HOME or ~/.cache>/vqa-studio/cpu-tuning.json
std::filesystem::path defaultCpuTuningFile();

// Decides (as above), applies it with models::setBf16Kernels and returns it. Never throws: a
// file that cannot be read or written is measured past.
CpuTuning tuneCpuKernels(const std::filesystem::path& file = defaultCpuTuningFile());

}  // namespace vqa
