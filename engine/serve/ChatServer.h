// `vqa serve`: the engine as an OpenAI-compatible server, over cpp-httplib (Debian's
// libcpp-httplib-dev: a small, maintained C++ HTTP server with a thread pool and chunked
// streaming, and no Qt event loop in a command-line program). Routes: POST
// /v1/chat/completions (streaming and not), GET /v1/models, GET /health.
//
// One engine answers one request at a time: requests wait in a FIFO queue of bounded length
// (503 with Retry-After beyond it). A streaming client that goes away cancels its answer at
// the engine's next step, so the next request starts at once. Limits: request body size,
// image pixels, max_tokens. Without an API key the server listens on loopback only.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/serve/ChatProtocol.h"

namespace vqa {
class Engine;
}

namespace vqa::serve {

struct ServeOptions {
    std::string host = "127.0.0.1";
    int port = 8080;            // 0: any free port (port() says which)
    std::string api_key;        // empty: none asked, and loopback only
    int max_queue = 8;          // requests waiting beside the one answering
    std::size_t max_body_bytes = 16u << 20;
    ProtocolLimits limits;
    // Tests: called on the engine's thread before each answer, with that answer's cancel
    // flag (a gate that holds the engine busy, so a queue or a disconnect can be made certain).
    std::function<void(const std::atomic<bool>& cancel)> before_answer;
};

// What /health reports, for tests and load balancers.
struct ServeState {
    int queued = 0;
    bool answering = false;
    std::uint64_t served = 0;
    std::uint64_t cancelled = 0;  // answers stopped because their client went away (or the server stopped)
};

class ChatServer {
public:
    // `engine` has its model loaded and outlives the server. Throws vqa::Error when the
    // options are refused (a public address without an API key) or the port cannot be bound.
    ChatServer(Engine& engine, ServeOptions options);
    ~ChatServer();
    ChatServer(const ChatServer&) = delete;
    ChatServer& operator=(const ChatServer&) = delete;

    int port() const;
    std::string model() const;  // the id /v1/models lists
    // Serves until stop() (from any thread); returns when the listener and the engine's
    // queue have ended.
    void run();
    void stop();
    ServeState state() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool isLoopbackHost(const std::string& host);

}  // namespace vqa::serve
