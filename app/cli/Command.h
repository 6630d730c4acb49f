// The `vqa` command-line tool is a set of subcommands, one file each in app/cli/. A file
// registers its subcommands with VQA_CLI_COMMAND; main() builds the CLI11 app from them.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
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

// Runs a subcommand's work: its exit code, or 1 with "vqa: <message>" on stderr when it throws.
template <typename Fn>
void guarded(int& exit_code, Fn fn) {
    try {
        exit_code = fn();
    } catch (const std::exception& e) {
        std::cerr << "vqa: " << e.what() << "\n";
        exit_code = 1;
    }
}

// The positionals of a question about files ("a.png clip.mp4 What happens?"): one list, since
// CLI11 would give a list before a single positional every word. Registers it on `cmd`; after
// parsing, `split` puts all but the last word in `files` and the last in `question`, or says
// what is missing and returns false (exit code 2).
struct FilesThenQuestion {
    std::shared_ptr<std::vector<std::string>> words = std::make_shared<std::vector<std::string>>();
    void add(CLI::App* cmd, const std::string& help) const {
        cmd->add_option("files_and_question", *words, help + ", then the question")->required();
    }
    bool split(std::vector<std::string>& files, std::string& question) const {
        if (words->size() < 2) {
            std::cerr << "vqa: give one or more image or video files, then the question\n";
            return false;
        }
        question = words->back();
        files.assign(words->begin(), words->end() - 1);
        return true;
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
                    "vision tower, its prefill's products in float16 where that is this CPU's fastest); or the decoder's weights in 8 or 4 bits: int8 (q8_0 blocks), int4 (q4_0 "
                    "blocks), q4_1 (4-bit blocks with a minimum). A checkpoint already quantized by AWQ keeps "
                    "its 4-bit weights: auto, int4 or a float dtype for the rest")
        ->check(CLI::IsMember({"auto", "float32", "bfloat16", "float16", "fast", "int8", "int4", "q8_0", "q4_0", "q4_1"}));
    cmd->add_option("--threads", f.threads, "CPU threads (0: library default)")->check(CLI::NonNegativeNumber);
}

// --server, --api-key-env and --remote-model: answer with a model on an OpenAI-compatible
// server (vLLM, llama-server, Ollama, LM Studio, vqa serve) instead of a local one.
struct RemoteFlags {
    std::string server;
    std::string api_key_env;
    std::string model;
    double timeout_s = 120;

    bool used() const { return !server.empty(); }
    // Throws vqa::Error when --api-key-env names a variable that is not set: the key itself is
    // never a flag, so it stays out of the shell's history and the process list.
    RemoteServer options() const {
        RemoteServer s;
        s.base_url = server;
        s.model = model;
        s.stall_timeout_s = timeout_s;
        if (!api_key_env.empty()) {
            const char* key = std::getenv(api_key_env.c_str());
            if (!key || !*key)
                throw Error("--api-key-env names " + api_key_env + ", which is not set in the environment");
            s.api_key = key;
        }
        return s;
    }
};

inline void addRemoteFlags(CLI::App* cmd, RemoteFlags& f, bool with_model) {
    cmd->add_option("--server", f.server,
                    "Base URL of an OpenAI-compatible server to answer instead of a local model, e.g. "
                    "http://localhost:8000 (vLLM), http://localhost:8080 (llama-server), "
                    "http://localhost:11434 (Ollama), http://localhost:1234 (LM Studio)");
    cmd->add_option("--api-key-env", f.api_key_env,
                    "Name of the environment variable that holds the server's API key (sent as a bearer token)");
    cmd->add_option("--server-timeout", f.timeout_s,
                    "Give up on the server when it sends nothing for this many seconds (default 120)")
        ->check(CLI::PositiveNumber);
    if (with_model)
        cmd->add_option("--remote-model", f.model,
                        "The server's model to use (`vqa models --server URL` lists them); default: its only one");
}

}  // namespace vqa::cli

#define VQA_CLI_CONCAT2(a, b) a##b
#define VQA_CLI_CONCAT(a, b) VQA_CLI_CONCAT2(a, b)
#define VQA_CLI_COMMAND(name, setup_fn) \
    static ::vqa::cli::CommandRegistrar VQA_CLI_CONCAT(vqa_cli_registrar_, __LINE__)(name, setup_fn)
