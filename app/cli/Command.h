// The `vqa` command-line tool is a set of subcommands, one file each in app/cli/. A file
// registers its subcommands with VQA_CLI_COMMAND; main() builds the CLI11 app from them.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "engine/Types.h"

namespace vqa::cli {

// Adds one subcommand to `app`; its callback does the work and returns the exit code
// through `exit_code`.
using CommandSetup = std::function<void(CLI::App& app, int& exit_code)>;

struct CommandRegistration {
    std::string name;
    CommandSetup setup;
};

inline std::vector<CommandRegistration>& commandRegistry() {
    static std::vector<CommandRegistration> registry;
    return registry;
}

struct CommandRegistrar {
    CommandRegistrar(std::string name, CommandSetup setup) {
        commandRegistry().push_back({std::move(name), std::move(setup)});
    }
};

// --max-image-tokens, shared by the commands that ask about an image.
inline constexpr const char* kMaxImageTokensHelp =
    "Image detail: at most N image tokens per image for models that see an image in as many pieces as "
    "its size allows (Qwen2-VL, Qwen2.5-VL); fewer is faster. 0: the model's own limit";

// --device, --dtype and --threads, shared by the commands that load a model.
struct LoadFlags {
    std::string device = "auto";
    std::string dtype = "auto";
    int threads = 0;

    LoadOptions options() const {
        LoadOptions load;
        load.device = device == "cpu" ? DevicePreference::Cpu
                      : device == "cuda" ? DevicePreference::Cuda : DevicePreference::Auto;
        load.dtype = dtype;
        load.threads = threads;
        return load;
    }
};

inline void addLoadFlags(CLI::App* cmd, LoadFlags& f) {
    cmd->add_option("--device", f.device, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
    cmd->add_option("--dtype", f.dtype,
                    "Precision: auto, float32, bfloat16, float16; or the decoder's weights in 8 or 4 bits: "
                    "int8 (q8_0 blocks), int4 (q4_0 blocks), q4_1 (4-bit blocks with a minimum)")
        ->check(CLI::IsMember({"auto", "float32", "bfloat16", "float16", "int8", "int4", "q8_0", "q4_0", "q4_1"}));
    cmd->add_option("--threads", f.threads, "CPU threads (0: library default)")->check(CLI::NonNegativeNumber);
}

}  // namespace vqa::cli

#define VQA_CLI_CONCAT2(a, b) a##b
#define VQA_CLI_CONCAT(a, b) VQA_CLI_CONCAT2(a, b)
#define VQA_CLI_COMMAND(name, setup_fn) \
    static ::vqa::cli::CommandRegistrar VQA_CLI_CONCAT(vqa_cli_registrar_, __LINE__)(name, setup_fn)
