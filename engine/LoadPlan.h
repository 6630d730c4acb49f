// What loading a model folder will do, decided once before any weight is read: which family
// it is, the device and dtype it will run in, and how much memory that takes against what the
// machine has. Engine::load follows the plan; the CLI and the window may make one to warn
// before a load that may not fit. Free of LibTorch and Qt.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "engine/Types.h"
#include "engine/io/AwqConfig.h"

namespace vqa {

struct Family;       // engine/families/Families.h: a row of the family table
class ModelFolder;   // engine/io/ModelFolder.h: what was read from the folder

struct MemoryEstimate {
    enum class Verdict { Fits, Tight, TooLarge };
    std::int64_t parameters = 0;     // elements over all tensors
    std::int64_t stored_bytes = 0;   // tensor bytes in the files
    std::int64_t weight_bytes = 0;   // the weights in the dtype (or format) they will run in
    // "fast" on a CPU whose prefill runs in float16: the float16 panels its decoder's linears
    // keep (models/CpuGemv.h's HalfPanelsCache), 2 bytes a weight up to their budget; else 0.
    // Counted per stored weight, each rounded up to the panels' 64 rows: at most what the
    // fused products (q/k/v, gate/up) pack, the same at real models' sizes.
    std::int64_t prefill_panel_bytes = 0;
    std::int64_t needed_bytes = 0;   // those plus working room
    std::string device;              // "cpu" or "cuda"
    std::string dtype;               // "float32", "bfloat16", "float16"
    std::string quantization;        // "", or the decoder's weight format ("q8_0", "q4_0", ...)
    std::int64_t available_bytes = -1;  // free memory on that device now (-1: unknown)
    std::int64_t total_bytes = -1;      // all memory the process may use (-1: unknown)
    Verdict verdict = Verdict::Fits;
    std::string message;  // a sentence for people: what is needed, what there is, what to do
};

struct LoadPlan {
    std::string model_dir;
    const Family* family = nullptr;  // the family config.json names (family->name: "idefics3", ...)
    std::string device;  // "cuda" (device 0) or "cpu"
    std::string dtype;   // what floating-point weights run in: "float32", "bfloat16", "float16"
    // What the vision tower and connector run in: `dtype`, except bfloat16 on the CPU under
    // the "fast" precision and with quantized weights (a float32 decoder behind them), where
    // it halves the vision's time on a CPU with fast bfloat16 kernels and its memory on any.
    std::string vision_dtype;
    // Weight-only quantization of the decoder (models/quant/QuantFormat.h names): its layers'
    // linears in `quantization`, its token embedding and lm_head in `embedding_quantization`;
    // both "" for none. The rest (vision tower, connector, norms) runs in `dtype`.
    std::string quantization;
    std::string embedding_quantization;
    // A checkpoint AWQ quantized (engine/io/AwqConfig.h): its decoder's linears come as they
    // are stored, 4-bit in `quantization` q4_1; nullopt for a float checkpoint.
    std::optional<AwqSettings> awq;
    MemoryEstimate memory;
    // The folder as read for the plan (config.json, generation_config.json, the checkpoint's
    // headers with its files mapped); Engine::load builds from it without reading them again.
    std::shared_ptr<ModelFolder> folder;

    bool refused() const { return memory.verdict == MemoryEstimate::Verdict::TooLarge; }
    bool tight() const { return memory.verdict == MemoryEstimate::Verdict::Tight; }
};

// Reads the folder and decides: the family from config.json's model_type (or architectures);
// the device (cuda when a GPU is there and `options` asks for it or for auto); the dtype
// (options.dtype, else bfloat16 on CUDA and float32 on the CPU); the quantization (options.dtype
// int8 or q8_0: 8-bit blocks; int4 or q4_0: 4-bit blocks; q4_1: 4-bit blocks with a minimum;
// the embeddings and lm_head in 8 bits either way, the rest in the device's default dtype);
// options.dtype fast: the device's default dtype for the decoder, bfloat16 for the vision
// tower; quantized on the CPU: the vision tower in bfloat16 too; an AWQ checkpoint: its own
// 4-bit linears (q4_1) whatever options.dtype says of the rest (auto, int4 or q4_1 as int4
// does, a named float dtype for everything else; int8 is refused: 4 bits do not become 8);
// the memory: the weights' size in that dtype or format plus ~5% and 256 MiB of working room (KV cache, activations), from the
// safetensors headers alone, compared with the device's memory: on the CPU MemAvailable /
// MemTotal of /proc/meminfo, tightened by a cgroup limit; on CUDA not asked (unknown).
// TooLarge (refused()): more than the device has at all; Tight: more than is free now (the
// system may swap or the load may fail). Throws vqa::Error when the folder, its config.json or
// its weights cannot be read, the family is not supported, CUDA is asked for but unavailable,
// options.dtype is unknown, or the checkpoint is quantized in a way this build cannot read.
LoadPlan planLoad(const std::string& model_dir, const LoadOptions& options = {});

// The verdict from numbers, for tests and for other callers: `needed` against `available` and
// `total` (-1: unknown).
MemoryEstimate::Verdict memoryVerdict(std::int64_t needed, std::int64_t available, std::int64_t total);

std::string formatMemorySize(std::int64_t bytes);  // "3.9 GiB", "512 MiB"

}  // namespace vqa
