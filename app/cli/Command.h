// The `vqa` command-line tool is a set of subcommands, one file each in app/cli/. A file
// registers its subcommands with VQA_CLI_COMMAND; main() builds the CLI11 app from them.
#pragma once

#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "engine/Types.h"
#include "models/base/Error.h"

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

// Token ids given on the command line: words separated by spaces or commas, each an integer in
// 0..limit-1. Throws vqa::Error naming the first word that is not (`what` says of what).
inline std::vector<std::int32_t> parseTokenIds(const std::vector<std::string>& args, long long limit,
                                               const std::string& what) {
    std::vector<std::int32_t> ids;
    for (std::string arg : args) {
        for (char& c : arg)
            if (c == ',')
                c = ' ';
        std::istringstream in(arg);
        std::string word;
        while (in >> word) {
            std::size_t used = 0;
            long long v = -1;
            try {
                v = std::stoll(word, &used);
            } catch (const std::exception&) {
            }
            if (used != word.size() || v < 0 || v >= limit)
                throw Error("'" + word + "' is not a token id" + (what.empty() ? "" : " " + what) + " (0.." +
                            std::to_string(limit - 1) + ")");
            ids.push_back(static_cast<std::int32_t>(v));
        }
    }
    return ids;
}

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
                    "Precision: auto, float32, bfloat16, float16; fast (a float32 decoder behind a bfloat16 "
                    "vision tower); or the decoder's weights in 8 or 4 bits: int8 (q8_0 blocks), int4 (q4_0 "
                    "blocks), q4_1 (4-bit blocks with a minimum)")
        ->check(CLI::IsMember({"auto", "float32", "bfloat16", "float16", "fast", "int8", "int4", "q8_0", "q4_0", "q4_1"}));
    cmd->add_option("--threads", f.threads, "CPU threads (0: library default)")->check(CLI::NonNegativeNumber);
}

}  // namespace vqa::cli

#define VQA_CLI_CONCAT2(a, b) a##b
#define VQA_CLI_CONCAT(a, b) VQA_CLI_CONCAT2(a, b)
#define VQA_CLI_COMMAND(name, setup_fn) \
    static ::vqa::cli::CommandRegistrar VQA_CLI_CONCAT(vqa_cli_registrar_, __LINE__)(name, setup_fn)
