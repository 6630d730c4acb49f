// `vqa serve`'s server in-process on loopback, with the tiny SmolVLM checkpoint, talked to by
// the remote engine's client (the pair the desktop app uses): answers streamed and whole equal
// the local engine's, attention grids come across exactly; requests queue in order, the queue
// limit answers 503, and a client that goes away mid-answer frees the engine at once. A gate
// before each answer (ServeOptions::before_answer) holds the engine busy, so the queue and the
// disconnect are certain, not timed. (The protocol's bad inputs: test_chat_protocol.cpp; a
// client nobody here wrote: tests/serve/test_serve.py.)
#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "engine/Engine.h"
#include "engine/remote/OpenAiClient.h"
#include "engine/serve/ChatServer.h"
#include "models/base/Error.h"
#include "tests/common/TestPaths.h"

namespace {

namespace fs = std::filesystem;
using namespace vqa;

fs::path tinyCase() { return test::referenceDir("idefics3") / "tiny_untied"; }

// Polls a state that is certain to come (the server's own counters), up to a deadline.
bool waitUntil(const std::function<bool()>& done, int timeout_ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done()) {
        if (std::chrono::steady_clock::now() > end)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

Request question(const std::string& text, int max_new_tokens, bool attention = false) {
    Request r;
    r.images.push_back(std::make_shared<const RgbImage>(loadImageFile((tinyCase() / "image0.png").string())));
    r.image_keys.push_back("image0");
    r.conversation.push_back(Turn{Role::User, {{ContentPart::Kind::Image, {}}, {ContentPart::Kind::Text, text}}});
    r.generation.max_new_tokens = max_new_tokens;
    r.generation.ignore_eos = true;
    r.explain.capture_attention = attention;
    return r;
}

// A gate the engine's thread waits at before each answer, until the test opens it.
class Gate {
public:
    void wait(const std::atomic<bool>& cancel) {
        std::unique_lock lock(m_);
        ++arrived_;
        cv_.notify_all();
        cv_.wait(lock, [&] { return open_ || (release_on_cancel_ && cancel.load()); });
    }
    void waitArrived(int n) {
        std::unique_lock lock(m_);
        ASSERT_TRUE(cv_.wait_for(lock, std::chrono::seconds(30), [&] { return arrived_ >= n; }));
    }
    void open() {
        std::lock_guard lock(m_);
        open_ = true;
        cv_.notify_all();
    }
    // Also let an answer through once its client has gone (its cancel flag is set).
    void releaseOnCancel() {
        std::lock_guard lock(m_);
        release_on_cancel_ = true;
    }
    void poke() { cv_.notify_all(); }

private:
    std::mutex m_;
    std::condition_variable cv_;
    int arrived_ = 0;
    bool open_ = false;
    bool release_on_cancel_ = false;
};

class ChatServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        VQA_SKIP_UNLESS_EXISTS(tinyCase() / "model", "run tests/reference/make_idefics3.py (ctest: reference.idefics3)");
        LoadOptions load;
        load.device = DevicePreference::Cpu;
        served_.load((tinyCase() / "model").string(), load);
        local_.load((tinyCase() / "model").string(), load);
    }
    void TearDown() override {
        if (server_)
            server_->stop();
        if (runner_.joinable())
            runner_.join();
    }

    RemoteServer start(serve::ServeOptions options) {
        options.host = "127.0.0.1";
        options.port = 0;
        server_ = std::make_unique<serve::ChatServer>(served_, options);
        runner_ = std::thread([this] { server_->run(); });
        RemoteServer remote;
        remote.base_url = "http://127.0.0.1:" + std::to_string(server_->port());
        remote.api_key = options.api_key;
        return remote::resolveModel(remote);
    }

    Engine served_, local_;
    std::unique_ptr<serve::ChatServer> server_;
    std::thread runner_;
};

TEST_F(ChatServerTest, AnswersEqualTheLocalEngineAttentionIncluded) {
    const RemoteServer remote = start({});
    EXPECT_TRUE(remote.sends_attention) << "a VQA Studio server says so in /v1/models";
    const Request request = question("What is in the image?", 8, true);
    // Each engine answers this request for the first time (a cached prefix would change the
    // last bits of the attention).
    std::vector<std::vector<HeatmapGrid>> local_grids;
    const GenerationResult local =
        local_.generate(request, [&](const TokenEvent& e) { local_grids.push_back(e.attention); });
    std::vector<TokenEvent> events;
    const GenerationResult streamed =
        remote::streamChat(remote, request, [&](const TokenEvent& e) { events.push_back(e); }, nullptr);
    ASSERT_EQ(streamed.stop, StopReason::MaxTokens) << streamed.error;
    EXPECT_EQ(streamed.text, local.text);
    ASSERT_EQ(events.size(), local.token_ids.size());
    // The attention of each token as the local engine captured it, bit for bit.
    ASSERT_EQ(local_grids.size(), events.size());
    for (std::size_t t = 0; t < events.size(); ++t) {
        ASSERT_EQ(events[t].attention.size(), local_grids[t].size()) << "token " << t;
        ASSERT_FALSE(events[t].attention.empty());
        for (std::size_t g = 0; g < local_grids[t].size(); ++g) {
            EXPECT_EQ(events[t].attention[g].values, local_grids[t][g].values) << "token " << t << " grid " << g;
            EXPECT_EQ(events[t].attention[g].rows, local_grids[t][g].rows);
            EXPECT_EQ(events[t].attention[g].x, local_grids[t][g].x);
        }
    }
    // Without asking, no grids are sent.
    Request plain = request;
    plain.explain.capture_attention = false;
    bool any = false;
    remote::streamChat(remote, plain, [&](const TokenEvent& e) { any = any || !e.attention.empty(); }, nullptr);
    EXPECT_FALSE(any);
}

