// `vqa models` (known models and what is in the Hub cache) and `vqa download MODEL_ID`.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "app/cli/Command.h"
#include "engine/hub/HubClient.h"
#include "engine/hub/KnownModels.h"
#include "engine/remote/OpenAiClient.h"

namespace {

using namespace vqa::hub;

// "SmolVLM-256M-Instruct" is accepted for a known model's full id.
std::string resolveModelId(const std::string& id) {
    if (id.find('/') != std::string::npos)
        return id;
    for (const auto& m : knownModels())
        if (findKnownModel(m.repo_id.substr(0, m.repo_id.find('/') + 1) + id) == &m)
            return m.repo_id;
    return id;
}

void setupModels(CLI::App& app, int& exit_code) {
    auto* cmd =
        app.add_subcommand("models", "List the models known to work and those already downloaded");
    auto json = std::make_shared<bool>(false);
    auto cache = std::make_shared<std::string>();
    auto remote = std::make_shared<vqa::cli::RemoteFlags>();
    cmd->add_flag("--json", *json, "Machine-readable output");
    cmd->add_option(
        "--cache", *cache,
        "Hub cache folder (default: $HF_HUB_CACHE or $HF_HOME/hub or ~/.cache/huggingface/hub)");
    vqa::cli::addRemoteFlags(cmd, *remote, false);
    cmd->callback([json, cache, remote, &exit_code] {
        if (remote->used()) { // the models a server offers instead
            try {
                const auto ids = vqa::remote::listModels(remote->options());
                if (*json) {
                    std::cout << nlohmann::json({{"server", remote->server}, {"models", ids}}).dump(2) << "\n";
                } else {
                    std::cout << "Models on " << remote->server << " (use one with --server URL --remote-model ID):\n";
                    for (const auto& id : ids)
                        std::cout << "  " << id << "\n";
                }
                exit_code = 0;
            } catch (const std::exception& e) {
                std::cerr << "vqa: " << e.what() << "\n";
                exit_code = 1;
            }
            return;
        }
        const std::filesystem::path dir =
            cache->empty() ? defaultCacheDir() : std::filesystem::path(*cache);
        const auto cached = listCachedModels(dir);
        auto find_cached = [&](const std::string& id) -> const CachedModel* {
            for (const auto& c : cached)
                if (c.repo_id == id)
                    return &c;
            return nullptr;
        };
        if (*json) {
            nlohmann::json out;
            out["cache"] = dir.string();
            out["known"] = nlohmann::json::array();
            for (const auto& m : knownModels()) {
                const auto* c = find_cached(m.repo_id);
                out["known"].push_back({{"id", m.repo_id},
                                        {"name", m.name},
                                        {"family", m.family},
                                        {"license", m.license},
                                        {"download_bytes", m.download_bytes},
                                        {"memory_bytes", m.memory_bytes},
                                        {"good_for", m.good_for},
                                        {"recommended", m.recommended},
                                        {"downloaded", c != nullptr && c->loadable}});
            }
            out["cached"] = nlohmann::json::array();
            for (const auto& c : cached)
                out["cached"].push_back({{"id", c.repo_id},
                                         {"commit", c.commit},
                                         {"path", c.snapshot.string()},
                                         {"bytes", c.bytes},
                                         {"files", c.files},
                                         {"loadable", c.loadable},
                                         {"partial_bytes", c.partial_bytes}});
            std::cout << out.dump(2) << "\n";
            exit_code = 0;
            return;
        }
        std::cout << "Models known to work with VQA Studio (download with `vqa download ID`):\n";
        for (const auto& m : knownModels()) {
            const auto* c = find_cached(m.repo_id);
            std::cout << "  " << m.repo_id << "  " << formatBytes(m.download_bytes) << ", "
                      << m.license << (m.recommended ? ", recommended" : "")
                      << (c && c->loadable ? "  [downloaded]" : "") << "\n      " << m.good_for
                      << "\n";
        }
        std::cout << "\nIn the model cache " << dir.string() << ":\n";
        if (cached.empty())
            std::cout << "  (nothing yet)\n";
        for (const auto& c : cached) {
            std::cout << "  " << c.repo_id << "  " << formatBytes(c.bytes);
            if (!c.loadable)
                std::cout << "  (not loadable: no config.json or no safetensors weights)";
            if (c.partial_bytes > 0)
                std::cout << "  (paused download: " << formatBytes(c.partial_bytes)
                          << " so far; `vqa download " << c.repo_id << "` resumes it)";
            std::cout << "\n      " << c.snapshot.string() << "\n";
        }
        exit_code = 0;
    });
}

HubClient* g_downloading = nullptr;

extern "C" void pauseOnSignal(int) {
    if (g_downloading)
        g_downloading->requestPause(); // an atomic store: safe in a signal handler
}

void setupDownload(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand(
        "download",
        "Download a model from the Hugging Face Hub into the Hub cache; prints its folder. "
        "Ctrl-C pauses; running it again resumes.");
    struct Args {
        std::string model, revision = "main";
        bool all_files = false, quiet = false;
    };
    auto a = std::make_shared<Args>();
    cmd->add_option("model", a->model, "Model id, e.g. HuggingFaceTB/SmolVLM-256M-Instruct")
        ->required();
    cmd->add_option("--revision", a->revision, "Branch, tag or commit")->capture_default_str();
    cmd->add_flag("--all-files", a->all_files,
                  "Every file of the repository, not only what VQA Studio loads");
    cmd->add_flag("-q,--quiet", a->quiet, "No progress on standard error");
    cmd->callback([a, &exit_code] {
        const std::string id = resolveModelId(a->model);
        HubClient client;
        const bool tty = isatty(STDERR_FILENO);
        std::string last_file;
        auto progress = [&](const DownloadProgress& p) {
            if (a->quiet)
                return;
            using Phase = DownloadProgress::Phase;
            if (p.phase == Phase::Listing) {
                std::cerr << "Listing the files of " << id << " on " << client.options().endpoint
                          << "\n";
                return;
            }
            if (p.phase == Phase::Done) {
                if (tty)
                    std::cerr << "\n";
                return;
            }
            const bool new_file = p.file != last_file;
            if (!tty && !new_file && p.phase != Phase::Verifying)
                return; // a log gets one line per file
            if (tty && new_file && !last_file.empty())
                std::cerr << "\n";
            last_file = p.file;
            const int percent = p.total ? static_cast<int>(100.0 * static_cast<double>(p.bytes) /
                                                           static_cast<double>(p.total))
                                        : 100;
            std::cerr << (tty ? "\r\033[K" : "") << "[" << p.file_index + 1 << "/" << p.file_count
                      << "] " << p.file << "  " << formatBytes(p.file_bytes) << " / "
                      << formatBytes(p.file_total) << "  (total " << percent << "%";
            if (p.bytes_per_second > 0)
                std::cerr << ", " << formatBytes(static_cast<std::uint64_t>(p.bytes_per_second))
                          << "/s";
            std::cerr << ")" << (p.phase == Phase::Verifying ? "  checking" : "")
                      << (tty ? "" : "\n") << std::flush;
        };
        g_downloading = &client;
        auto old_int = std::signal(SIGINT, pauseOnSignal);
        auto old_term = std::signal(SIGTERM, pauseOnSignal);
        DownloadResult r;
        try {
            r = client.download(id, a->revision, progress,
                                a->all_files ? FileFilter([](const HubFile&) { return true; })
                                             : FileFilter(isModelFile));
        } catch (...) {
            std::signal(SIGINT, old_int);
            std::signal(SIGTERM, old_term);
            g_downloading = nullptr;
            if (tty && !a->quiet)
                std::cerr << "\n";
            throw;
        }
        std::signal(SIGINT, old_int);
        std::signal(SIGTERM, old_term);
        g_downloading = nullptr;
        if (!r.complete) {
            std::cerr << "\nPaused. What was downloaded is kept; run `vqa download " << id
                      << "` again to resume.\n";
            exit_code = 130;
            return;
        }
        if (!a->quiet)
            std::cerr << id << ": " << r.files_downloaded << " files downloaded ("
                      << formatBytes(r.bytes_transferred) << "), " << r.files_reused
                      << " already there.\n";
        std::cout << r.snapshot.string() << "\n";
        exit_code = 0;
    });
}

} // namespace

VQA_CLI_COMMAND("models", setupModels);
VQA_CLI_COMMAND("download", setupDownload);
