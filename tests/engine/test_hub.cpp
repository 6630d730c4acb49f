// The Hub downloader against a real HTTP server on 127.0.0.1 (tests/hub/fake_hub_server.py,
// a small stand-in for the Hugging Face Hub), into a scratch Hub cache per test.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/hub/HubCache.h"
#include "engine/hub/HubClient.h"
#include "engine/hub/KnownModels.h"
#include "tests/common/Ports.h"

namespace fs = std::filesystem;
using namespace vqa::hub;

using vqa::test::closedPort;

namespace {

// Runs a command and returns its standard output (for checks by tools other than ours).
std::string runCommand(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p)
        return out;
    char buf[256];
    while (std::fgets(buf, sizeof buf, p))
        out += buf;
    pclose(p);
    return out;
}

std::string sha256sumTool(const fs::path& file) {
    return runCommand("sha256sum '" + file.string() + "'").substr(0, 64);
}

class ScopedEnv {
  public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) {
            had_ = true;
            old_ = old;
        }
        if (value)
            setenv(name, value, 1);
        else
            unsetenv(name);
    }
    ~ScopedEnv() {
        if (had_)
            setenv(name_.c_str(), old_.c_str(), 1);
        else
            unsetenv(name_.c_str());
    }

  private:
    std::string name_, old_;
    bool had_ = false;
};

} // namespace

class HubServerTest : public ::testing::Test {
  protected:
    static inline pid_t server_pid = -1;
    static inline std::string endpoint;
    static inline fs::path log_path;
    static inline std::string server_problem;

    static void SetUpTestSuite() {
        const fs::path script = fs::path(VQA_SOURCE_DIR) / "tests" / "hub" / "fake_hub_server.py";
        const char* py_env = std::getenv("VQA_TEST_PYTHON");
        const std::string python = py_env && *py_env ? py_env : "python3";
        log_path =
            fs::temp_directory_path() / ("vqa_fake_hub_" + std::to_string(getpid()) + ".log");
        fs::remove(log_path);
        int fds[2];
        if (pipe(fds) != 0) {
            server_problem = "pipe() failed";
            return;
        }
        server_pid = fork();
        if (server_pid == 0) {
            dup2(fds[1], STDOUT_FILENO);
            close(fds[0]);
            close(fds[1]);
            execlp(python.c_str(), python.c_str(), script.c_str(), "--log", log_path.c_str(),
                   "--idle", "120", "--lifetime", "900", static_cast<char*>(nullptr));
            _exit(127);
        }
        close(fds[1]);
        std::string line;
        pollfd pfd{fds[0], POLLIN, 0};
        while (line.find('\n') == std::string::npos && poll(&pfd, 1, 15000) > 0) {
            char buf[64];
            const auto n = read(fds[0], buf, sizeof buf);
            if (n <= 0)
                break;
            line.append(buf, static_cast<size_t>(n));
        }
        close(fds[0]);
        if (line.rfind("PORT ", 0) != 0) {
            server_problem =
                "the fake Hub server (" + python + " " + script.string() + ") did not start";
            return;
        }
        endpoint = "http://127.0.0.1:" + std::to_string(std::stoi(line.substr(5)));
    }

    static void TearDownTestSuite() {
        if (server_pid > 0) {
            kill(server_pid, SIGTERM);
            waitpid(server_pid, nullptr, 0);
        }
        fs::remove(log_path);
    }

    void SetUp() override {
        ASSERT_TRUE(server_problem.empty()) << server_problem;
        char tmpl[] = "/tmp/vqa_hub_cache_XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        cache = tmpl;
        log_mark = logLines().size();
    }
    void TearDown() override { fs::remove_all(cache); }

    HubClient::Options options() const {
        HubClient::Options o;
        o.endpoint = endpoint;
        o.cache_dir = cache;
        o.offline = false;
        o.token = "test-token";
        return o;
    }

