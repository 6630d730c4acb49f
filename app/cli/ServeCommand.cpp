// `vqa serve`: the engine as an OpenAI-compatible server (engine/serve/ChatServer.h), for a
// GPU box that every laptop of a team uses, heatmaps included.
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <thread>

#include "app/cli/Command.h"
#include "engine/Engine.h"
#include "engine/serve/ChatServer.h"

namespace vqa::cli {
namespace {

struct ServeFlags {
    std::string model;
    LoadFlags load;
    serve::ServeOptions serve;
    std::string api_key_env;
    double max_body_mb = 16;
};

int runServe(ServeFlags& f) {
    // Ctrl+C and SIGTERM end the server cleanly: they are blocked in every thread (the mask is
    // inherited by the threads made from here on), and one thread waits for them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    try {
        if (!f.api_key_env.empty()) {
            const char* key = std::getenv(f.api_key_env.c_str());
            if (!key || !*key)
                throw Error("--api-key-env names " + f.api_key_env + ", which is not set in the environment");
            f.serve.api_key = key;
        }
        f.serve.max_body_bytes = static_cast<std::size_t>(f.max_body_mb * (1 << 20));
        Engine engine;
        const ModelInfo info = engine.load(f.model, f.load.options());
        serve::ChatServer server(engine, f.serve);
        std::thread waiter([&] {
            int sig = 0;
            sigwait(&stop_signals, &sig);
            server.stop();
        });
        std::cout << "Serving " << server.model() << " (" << info.family << ", " << info.dtype << " on "
                  << info.device << ") at http://" << f.serve.host << ":" << server.port()
                  << "/v1, OpenAI-compatible" << (f.serve.api_key.empty() ? "" : ", API key required")
                  << "; Ctrl+C stops" << std::endl;
        server.run();
        // The waiter still waits when the server ended by itself: wake it.
        pthread_kill(waiter.native_handle(), SIGTERM);
        waiter.join();
        std::cout << "Stopped." << std::endl;
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "vqa: " << e.what() << "\n";
        return 1;
    }
}

void setupServe(CLI::App& app, int& exit_code) {
    auto f = std::make_shared<ServeFlags>();
    auto* cmd = app.add_subcommand(
        "serve", "Serve a model over the OpenAI chat-completions API (with attention maps as an extension)");
    cmd->add_option("--model,-m", f->model, "Model folder (config.json, *.safetensors, tokenizer)")->required();
    addLoadFlags(cmd, f->load);
    cmd->add_option("--host", f->serve.host,
                    "Address to listen on (default 127.0.0.1; any other needs --api-key-env)");
    cmd->add_option("--port", f->serve.port, "Port (default 8080; 0: any free port)")->check(CLI::Range(0, 65535));
    cmd->add_option("--api-key-env", f->api_key_env,
                    "Name of the environment variable holding the API key clients must send as a bearer token");
    cmd->add_option("--max-queue", f->serve.max_queue,
                    "Requests that may wait while one is answered (beyond: 503); default 8")
        ->check(CLI::Range(1, 1000));
    cmd->add_option("--max-tokens", f->serve.limits.max_tokens, "Largest max_tokens a request may ask (default 4096)")
        ->check(CLI::Range(1, 1 << 20));
    cmd->add_option("--max-body-mb", f->max_body_mb, "Largest request body in MiB (default 16)")
        ->check(CLI::Range(0.01, 1024.0));
    cmd->add_option("--max-image-pixels", f->serve.limits.max_image_pixels,
                    "Most pixels an image in a request may have (default 40 million)")
        ->check(CLI::PositiveNumber);
    cmd->callback([f, &exit_code] { exit_code = runServe(*f); });
}

VQA_CLI_COMMAND("serve", setupServe);

}  // namespace
}  // namespace vqa::cli
