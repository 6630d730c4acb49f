#include "engine/serve/ChatServer.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <httplib.h>

#include "engine/Engine.h"
#include "models/base/Error.h"

namespace vqa::serve {
namespace {

using Clock = std::chrono::steady_clock;

// One request on its way through the queue and the engine.
struct Job {
    ChatCall call;
    std::atomic<bool> cancel{false};
    std::mutex m;
    std::condition_variable cv;
    std::deque<TokenEvent> tokens; // produced, not yet sent
    bool done = false;
    GenerationResult result;
};

void sendJson(httplib::Response& res, int status, const nlohmann::json& body) {
    res.status = status;
    res.set_content(body.dump(), "application/json");
}

void sendError(httplib::Response& res, int status, const std::string& type, const std::string& message) {
    sendJson(res, status, errorBody(status, type, message));
}

// Compared in a time that does not depend on where the strings first differ, so the key
// cannot be guessed a character at a time from how long a refusal takes.
bool sameSecret(const std::string& given, const std::string& expected) {
    unsigned char diff = given.size() == expected.size() ? 0 : 1;
    for (std::size_t i = 0; i < expected.size(); ++i)
        diff |= static_cast<unsigned char>(expected[i] ^ (i < given.size() ? given[i] : 0));
    return diff == 0;
}

std::string completionId() {
    static std::atomic<std::uint64_t> next{1};
    return "chatcmpl-vqa-" + std::to_string(next++);
}

std::int64_t unixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace

bool isLoopbackHost(const std::string& host) {
    if (host == "localhost" || host == "::1")
        return true;
    in_addr a{};
    return inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

struct ChatServer::Impl {
    Engine& engine;
    ServeOptions options;
    httplib::Server http;
    int port = 0;
    std::string model_id;

    mutable std::mutex queue_mutex;
    std::condition_variable queue_cv;
    std::deque<std::shared_ptr<Job>> queue;
    bool answering = false;
    std::shared_ptr<Job> current; // the one answering
    bool stopping = false;
    std::uint64_t served = 0;
    std::uint64_t cancelled = 0;

    Impl(Engine& e, ServeOptions o) : engine(e), options(std::move(o)) {}

    // The engine's one thread: requests in the order they came.
    void work() {
        for (;;) {
            std::shared_ptr<Job> job;
            {
                std::unique_lock lock(queue_mutex);
                queue_cv.wait(lock, [&] { return stopping || !queue.empty(); });
                if (queue.empty())
                    return;
                job = queue.front();
                queue.pop_front();
                answering = true;
                current = job;
            }
            if (options.before_answer)
                options.before_answer(job->cancel);
            GenerationResult result;
            if (job->cancel) {
                result.stop = StopReason::Cancelled;
            } else {
                result = engine.generate(
                    job->call.request,
                    [&](const TokenEvent& e) {
                        {
                            std::lock_guard lock(job->m);
                            job->tokens.push_back(e);
                        }
                        job->cv.notify_all();
                    },
                    &job->cancel);
            }
            {
                std::lock_guard lock(job->m);
                job->result = std::move(result);
                job->done = true;
            }
            job->cv.notify_all();
            std::lock_guard lock(queue_mutex);
            answering = false;
            current.reset();
            ++served;
            cancelled += job->result.stop == StopReason::Cancelled;
        }
    }

    // Null when the queue is full (or the server is stopping).
    std::shared_ptr<Job> enqueue(ChatCall call) {
        auto job = std::make_shared<Job>();
        job->call = std::move(call);
        {
            std::lock_guard lock(queue_mutex);
            if (stopping || static_cast<int>(queue.size()) >= options.max_queue)
                return nullptr;
            queue.push_back(job);
        }
        queue_cv.notify_all();
        return job;
    }

    bool authorized(const httplib::Request& req, httplib::Response& res) const {
        if (options.api_key.empty() || sameSecret(req.get_header_value("Authorization"), "Bearer " + options.api_key))
            return true;
        sendError(res, 401, "authentication_error",
                  "a missing or wrong API key: send the header Authorization: Bearer <key>");
        return false;
    }

    void chat(const httplib::Request& req, httplib::Response& res) {
        if (!authorized(req, res))
            return;
        ChatCall call;
        try {
            call = parseChatRequest(nlohmann::json::parse(req.body), options.limits);
        } catch (const nlohmann::json::parse_error& e) {
            return sendError(res, 400, "invalid_request_error", std::string("the body is not JSON: ") + e.what());
        } catch (const ProtocolError& e) {
            return sendError(res, e.status, e.type, e.what());
        }
        if (!call.model.empty() && call.model != model_id)
            return sendError(res, 404, "not_found_error",
                             "the model '" + call.model + "' is not served here; this server serves '" + model_id + "'");
        const bool stream = call.stream, attention = call.attention;
        auto job = enqueue(std::move(call));
        if (!job) {
            res.set_header("Retry-After", "1");
            return sendError(res, 503, "server_busy",
                             "the server is busy: " + std::to_string(options.max_queue) +
                                 " requests are waiting; try again in a moment");
        }
        const std::string id = completionId();
        const std::int64_t created = unixNow();
        if (!stream) {
            std::unique_lock lock(job->m);
            job->cv.wait(lock, [&] { return job->done; });
            if (job->result.stop == StopReason::Error)
                return job->result.refused ? sendError(res, 400, "invalid_request_error", job->result.error)
                                           : sendError(res, 500, "server_error", job->result.error);
            return sendJson(res, 200, completionBody(id, model_id, created, job->result));
        }
        res.set_header("Cache-Control", "no-cache");
        res.set_chunked_content_provider(
            "text/event-stream",
            [this, job, id, created, attention](std::size_t, httplib::DataSink& sink) {
                auto send = [&](const std::string& data) {
                    const std::string event = "data: " + data + "\n\n";
                    return sink.write(event.data(), event.size());
                };
                auto gone = [&] {
                    job->cancel = true; // the engine stops at its next step; the next request starts
                    return false;
                };
                if (!send(chunkBody(id, model_id, created, {{"role", "assistant"}, {"content", ""}}, "").dump()))
                    return gone();
                for (;;) {
                    std::deque<TokenEvent> batch;
                    bool done = false;
                    {
                        std::unique_lock lock(job->m);
                        job->cv.wait_for(lock, std::chrono::milliseconds(200),
                                         [&] { return !job->tokens.empty() || job->done; });
                        batch.swap(job->tokens);
                        done = job->done;
                    }
                    for (const TokenEvent& e : batch)
                        if (!send(chunkBody(id, model_id, created, {{"content", e.text}}, "",
                                            attention ? &e.attention : nullptr)
                                      .dump()))
                            return gone();
                    if (done)
                        break;
                    // Waiting (queued, or a slow step): a comment, which clients ignore, shows
                    // at once whether this client is still there.
                    static constexpr char kKeepAlive[] = ": waiting\n\n";
                    if (batch.empty() && !sink.write(kKeepAlive, sizeof kKeepAlive - 1))
                        return gone();
                }
                const GenerationResult& r = job->result;
                if (r.stop == StopReason::Error)
                    send((r.refused ? errorBody(400, "invalid_request_error", r.error)
                                    : errorBody(500, "server_error", r.error))
                             .dump());
                else
                    send(chunkBody(id, model_id, created, nlohmann::json::object(), finishReason(r.stop)).dump());
                send("[DONE]");
                sink.done();
                return true;
            },
            [job](bool success) {
                if (!success)
                    job->cancel = true;
            });
    }

    void routes() {
        http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { chat(req, res); });
        http.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
            if (!authorized(req, res))
                return;
            sendJson(res, 200,
                     {{"object", "list"},
                      {"data", {{{"id", model_id}, {"object", "model"}, {"created", unixNow()}, {"owned_by", "vqa-studio"}}}}});
        });
        http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
            std::lock_guard lock(queue_mutex);
            sendJson(res, 200,
                     {{"status", "ok"}, {"model", model_id}, {"queued", queue.size()}, {"answering", answering},
                      {"served", served}, {"cancelled", cancelled}});
        });
        // What httplib answers by itself (no such route, a body over the limit) as JSON too.
        http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty())
                return;
            const std::string message =
                res.status == 404   ? "no route " + req.method + " " + req.path +
                                          " (this server has POST /v1/chat/completions, GET /v1/models, GET /health)"
                : res.status == 413 ? std::string("the request body is too large")
                                    : "HTTP " + std::to_string(res.status);
            res.set_content(errorBody(res.status, "invalid_request_error", message).dump(), "application/json");
        });
        http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
            std::string what = "unknown error";
            try {
                if (ep)
                    std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            sendError(res, 500, "server_error", what);
        });
    }
};