TEST_F(ChatServerTest, TheQueueAnswersInOrderAndRefusesBeyondItsLimit) {
    Gate gate;
    serve::ServeOptions options;
    options.max_queue = 2;
    options.before_answer = [&](const std::atomic<bool>& cancel) { gate.wait(cancel); };
    const RemoteServer remote = start(options);

    std::vector<std::future<GenerationResult>> answers;
    for (int i = 0; i < 3; ++i) {
        answers.push_back(std::async(std::launch::async, [&, i] {
            return remote::streamChat(remote, question("Question " + std::to_string(i), 4), {}, nullptr);
        }));
        if (i == 0)
            gate.waitArrived(1); // the first is answering (held at the gate)
        else
            ASSERT_TRUE(waitUntil([&] { return server_->state().queued == i; }, 30000));
    }
    // One answering, two waiting: the next is refused at once.
    const GenerationResult refused = remote::streamChat(remote, question("One too many", 4), {}, nullptr);
    EXPECT_EQ(refused.stop, StopReason::Error);
    EXPECT_NE(refused.error.find("503"), std::string::npos) << refused.error;
    gate.open();
    for (int i = 0; i < 3; ++i) {
        const GenerationResult r = answers[i].get();
        EXPECT_EQ(r.stop, StopReason::MaxTokens) << r.error;
        EXPECT_EQ(r.text, local_.generate(question("Question " + std::to_string(i), 4)).text) << "answer " << i;
    }
    // The engine's thread counts an answer after its client has the last of it.
    EXPECT_TRUE(waitUntil([&] { return server_->state().served == 3u; }, 30000)) << server_->state().served;
}

TEST_F(ChatServerTest, AClientThatGoesAwayFreesTheEngine) {
    Gate gate;
    gate.releaseOnCancel();
    serve::ServeOptions options;
    options.before_answer = [&](const std::atomic<bool>& cancel) { gate.wait(cancel); };
    const RemoteServer remote = start(options);

    // The first client's answer is held at the gate; the client then stops (its transfer
    // ends, as when a window's Stop is pressed or a program dies).
    std::atomic<bool> stop{false};
    auto first = std::async(std::launch::async, [&] {
        return remote::streamChat(remote, question("Tell me everything", 200), {}, &stop);
    });
    gate.waitArrived(1);
    stop = true;
    EXPECT_EQ(first.get().stop, StopReason::Cancelled);
    // The server notices within its keep-alive interval and cancels that answer: the gate
    // lets it through cancelled, and the engine takes the next request.
    ASSERT_TRUE(waitUntil([&] {
        gate.poke();
        return server_->state().cancelled == 1;
    }, 30000));
    gate.open();
    const GenerationResult next = remote::streamChat(remote, question("Next", 4), {}, nullptr);
    EXPECT_EQ(next.stop, StopReason::MaxTokens) << next.error;
    EXPECT_TRUE(waitUntil([&] { return server_->state().served == 2u; }, 30000)) << server_->state().served;
}

TEST_F(ChatServerTest, AnApiKeyIsRequiredWhenSetAndPublicAddressesNeedOne) {
    serve::ServeOptions options;
    options.api_key = "sk-serve-test";
    const RemoteServer remote = start(options);
    RemoteServer wrong = remote;
    wrong.api_key = "nope";
    const GenerationResult refused = remote::streamChat(wrong, question("Hi", 2), {}, nullptr);
    EXPECT_EQ(refused.stop, StopReason::Error);
    EXPECT_NE(refused.error.find("401"), std::string::npos) << refused.error;
    EXPECT_EQ(remote::streamChat(remote, question("Hi", 2), {}, nullptr).stop, StopReason::MaxTokens);

    serve::ServeOptions open;
    open.host = "0.0.0.0";
    open.port = 0;
    EXPECT_THROW(serve::ChatServer(served_, open), Error) << "a public address without a key";
    EXPECT_TRUE(serve::isLoopbackHost("127.0.0.1"));
    EXPECT_TRUE(serve::isLoopbackHost("127.4.5.6"));
    EXPECT_TRUE(serve::isLoopbackHost("localhost"));
    EXPECT_FALSE(serve::isLoopbackHost("0.0.0.0"));
    EXPECT_FALSE(serve::isLoopbackHost("192.168.1.2"));
}

TEST(RemoteEngine, AnUnreachableServerLeavesTheEngineAsItWas) {
    vqa::Engine engine;
    vqa::RemoteServer server;
    server.base_url = "http://127.0.0.1:1"; // nothing listens on port 1
    try {
        engine.connect(server);
        FAIL() << "connected to nothing";
    } catch (const vqa::Error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot reach the server"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(engine.hasModel());
    EXPECT_FALSE(engine.modelInfo().remote);
}

}  // namespace