    static std::vector<nlohmann::json> logLines() {
        std::vector<nlohmann::json> lines;
        std::ifstream in(log_path);
        for (std::string l; std::getline(in, l);)
            if (!l.empty())
                lines.push_back(nlohmann::json::parse(l));
        return lines;
    }
    // Requests the server saw since this test began.
    std::vector<nlohmann::json> requestsSinceStart() const {
        auto all = logLines();
        return {all.begin() + static_cast<long>(std::min(log_mark, all.size())), all.end()};
    }

    fs::path cache;
    size_t log_mark = 0;
};

TEST(HubEnvironment, CacheDirAndEndpointFollowTheHubsVariables) {
    ScopedEnv a("HF_HUB_CACHE", nullptr), b("HUGGINGFACE_HUB_CACHE", nullptr),
        c("HF_HOME", nullptr), d("XDG_CACHE_HOME", "/x/cache"), e("VQA_HUB_ENDPOINT", nullptr),
        f("HF_ENDPOINT", nullptr);
    EXPECT_EQ(defaultCacheDir(), fs::path("/x/cache/huggingface/hub"));
    {
        ScopedEnv home("HF_HOME", "/y/hf");
        EXPECT_EQ(defaultCacheDir(), fs::path("/y/hf/hub"));
        ScopedEnv hub("HF_HUB_CACHE", "/z/hub");
        EXPECT_EQ(defaultCacheDir(), fs::path("/z/hub"));
    }
    EXPECT_EQ(defaultEndpoint(), "https://huggingface.co");
    ScopedEnv hf("HF_ENDPOINT", "https://mirror.example/");
    EXPECT_EQ(defaultEndpoint(), "https://mirror.example");
    ScopedEnv ours("VQA_HUB_ENDPOINT", "http://127.0.0.1:1234");
    EXPECT_EQ(defaultEndpoint(), "http://127.0.0.1:1234");
    EXPECT_EQ(repoFolderName("HuggingFaceTB/SmolVLM-256M-Instruct"),
              "models--HuggingFaceTB--SmolVLM-256M-Instruct");
    EXPECT_THROW(repoFolderName("no-slash"), vqa::Error);
    EXPECT_THROW(repoFolderName("../etc"), vqa::Error);
}