ChatServer::ChatServer(Engine& engine, ServeOptions options) : impl_(std::make_unique<Impl>(engine, std::move(options))) {
    auto& o = impl_->options;
    if (!engine.hasModel())
        throw Error("no model is loaded to serve");
    if (!isLoopbackHost(o.host) && o.api_key.empty())
        throw Error("serving on " + o.host +
                    " needs an API key (--api-key-env VAR): without one, only loopback addresses (127.0.0.1) are served");
    impl_->model_id = engine.modelInfo().name;
    auto& http = impl_->http;
    // The one engine answers in turn; these threads read requests, wait in the queue and
    // stream answers: one for each request waiting, the one answering, and a few for
    // /health and quick refusals.
    const std::size_t threads = static_cast<std::size_t>(o.max_queue) + 4;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(o.max_body_bytes);
    http.set_read_timeout(30, 0);
    http.set_write_timeout(30, 0);
    impl_->routes();
    if (o.port == 0) {
        impl_->port = http.bind_to_any_port(o.host);
        if (impl_->port <= 0)
            throw Error("cannot listen on " + o.host);
    } else {
        if (!http.bind_to_port(o.host, o.port))
            throw Error("cannot listen on " + o.host + ":" + std::to_string(o.port) + " (is the port in use?)");
        impl_->port = o.port;
    }
}

ChatServer::~ChatServer() { stop(); }

int ChatServer::port() const { return impl_->port; }
std::string ChatServer::model() const { return impl_->model_id; }

void ChatServer::run() {
    std::thread worker([this] { impl_->work(); });
    impl_->http.listen_after_bind();
    stop();
    worker.join();
}

void ChatServer::stop() {
    {
        std::lock_guard lock(impl_->queue_mutex);
        impl_->stopping = true;
        for (auto& job : impl_->queue)
            job->cancel = true;
        if (impl_->current)
            impl_->current->cancel = true;
    }
    impl_->queue_cv.notify_all();
    impl_->http.stop();
}

ServeState ChatServer::state() const {
    std::lock_guard lock(impl_->queue_mutex);
    return {static_cast<int>(impl_->queue.size()), impl_->answering, impl_->served, impl_->cancelled};
}

}  // namespace vqa::serve
