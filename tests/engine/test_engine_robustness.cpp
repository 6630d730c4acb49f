// The engine under bad input and interruptions (issue: robustness). Every case loads a good
// tiny model first, then meets the damage, and checks two things: the message names the
// file and the problem, and the model loaded before still answers exactly as it did.
// Runtime cases: cancel during encoding, prefill and decoding; concurrent requests; a load
// during generation; running out of memory (raised through the engine's test hook).
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "engine/Engine.h"
#include "engine/EngineTesting.h"
#include "models/base/Error.h"
#include "tests/common/Requests.h"
#include "tests/common/TestPaths.h"

namespace fs = std::filesystem;
using namespace vqa;
using Clock = std::chrono::steady_clock;

namespace {

fs::path tinyCase() { return test::referenceDir("idefics3") / "tiny_tied"; }

std::string readText(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void writeText(const fs::path& p, const std::string& s) {
    std::ofstream(p, std::ios::binary | std::ios::trunc).write(s.data(), static_cast<std::streamsize>(s.size()));
}

// Rewrites the JSON header of a .safetensors file, keeping its data section as it is.
void editHeader(const fs::path& p, const std::function<void(nlohmann::json&)>& edit) {
    std::string bytes = readText(p);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    auto header = nlohmann::json::parse(bytes.substr(8, n));
    edit(header);
    std::string text = header.dump();
    while (text.size() % 8)
        text += ' ';
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i)
        out[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
    writeText(p, out + text + bytes.substr(8 + n));
}

// Sets the header's length field, leaving the rest of the file alone.
void setHeaderLength(const fs::path& p, std::uint64_t n) {
    std::string bytes = readText(p);
    for (int i = 0; i < 8; ++i)
        bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    writeText(p, bytes);
}

// Names of the tensors in a shard, by data offset.
std::vector<std::string> tensorNames(const nlohmann::json& header) {
    std::vector<std::pair<std::uint64_t, std::string>> v;
    for (auto it = header.begin(); it != header.end(); ++it)
        if (it.key() != "__metadata__")
            v.push_back({it.value()["data_offsets"][0].get<std::uint64_t>(), it.key()});
    std::sort(v.begin(), v.end());
    std::vector<std::string> names;
    for (auto& [offset, name] : v)
        names.push_back(name);
    return names;
}

// `key` names the image for the engine's caches; requests with different keys share no
// cached state (each encodes the image and prefills afresh).
Request imageQuestion(const std::string& question, int max_new_tokens, const std::string& key = "base") {
    const auto path = tinyCase() / "image0.png";
    return test::imageQuestion(path, path.string() + "#" + key, question, max_new_tokens);
}

// Clears the stage hook when a test ends, whatever happens.
struct HookGuard {
    explicit HookGuard(testhooks::StageHook hook) { testhooks::setStageHook(std::move(hook)); }
    ~HookGuard() { testhooks::setStageHook({}); }
};

class EngineRobustness : public ::testing::Test {
protected:
    void SetUp() override {
        VQA_SKIP_UNLESS_EXISTS(tinyCase() / "model", "run tests/reference/make_idefics3.py (ctest: reference.idefics3)");
        load_.device = DevicePreference::Cpu;
        engine_.load((tinyCase() / "model").string(), load_);
        baseline_ = engine_.generate(imageQuestion("What is in the image?", 6));
        ASSERT_EQ(baseline_.stop, StopReason::MaxTokens) << baseline_.error;
        ASSERT_EQ(baseline_.token_ids.size(), 6u);
        work_ = fs::temp_directory_path() / ("vqa-robust-" + std::to_string(::getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(work_);
    }
    void TearDown() override {
        if (!work_.empty())
            fs::remove_all(work_);
    }

    // A copy of the good model to damage.
    fs::path copyOfModel() {
        fs::create_directories(work_);
        const fs::path dir = work_ / "model";
        fs::copy(tinyCase() / "model", dir, fs::copy_options::recursive);
        return dir;
    }

    // The model loaded in SetUp still answers, token for token as before. A fresh
    // conversation (another image key) so no cached state can hide a broken model.
    void expectStillAnswers() {
        auto request = imageQuestion("What is in the image?", 6, "again" + std::to_string(++checks_));
        auto again = engine_.generate(request);
        EXPECT_EQ(again.stop, StopReason::MaxTokens) << again.error;
        EXPECT_EQ(again.token_ids, baseline_.token_ids);
    }

    // Loading `dir` fails with a message holding every one of `needles`; then the old model answers.
    void expectLoadFails(const fs::path& dir, const std::vector<std::string>& needles) {
        try {
            engine_.load(dir.string(), load_);
            ADD_FAILURE() << "loading the damaged model " << dir << " succeeded";
        } catch (const Error& e) {
            for (const auto& needle : needles)
                EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
                    << "'" << needle << "' not in: " << e.what();
        }
        EXPECT_TRUE(engine_.hasModel());
        EXPECT_EQ(engine_.modelInfo().path, fs::absolute(tinyCase() / "model").lexically_normal().string());
        expectStillAnswers();
    }

    Engine engine_;
    LoadOptions load_;
    GenerationResult baseline_;
    fs::path work_;
    int checks_ = 0;
    const std::string shard1_ = "model-00001-of-00002.safetensors";
    const std::string shard2_ = "model-00002-of-00002.safetensors";
    const std::string index_ = "model.safetensors.index.json";
};

}  // namespace

// --- Checkpoints -------------------------------------------------------------------------

TEST_F(EngineRobustness, FolderMissing) {
    expectLoadFails(work_ / "no-such-model", {"no-such-model", "does not exist"});
}

TEST_F(EngineRobustness, ConfigMissing) {
    auto dir = copyOfModel();
    fs::remove(dir / "config.json");
    expectLoadFails(dir, {dir.string(), "no config.json"});
}

TEST_F(EngineRobustness, ConfigNotJson) {
    auto dir = copyOfModel();
    writeText(dir / "config.json", "{\"model_type\": \"idefics3\", ");  // cut short
    expectLoadFails(dir, {(dir / "config.json").string(), "not valid JSON"});
}

TEST_F(EngineRobustness, UnknownModelType) {
    auto dir = copyOfModel();
    auto config = nlohmann::json::parse(readText(dir / "config.json"));
    config["model_type"] = "qwen9_vl";
    writeText(dir / "config.json", config.dump());
    expectLoadFails(dir, {"config.json", "qwen9_vl", "idefics3"});
}

TEST_F(EngineRobustness, TensorMissing) {
    auto dir = copyOfModel();
    // Rename the last tensor of the second shard, in the shard and in the index alike, so
    // the files agree with each other but the model lacks a tensor it needs.
    std::string victim;
    editHeader(dir / shard2_, [&](nlohmann::json& h) {
        victim = tensorNames(h).back();
        h[victim + ".renamed"] = h[victim];
        h.erase(victim);
    });
    auto index = nlohmann::json::parse(readText(dir / index_));
    index["weight_map"][victim + ".renamed"] = index["weight_map"][victim];
    index["weight_map"].erase(victim);
    writeText(dir / index_, index.dump());
    expectLoadFails(dir, {dir.string(), victim, "no tensor"});
}

TEST_F(EngineRobustness, TensorOfWrongShape) {
    auto dir = copyOfModel();
    // Swap the dimensions of a non-square matrix: same bytes, wrong shape.
    std::string victim;
    editHeader(dir / shard1_, [&](nlohmann::json& h) {
        for (const auto& name : tensorNames(h)) {
            auto shape = h[name]["shape"];
            if (shape.size() == 2 && shape[0] != shape[1]) {
                victim = name;
                h[name]["shape"] = {shape[1], shape[0]};
                break;
            }
        }
    });
    ASSERT_FALSE(victim.empty());
    expectLoadFails(dir, {victim, "has shape"});
}

TEST_F(EngineRobustness, HeaderLongerThanTheFile) {
    auto dir = copyOfModel();
    setHeaderLength(dir / shard1_, fs::file_size(dir / shard1_) + 100);
    expectLoadFails(dir, {shard1_, "header"});
}

TEST_F(EngineRobustness, OffsetsOutOfRange) {
    auto dir = copyOfModel();
    editHeader(dir / shard2_, [&](nlohmann::json& h) {
        const auto name = tensorNames(h).back();
        auto& offsets = h[name]["data_offsets"];
        offsets = {offsets[0].get<std::uint64_t>() + 1000000, offsets[1].get<std::uint64_t>() + 1000000};
    });
    expectLoadFails(dir, {shard2_, "past the end"});
}

TEST_F(EngineRobustness, OffsetsOverlapping) {
    auto dir = copyOfModel();
    std::string victim;
    editHeader(dir / shard2_, [&](nlohmann::json& h) {
        // (The second shard: the first holds one tensor only.) Move a tensor onto the bytes of the one before it (sizes permitting): overlap.
        auto names = tensorNames(h);
        for (std::size_t i = 1; i < names.size(); ++i) {
            auto& a = h[names[i - 1]]["data_offsets"];
            auto& b = h[names[i]]["data_offsets"];
            const auto size_b = b[1].get<std::uint64_t>() - b[0].get<std::uint64_t>();
            if (size_b > 4 && a[1].get<std::uint64_t>() - a[0].get<std::uint64_t>() > 4) {
                const auto start = a[0].get<std::uint64_t>() + 4;
                b = {start, start + size_b};
                victim = names[i];
                break;
            }
        }
    });
    ASSERT_FALSE(victim.empty());
    expectLoadFails(dir, {shard2_, "overlap"});
}

TEST_F(EngineRobustness, UnknownDtype) {
    auto dir = copyOfModel();
    editHeader(dir / shard1_, [&](nlohmann::json& h) { h[tensorNames(h).front()]["dtype"] = "Q4_K"; });
    expectLoadFails(dir, {shard1_, "Q4_K"});
}

TEST_F(EngineRobustness, TruncatedShard) {
    auto dir = copyOfModel();
    fs::resize_file(dir / shard2_, fs::file_size(dir / shard2_) / 2);
    expectLoadFails(dir, {shard2_, "truncated"});
}

TEST_F(EngineRobustness, IndexNamesAMissingShard) {
    auto dir = copyOfModel();
    fs::remove(dir / shard2_);
    expectLoadFails(dir, {index_, shard2_});
}

// --- Text ----------------------------------------------------------------------------------

TEST_F(EngineRobustness, MalformedTokenizerJson) {
    auto dir = copyOfModel();
    const std::string good = readText(dir / "tokenizer.json");
    writeText(dir / "tokenizer.json", good.substr(0, good.size() / 2));
    expectLoadFails(dir, {(dir / "tokenizer.json").string(), "not valid JSON"});
    // Valid JSON, but not a tokenizer: no model section.
    writeText(dir / "tokenizer.json", R"({"version": "1.0", "added_tokens": []})");
    expectLoadFails(dir, {"tokenizer.json"});
}

// Policy: invalid UTF-8 in what the user typed is not an error; each bad sequence becomes
// U+FFFD, as the reference sees it (Python decodes the text with errors="replace").
TEST_F(EngineRobustness, InvalidUtf8FromTheUserIsReplacedNotFatal) {
    auto bad = imageQuestion("What is \xff\xfe in the \xc3 image?", 4, "utf8");
    auto replaced = imageQuestion("What is \xef\xbf\xbd\xef\xbf\xbd in the \xef\xbf\xbd image?", 4, "utf8");
    EXPECT_EQ(engine_.promptTokens(bad), engine_.promptTokens(replaced));
    auto result = engine_.generate(bad);
    EXPECT_EQ(result.stop, StopReason::MaxTokens) << result.error;
    EXPECT_EQ(result.token_ids.size(), 4u);
    expectStillAnswers();
}

// Policy: a conversation longer than the model's context is refused with a message saying
// so (nothing is dropped silently); the session stays usable.
TEST_F(EngineRobustness, ConversationLongerThanTheContextIsRefused) {
    std::string text;
    for (int i = 0; i < 1500; ++i)
        text += "word" + std::to_string(i) + " ";
    auto result = engine_.generate(imageQuestion(text, 4, "long"));
    EXPECT_EQ(result.stop, StopReason::Error);
    EXPECT_NE(result.error.find("more than the model's context of 1024 tokens"), std::string::npos) << result.error;
    EXPECT_NE(result.error.find("start a new conversation"), std::string::npos) << result.error;
    EXPECT_TRUE(result.refused) << "the asker's to change: vqa serve answers 400";
    EXPECT_TRUE(result.token_ids.empty());
    expectStillAnswers();
}

// --- Runtime: cancel -----------------------------------------------------------------------

// The cancel flag is set when a stage starts; the vision encoder's or the decoder's check
// between layers must stop the stage, and what the engine keeps must stay consistent.
TEST_F(EngineRobustness, CancelDuringEncodingPrefillAndDecoding) {
    for (const std::string stage : {"encode", "prefill", "decode"}) {
        std::atomic<bool> cancel{false};
        std::vector<std::string> seen;
        HookGuard guard([&](std::string_view s) {
            seen.emplace_back(s);
            if (s == stage)
                cancel = true;
        });
        auto result = engine_.generate(imageQuestion("What is in the image?", 6, "cancel-" + stage), {}, &cancel);
        EXPECT_EQ(result.stop, StopReason::Cancelled) << stage << ": " << result.error;
        EXPECT_TRUE(result.token_ids.empty()) << stage;
        EXPECT_EQ(seen.back(), stage) << "a later stage ran after the cancel";
        if (stage == "encode") {
            EXPECT_EQ(result.timings.encode_ms, 0.0) << "the encoding ran to its end";
        }
        if (stage == "prefill") {
            EXPECT_EQ(result.timings.prefill_ms, 0.0) << "the prefill ran to its end";
        }
    }
    // Cancel mid-answer (from the token callback): the tokens so far are kept.
    std::atomic<bool> cancel{false};
    auto result = engine_.generate(imageQuestion("What is in the image?", 6, "cancel-mid"),
                                   [&](const TokenEvent& e) { cancel = e.index >= 1; }, &cancel);
    EXPECT_EQ(result.stop, StopReason::Cancelled);
    ASSERT_EQ(result.token_ids.size(), 2u);
    EXPECT_EQ(result.token_ids[0], baseline_.token_ids[0]);
    EXPECT_EQ(result.token_ids[1], baseline_.token_ids[1]);
    // The same conversation again, reusing what the cancelled one left in the KV cache:
    // the same answer, so what was kept is consistent.
    auto again = engine_.generate(imageQuestion("What is in the image?", 6, "cancel-mid"));
    EXPECT_EQ(again.token_ids, baseline_.token_ids);
    expectStillAnswers();
}

// --- Runtime: concurrency ------------------------------------------------------------------

// Engine::generate is safe to call from two threads: the second waits for the first
// (EngineWorker queues them on its thread anyway); both answers are right.
TEST_F(EngineRobustness, ASecondRequestWaitsForTheFirst) {
    std::promise<void> decoding;
    std::atomic<bool> signalled{false};
    HookGuard guard([&](std::string_view s) {
        if (s == "decode" && !signalled.exchange(true))
            decoding.set_value();
    });
    auto long_request = imageQuestion("What is in the image?", 300, "first");
    auto first = std::async(std::launch::async, [&] { return engine_.generate(long_request); });
    decoding.get_future().wait();
    auto second = engine_.generate(imageQuestion("What is in the image?", 6, "second"));
    auto first_result = first.get();
    EXPECT_EQ(first_result.stop, StopReason::MaxTokens) << first_result.error;
    EXPECT_EQ(first_result.token_ids.size(), 300u);
    EXPECT_TRUE(std::equal(baseline_.token_ids.begin(), baseline_.token_ids.end(), first_result.token_ids.begin()));
    EXPECT_EQ(second.stop, StopReason::MaxTokens) << second.error;
    EXPECT_EQ(second.token_ids, baseline_.token_ids);
}

// Loading another model while an answer is being generated: the answer finishes with the
// model it started with; the new model replaces it afterwards and answers.
TEST_F(EngineRobustness, LoadingAnotherModelDuringGeneration) {
    const fs::path other = test::referenceDir("idefics3") / "tiny_untied" / "model";
    VQA_SKIP_UNLESS_EXISTS(other, "run tests/reference/make_idefics3.py");
    std::promise<void> decoding;
    std::atomic<bool> signalled{false};
    HookGuard guard([&](std::string_view s) {
        if (s == "decode" && !signalled.exchange(true))
            decoding.set_value();
    });
    auto first = std::async(std::launch::async, [&] { return engine_.generate(imageQuestion("What is in the image?", 300, "long")); });
    decoding.get_future().wait();
    auto info = engine_.load(other.string(), load_);
    auto answer = first.get();
    EXPECT_EQ(answer.stop, StopReason::MaxTokens) << answer.error;
    EXPECT_EQ(answer.token_ids.size(), 300u);
    EXPECT_TRUE(std::equal(baseline_.token_ids.begin(), baseline_.token_ids.end(), answer.token_ids.begin()));
    EXPECT_EQ(info.path, fs::absolute(other).lexically_normal().string());
    auto next = engine_.generate(imageQuestion("What is in the image?", 6, "next"));
    EXPECT_EQ(next.stop, StopReason::MaxTokens) << next.error;
    EXPECT_EQ(next.token_ids.size(), 6u);
}

// --- Runtime: out of memory ----------------------------------------------------------------

// A CPU allocation failure (std::bad_alloc) or LibTorch's out-of-memory error at any stage
// is reported with what the engine was doing, and the engine stays usable. The failure is
// raised through the test hook, so the machine's memory is never actually exhausted.
TEST_F(EngineRobustness, OutOfMemoryIsReportedAndRecoveredFrom) {
    struct Case {
        std::string stage, doing;
        bool torch_error;
    };
    for (const Case& c : {Case{"encode", "preparing and encoding the image", false}, Case{"prefill", "reading the prompt", true},
                          Case{"decode", "generating the answer", false}, Case{"decode", "generating the answer", true}}) {
        {
            HookGuard guard([&](std::string_view s) {
                if (s != c.stage)
                    return;
                if (c.torch_error) {
                    TORCH_CHECK_WITH(OutOfMemoryError, false, "CUDA out of memory. Tried to allocate 20.00 GiB");
                }
                throw std::bad_alloc();
            });
            auto result = engine_.generate(imageQuestion("What is in the image?", 6, "oom-" + c.stage));
            EXPECT_EQ(result.stop, StopReason::Error) << c.stage;
            EXPECT_NE(result.error.find("out of CPU memory while " + c.doing), std::string::npos) << result.error;
            EXPECT_NE(result.error.find("the model is still loaded"), std::string::npos) << result.error;
            EXPECT_FALSE(result.refused) << "running out of memory is not the request's fault";
            if (c.torch_error) {
                EXPECT_NE(result.error.find("Tried to allocate 20.00 GiB"), std::string::npos) << result.error;
            }
        }
        expectStillAnswers();
    }
}

// Out of memory while loading another model: a message, and the model before stays.
TEST_F(EngineRobustness, OutOfMemoryWhileLoadingKeepsThePreviousModel) {
    HookGuard guard([](std::string_view s) {
        if (s == "load")
            throw std::bad_alloc();
    });
    const auto other = test::referenceDir("idefics3") / "tiny_untied" / "model";
    expectLoadFails(other, {"out of memory while loading", other.string(), "the model loaded before is still in use"});
}

// An image value whose size does not match its buffer (a bug elsewhere, a corrupt
// clipboard image): refused with a message, never read out of bounds.
TEST_F(EngineRobustness, ImageWhosePixelsDoNotMatchItsSizeIsRefused) {
    auto request = imageQuestion("What is in the image?", 4, "broken");
    auto broken = std::make_shared<RgbImage>(*request.images[0]);
    broken->width *= 1000;
    request.images[0] = broken;
    auto result = engine_.generate(request);
    EXPECT_EQ(result.stop, StopReason::Error);
    EXPECT_NE(result.error.find("is damaged"), std::string::npos) << result.error;
    EXPECT_TRUE(result.refused);
    expectStillAnswers();
}

// --- Runtime: cancel latency on a model of real size ---------------------------------------

// On SmolVLM-256M's real shapes (random weights), a cancel made in the middle of the image
// encoding or of a long prefill returns long before the stage would have ended: the vision
// encoder and the decoder check the flag between layers. The test times the whole stage
// first, in the same process and under the same load, cancels 30 % of that time into a second
// run of it, and asks for the return within a further 35 %: one layer of twelve (or thirty)
// is far less, and without the checks the stage runs its remaining 70 %. A ratio, not a number
// of seconds, so a busy machine slows both sides alike.
TEST(EngineCancelLatency, EncodingAndPrefillStopPromptly) {
    const fs::path model = test::referenceDir("idefics3") / "real_shapes" / "model";
    VQA_SKIP_UNLESS_EXISTS(model, "run tests/reference/make_idefics3.py (ctest: reference.idefics3)");
    Engine engine;
    LoadOptions load;
    load.device = DevicePreference::Cpu;
    engine.load(model.string(), load);

    auto image = std::make_shared<RgbImage>();
    // 4:1, so the processor makes 4 tiles and the global view (a square image makes 17).
    image->width = 1024;
    image->height = 256;
    image->pixels.resize(1024 * 256 * 3);
    for (std::size_t i = 0; i < image->pixels.size(); ++i)
        image->pixels[i] = static_cast<std::uint8_t>((i * 2654435761u) >> 24);
    // About 2,000 tokens, different from the first word on for each key, so that no run
    // reuses the cached prefix of the one before it.
    auto long_text = [](const std::string& key) {
        std::string text;
        for (int i = 0; i < 1000; ++i)
            text += key + std::to_string(i) + " ";
        return text;
    };

    for (const std::string stage : {"encode", "prefill"}) {
        auto request = [&](const std::string& key) {
            Request r;
            if (stage == "encode") {
                r.images.push_back(image);
                r.image_keys.push_back(key);  // a key of its own: each run encodes
                r.conversation.push_back(
                    Turn{Role::User, {{ContentPart::Kind::Image, {}}, {ContentPart::Kind::Text, "Describe."}}});
            } else {
                r.conversation.push_back(Turn{Role::User, {{ContentPart::Kind::Text, long_text(key)}}});
            }
            r.generation.max_new_tokens = 2;
            return r;
        };
        const auto whole = engine.generate(request("whole"));
        ASSERT_EQ(whole.stop, StopReason::MaxTokens) << stage << ": " << whole.error;
        const double stage_ms = stage == "encode" ? whole.timings.encode_ms : whole.timings.prefill_ms;
        ASSERT_GT(stage_ms, 0.0) << stage;

        std::atomic<bool> cancel{false};
        Clock::time_point cancelled_at{};
        std::thread canceller;
        HookGuard guard([&](std::string_view s) {
            if (s != stage)
                return;
            canceller = std::thread([&] {
                std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(0.3 * stage_ms));
                cancelled_at = Clock::now();
                cancel = true;
            });
        });
        auto result = engine.generate(request("cancelled"), {}, &cancel);
        const auto returned = Clock::now();
        ASSERT_TRUE(canceller.joinable()) << stage << " never started";
        canceller.join();
        EXPECT_EQ(result.stop, StopReason::Cancelled) << stage << ": " << result.error;
        const double latency_ms = std::chrono::duration<double, std::milli>(returned - cancelled_at).count();
        RecordProperty(stage + "_cancel_latency_ms", static_cast<int>(latency_ms));
        std::printf("[ measure  ] the whole %s took %.0f ms; cancelled 30 %% in, it returned after %.0f ms\n",
                    stage.c_str(), stage_ms, latency_ms);
        EXPECT_LT(latency_ms, 0.35 * stage_ms) << stage << " (the whole stage took " << stage_ms << " ms)";
    }
}