TEST(HubKnownModels, OffersBothSmolVLMsWithLicenceAndSize) {
    const auto* small = findKnownModel("huggingfacetb/smolvlm-256m-instruct");
    const auto* larger = findKnownModel("HuggingFaceTB/SmolVLM-500M-Instruct");
    ASSERT_NE(small, nullptr);
    ASSERT_NE(larger, nullptr);
    EXPECT_EQ(small->license, "Apache-2.0");
    EXPECT_EQ(small->family, "idefics3");
    EXPECT_TRUE(small->recommended);
    EXPECT_LT(small->download_bytes, larger->download_bytes);
    EXPECT_EQ(findKnownModel("someone/else"), nullptr);
    EXPECT_EQ(formatBytes(520'000'000), "520 MB");
    EXPECT_EQ(formatBytes(1'030'000'000), "1.0 GB");
}

TEST(HubKnownModels, OffersTheQwenVisionModelsWithTheirFamiliesAndSizes) {
    const auto* q3 = findKnownModel("Qwen/Qwen2.5-VL-3B-Instruct");
    const auto* q7 = findKnownModel("qwen/qwen2.5-vl-7b-instruct");
    const auto* q2 = findKnownModel("Qwen/Qwen2-VL-2B-Instruct");
    ASSERT_NE(q3, nullptr);
    ASSERT_NE(q7, nullptr);
    ASSERT_NE(q2, nullptr);
    EXPECT_EQ(q3->family, "qwen2_5_vl");
    EXPECT_EQ(q7->family, "qwen2_5_vl");
    EXPECT_EQ(q2->family, "qwen2_vl");
    // bf16 safetensors: about 7.5, 16.6 and 4.4 GB; fp32 in memory about twice that.
    EXPECT_EQ(formatBytes(q3->download_bytes), "7.5 GB");
    EXPECT_EQ(formatBytes(q7->download_bytes), "17 GB");
    EXPECT_EQ(formatBytes(q2->download_bytes), "4.4 GB");
    for (const auto* m : {q3, q7, q2}) {
        EXPECT_GT(m->memory_bytes, 2 * m->download_bytes - m->download_bytes / 10) << m->repo_id;
        EXPECT_FALSE(m->recommended) << m->repo_id;
        EXPECT_FALSE(m->license.empty()) << m->repo_id;
    }
    EXPECT_EQ(q7->license, "Apache-2.0");
    // One recommended model still: the small SmolVLM, first in the list.
    int recommended = 0;
    for (const auto& m : knownModels())
        recommended += m.recommended;
    EXPECT_EQ(recommended, 1);
    EXPECT_TRUE(knownModels().front().recommended);
}

TEST_F(HubServerTest, FullDownloadLaysOutTheHubCacheAndReportsProgress) {
    HubClient client(options());
    std::vector<DownloadProgress> events;
    const auto r = client.download("test-org/tiny-vlm", "main",
                                   [&](const DownloadProgress& p) { events.push_back(p); });
    ASSERT_TRUE(r.complete);

    const fs::path repo = cache / "models--test-org--tiny-vlm";
    std::ifstream ref(repo / "refs" / "main");
    std::string commit;
    ref >> commit;
    EXPECT_EQ(commit, r.commit);
    EXPECT_EQ(r.snapshot, repo / "snapshots" / commit);
    EXPECT_EQ(r.files_downloaded, 3); // config.json, model.safetensors, tokenizer.json
    EXPECT_EQ(r.files_reused, 0);

    // Snapshot entries are relative links to blobs named by their checksums.
    const fs::path weights = r.snapshot / "model.safetensors";
    ASSERT_TRUE(fs::is_symlink(weights));
    const fs::path target = fs::read_symlink(weights);
    EXPECT_TRUE(target.is_relative());
    EXPECT_EQ(target.parent_path(), fs::path("../../blobs"));
    EXPECT_EQ(fs::file_size(weights), 3u << 20);
    EXPECT_EQ(sha256sumTool(weights), target.filename().string())
        << "blob content does not match its name";
    EXPECT_TRUE(fs::is_regular_file(r.snapshot / "config.json"));
    EXPECT_TRUE(fs::is_regular_file(r.snapshot / "tokenizer.json"));
    EXPECT_FALSE(fs::exists(r.snapshot / "README.md"));
    EXPECT_FALSE(fs::exists(r.snapshot / "onnx"));
    for (const auto& b : fs::directory_iterator(repo / "blobs"))
        EXPECT_NE(b.path().extension(), ".incomplete");

    // Progress: starts with the listing, never goes backwards, ends at the total.
    ASSERT_GE(events.size(), 4u);
    EXPECT_EQ(events.front().phase, DownloadProgress::Phase::Listing);
    EXPECT_EQ(events.back().phase, DownloadProgress::Phase::Done);
    const std::uint64_t expected_total = fs::file_size(r.snapshot / "config.json") + (3u << 20) +
                                         fs::file_size(r.snapshot / "tokenizer.json");
    EXPECT_EQ(events.back().total, expected_total);
    EXPECT_EQ(events.back().bytes, expected_total);
    bool saw_verify = false;
    for (size_t i = 1; i < events.size(); ++i) {
        EXPECT_GE(events[i].bytes, events[i - 1].bytes) << "at event " << i;
        EXPECT_LE(events[i].bytes, events[i].total);
        saw_verify |= events[i].phase == DownloadProgress::Phase::Verifying &&
                      events[i].file == "model.safetensors";
    }
    EXPECT_TRUE(saw_verify);

    // The token goes to the Hub, never to the CDN the LFS files are redirected to.
    for (const auto& req : requestsSinceStart()) {
        const std::string path = req["path"];
        if (path.rfind("/cdn/", 0) == 0)
            EXPECT_TRUE(req["auth"].is_null()) << path;
        else
            EXPECT_EQ(req["auth"], "Bearer test-token") << path;
    }

    // The cache lists it without the network.
    const auto cached = listCachedModels(cache);
    ASSERT_EQ(cached.size(), 1u);
    EXPECT_EQ(cached[0].repo_id, "test-org/tiny-vlm");
    EXPECT_EQ(cached[0].commit, commit);
    EXPECT_TRUE(cached[0].loadable);
    EXPECT_EQ(cached[0].files, 3);
    EXPECT_EQ(cached[0].bytes, expected_total);
    EXPECT_EQ(cached[0].partial_bytes, 0u);
    EXPECT_EQ(cachedSnapshot("test-org/tiny-vlm", "main", cache), r.snapshot);
    EXPECT_EQ(cachedSnapshot("test-org/tiny-vlm", commit, cache), r.snapshot);
    EXPECT_EQ(cachedSnapshot("test-org/other", "main", cache), std::nullopt);
}

TEST_F(HubServerTest, SecondDownloadReusesTheCachedFiles) {
    HubClient client(options());
    ASSERT_TRUE(client.download("test-org/tiny-vlm").complete);
    const size_t mark = logLines().size();
    const auto again = client.download("test-org/tiny-vlm");
    EXPECT_TRUE(again.complete);
    EXPECT_EQ(again.files_reused, 3);
    EXPECT_EQ(again.files_downloaded, 0);
    EXPECT_EQ(again.bytes_transferred, 0u);
    const auto all = logLines();
    ASSERT_EQ(all.size(), mark + 1) << "only the file listing is fetched again";
    EXPECT_NE(all.back()["path"].get<std::string>().find("/api/models/"), std::string::npos);
}

TEST_F(HubServerTest, ResumesWithARangeRequestAfterACutConnection) {
    HubClient client(options());
    const auto r = client.download("test-org/cut-vlm");
    ASSERT_TRUE(r.complete);
    const fs::path weights = r.snapshot / "model.safetensors";
    EXPECT_EQ(sha256sumTool(weights), fs::read_symlink(weights).filename().string());
    bool resumed = false;
    for (const auto& req : requestsSinceStart())
        if (req["path"].get<std::string>().rfind("/cdn/", 0) == 0 &&
            req["range"] == "bytes=1048576-") {
            EXPECT_EQ(req["status"], 206);
            resumed = true;
        }
    EXPECT_TRUE(resumed) << "expected a request for the rest of the file after the first 1 MiB";
}

TEST_F(HubServerTest, PausesAndResumesWhereItStopped) {
    HubClient client(options());
    const auto first = client.download("test-org/slow-vlm", "main", [&](const DownloadProgress& p) {
        if (p.file == "model.safetensors" && p.file_bytes >= 512 * 1024)
            client.requestPause();
    });
    ASSERT_FALSE(first.complete);
    const auto cached = listCachedModels(cache);
    ASSERT_EQ(cached.size(), 1u);
    EXPECT_FALSE(cached[0].loadable);
    const std::uint64_t partial = cached[0].partial_bytes;
    EXPECT_GE(partial, 512u * 1024);
    EXPECT_LT(partial, 3u << 20) << "the pause came too late to test a resume";
    EXPECT_EQ(cachedSnapshot("test-org/slow-vlm", "main", cache), std::nullopt);

    const size_t mark = logLines().size();
    const auto second = client.download("test-org/slow-vlm");
    ASSERT_TRUE(second.complete);
    EXPECT_EQ(second.files_reused, 1); // config.json came before the pause
    const fs::path weights = second.snapshot / "model.safetensors";
    EXPECT_EQ(sha256sumTool(weights), fs::read_symlink(weights).filename().string());
    const auto all = logLines();
    bool resumed = false;
    for (size_t i = mark; i < all.size(); ++i)
        if (all[i]["path"].get<std::string>().rfind("/cdn/", 0) == 0) {
            EXPECT_EQ(all[i]["range"], "bytes=" + std::to_string(partial) + "-");
            EXPECT_EQ(all[i]["status"], 206);
            resumed = true;
        }
    EXPECT_TRUE(resumed);
    EXPECT_EQ(listCachedModels(cache)[0].partial_bytes, 0u);
}

TEST_F(HubServerTest, RejectsAFileThatFailsItsChecksum) {
    HubClient client(options());
    try {
        client.download("test-org/corrupt-vlm");
        FAIL() << "a corrupted download was accepted";
    } catch (const vqa::Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
        EXPECT_NE(msg.find("checksum"), std::string::npos) << msg;
    }
    const fs::path repo = cache / "models--test-org--corrupt-vlm";
    for (const auto& b : fs::directory_iterator(repo / "blobs")) {
        EXPECT_NE(b.path().extension(), ".incomplete") << "the damaged file was kept";
        EXPECT_EQ(b.path().filename().string().size(), 40u)
            << "only the small (git blob id) files are kept";
    }
    EXPECT_EQ(cachedSnapshot("test-org/corrupt-vlm", "main", cache), std::nullopt);
}

TEST_F(HubServerTest, StartsOverWhenTheServerIgnoresTheRange) {
    HubClient client(options());
    const auto info = client.repoInfo("test-org/norange-vlm");
    std::string sha;
    for (const auto& f : info.files)
        if (f.path == "model.safetensors")
            sha = f.lfs_sha256;
    ASSERT_EQ(sha.size(), 64u);
    const fs::path blobs = cache / "models--test-org--norange-vlm" / "blobs";
    fs::create_directories(blobs);
    std::ofstream(blobs / (sha + ".incomplete")) << std::string(1000, 'x'); // not the file's start
    const auto r = client.download("test-org/norange-vlm");
    ASSERT_TRUE(r.complete);
    EXPECT_EQ(sha256sumTool(r.snapshot / "model.safetensors"), sha);
}

TEST_F(HubServerTest, UnknownModelIsReportedAsNotFound) {
    HubClient client(options());
    try {
        client.download("test-org/no-such-model");
        FAIL() << "expected an error";
    } catch (const HubOfflineError&) {
        FAIL() << "a missing model is not an offline problem";
    } catch (const vqa::Error& e) {
        EXPECT_NE(std::string(e.what()).find("not found"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("test-org/no-such-model"), std::string::npos)
            << e.what();
    }
}

TEST_F(HubServerTest, OfflineIsRefusedClearlyAndTheCacheStillServes) {
    {
        HubClient online(options());
        ASSERT_TRUE(online.download("test-org/tiny-vlm").complete);
    }
    auto o = options();
    o.endpoint = "http://127.0.0.1:" + std::to_string(closedPort());
    HubClient client(o);
    const auto start = std::chrono::steady_clock::now();
    try {
        client.download("test-org/slow-vlm");
        FAIL() << "expected HubOfflineError";
    } catch (const HubOfflineError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("Cannot reach"), std::string::npos) << msg;
        EXPECT_NE(msg.find(o.endpoint), std::string::npos) << msg;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
    try {
        client.download("test-org/tiny-vlm");
        FAIL() << "expected HubOfflineError";
    } catch (const HubOfflineError& e) {
        EXPECT_NE(std::string(e.what()).find("already downloaded"), std::string::npos) << e.what();
    }

    // HF_HUB_OFFLINE: the cache only, no network at all.
    o.offline = true;
    HubClient offline(o);
    const auto r = offline.download("test-org/tiny-vlm");
    EXPECT_TRUE(r.complete);
    EXPECT_TRUE(fs::is_regular_file(r.snapshot / "model.safetensors"));
    EXPECT_THROW(offline.download("test-org/slow-vlm"), HubOfflineError);
}
