// The server side of the chat-completions protocol without a network: a request becomes the
// engine's Request (roles, text, images from base64 data URLs, videos written to files for the
// call, parameters), every mistake is a
// 400 naming the field, base64 round-trips and refuses what is not base64, and attention grids
// survive JSON exactly. (Served end to end: test_chat_server.cpp, tests/serve/.)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "engine/net/Base64.h"
#include "engine/remote/OpenAiClient.h"
#include "engine/serve/ChatProtocol.h"
#include "models/base/Error.h"

namespace {

using nlohmann::json;
using vqa::serve::ProtocolError;
using vqa::serve::ProtocolLimits;

std::string pngDataUrl(int w, int h) {
    vqa::RgbImage img;
    img.width = w;
    img.height = h;
    img.pixels.assign(static_cast<std::size_t>(w) * h * 3, 100);
    return vqa::remote::imageDataUrl(img);
}

int statusOf(const json& body, const ProtocolLimits& limits = {}) {
    try {
        vqa::serve::parseChatRequest(body, limits);
        return 200;
    } catch (const ProtocolError& e) {
        EXPECT_FALSE(std::string(e.what()).empty());
        return e.status;
    }
}

TEST(ChatProtocol, ARequestBecomesTheEnginesRequest) {
    const json body = {
        {"model", "m"},
        {"stream", true},
        {"max_tokens", 12},
        {"temperature", 0.5},
        {"top_p", 0.9},
        {"seed", 3},
        {"vqa", {{"attention", true}}},
        {"messages",
         {{{"role", "system"}, {"content", "Be brief."}},
          {{"role", "user"},
           {"content", {{{"type", "image_url"}, {"image_url", {{"url", pngDataUrl(6, 4)}}}}, {{"type", "text"}, {"text", "What?"}}}}},
          {{"role", "assistant"}, {"content", "A grey card."}},
          {{"role", "user"}, {"content", "Sure?"}}}}};
    const auto call = vqa::serve::parseChatRequest(body, {});
    EXPECT_EQ(call.model, "m");
    EXPECT_TRUE(call.stream);
    EXPECT_TRUE(call.attention);
    const auto& r = call.request;
    ASSERT_EQ(r.conversation.size(), 4u);
    EXPECT_EQ(r.conversation[0].role, vqa::Role::System);
    ASSERT_EQ(r.conversation[1].content.size(), 2u);
    EXPECT_EQ(r.conversation[1].content[0].kind, vqa::ContentPart::Kind::Image);
    EXPECT_EQ(r.conversation[1].content[1].text, "What?");
    ASSERT_EQ(r.images.size(), 1u);
    EXPECT_EQ(r.images[0]->width, 6);
    EXPECT_EQ(r.images[0]->pixels, std::vector<std::uint8_t>(6 * 4 * 3, 100));
    ASSERT_EQ(r.image_keys.size(), 1u);
    EXPECT_EQ(r.generation.max_new_tokens, 12);
    EXPECT_FLOAT_EQ(r.generation.temperature, 0.5f);
    EXPECT_FLOAT_EQ(r.generation.top_p, 0.9f);
    EXPECT_EQ(r.generation.seed, 3u);
    EXPECT_TRUE(r.explain.capture_attention);
    // What the client sends for a request is what the server reads back.
    const json again = vqa::remote::chatRequestBody(r, "m", true, true);
    EXPECT_EQ(vqa::serve::parseChatRequest(again, {}).request.conversation.size(), 4u);
}

TEST(ChatProtocol, EveryMistakeIsA400NamingTheField) {
    const json user = {{"role", "user"}, {"content", "Hi"}};
    auto with = [&](const char* key, const json& value) {
        json b = {{"messages", {user}}};
        b[key] = value;
        return b;
    };
    auto image = [&](const std::string& url) {
        return json{{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}, {"image_url", {{"url", url}}}}}}}}}};
    };
    EXPECT_EQ(statusOf(json::array()), 400);
    EXPECT_EQ(statusOf(json{{"messages", "hi"}}), 400);
    EXPECT_EQ(statusOf(json{{"messages", json::array()}}), 400);
    EXPECT_EQ(statusOf(json{{"messages", {{{"role", "user"}, {"content", 5}}}}}), 400);
    EXPECT_EQ(statusOf(json{{"messages", {{{"role", "robot"}, {"content", "x"}}}}}), 400);
    EXPECT_EQ(statusOf(json{{"messages", {user, {{"role", "assistant"}, {"content", "x"}}}}}), 400);
    EXPECT_EQ(statusOf(with("max_tokens", "ten")), 400);
    EXPECT_EQ(statusOf(with("max_tokens", 1'000'000'000)), 400);
    EXPECT_EQ(statusOf(with("max_tokens", 0)), 400);
    EXPECT_EQ(statusOf(with("temperature", "hot")), 400);
    EXPECT_EQ(statusOf(with("temperature", 9)), 400);
    EXPECT_EQ(statusOf(with("stream", "yes")), 400);
    EXPECT_EQ(statusOf(with("model", 7)), 400);
    EXPECT_EQ(statusOf(with("n", 3)), 400);
    EXPECT_EQ(statusOf(with("vqa", {{"attention", "yes"}})), 400);
    EXPECT_EQ(statusOf(image("http://example.org/a.png")), 400);
    EXPECT_EQ(statusOf(image("data:,")), 400);
    EXPECT_EQ(statusOf(image("data:image/png;base64,@@@@")), 400);
    EXPECT_EQ(statusOf(image("data:image/png;base64," + vqa::net::base64Encode(
                                                               reinterpret_cast<const std::uint8_t*>("not a picture"), 13))),
              400);
    ProtocolLimits small;
    small.max_image_pixels = 100;
    EXPECT_EQ(statusOf(image(pngDataUrl(20, 20)), small), 400) << "over the pixel limit";
    EXPECT_EQ(statusOf(image(pngDataUrl(5, 5)), small), 200);
    EXPECT_EQ(statusOf(json{{"messages", {{{"role", "user"}, {"content", {{{"type", "audio"}}}}}}}}), 400);
}

TEST(ChatProtocol, Base64RoundTripsAndRefusesWhatIsNot) {
    std::mt19937 rng(4);
    for (std::size_t n : {0u, 1u, 2u, 3u, 4u, 5u, 100u, 1001u}) {
        std::vector<std::uint8_t> bytes(n);
        for (auto& b : bytes)
            b = static_cast<std::uint8_t>(rng());
        const auto text = vqa::net::base64Encode(bytes.data(), bytes.size());
        EXPECT_EQ(text.size() % 4, 0u);
        const auto back = vqa::net::base64Decode(text);
        ASSERT_TRUE(back.has_value()) << n;
        EXPECT_EQ(*back, bytes);
    }
    EXPECT_EQ(vqa::net::base64Encode(reinterpret_cast<const std::uint8_t*>("Man"), 3), "TWFu");
    EXPECT_EQ(vqa::net::base64Encode(reinterpret_cast<const std::uint8_t*>("Ma"), 2), "TWE=");
    for (const char* bad : {"abc", "a===", "ab=c", "TW=u", "TWFu====", "TW*u", "TWE=TWE=", "QR==", "TWF="})
        EXPECT_FALSE(vqa::net::base64Decode(bad).has_value()) << bad;
}

TEST(ChatProtocol, AttentionGridsSurviveJsonExactly) {
    vqa::HeatmapGrid g;
    g.rows = 2;
    g.cols = 3;
    g.values = {1e-8f, 0.1f, 1.0f / 3.0f, 7.25f, 0.0f, 123456.7f};
    g.x = 1.5;
    g.width = 640;
    g.height = 480;
    g.global_view = true;
    const auto back = vqa::serve::gridsFromJson(json::parse(vqa::serve::gridsJson({g}).dump()));
    ASSERT_EQ(back.size(), 1u);
    EXPECT_EQ(back[0].values, g.values);
    EXPECT_EQ(back[0].x, g.x);
    EXPECT_TRUE(back[0].global_view);
    json broken = vqa::serve::gridsJson({g});
    broken[0]["rows"] = 5;
    EXPECT_THROW(vqa::serve::gridsFromJson(broken), vqa::Error);
    // Sides that are not whole numbers an int holds are refused before any conversion (the
    // fuzzer found 2.2e23 read as an int, which is undefined).
    for (const char* side : {"2.5", "1e30", "222222222222222037754771", "-2", "18446744073709551615",
                             "\"2\"", "null", "0"}) {
        json lying = vqa::serve::gridsJson({g});
        lying[0]["rows"] = json::parse(side);
        EXPECT_THROW(vqa::serve::gridsFromJson(lying), vqa::Error) << side;
    }
}

}  // namespace

// A video_url part (as vLLM takes them: a base64 data URL of the file) becomes a video of the
// request, its bytes in a temporary file that lives as long as the call; a second request
// with the same video has the same key, so the engine encodes it once.
TEST(ChatProtocol, AVideoUrlBecomesAVideoFileForTheCall) {
    const std::string bytes = "\x1a\x45\xdf\xa3 not really a video, the decoder judges that";
    const std::string url = "data:video/webm;base64," +
                            vqa::net::base64Encode(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    const json body = {{"messages",
                        {{{"role", "user"},
                          {"content",
                           {{{"type", "video_url"}, {"video_url", {{"url", url}}}},
                            {{"type", "text"}, {"text", "What happens?"}}}}}}}};
    std::string path;
    {
        const auto call = vqa::serve::parseChatRequest(body, {});
        ASSERT_EQ(call.request.videos.size(), 1u);
        ASSERT_EQ(call.uploads.size(), 1u);
        path = call.request.videos[0].path;
        EXPECT_EQ(path, call.uploads[0]->path);
        EXPECT_EQ(std::filesystem::path(path).extension(), ".webm");
        std::ifstream in(path, std::ios::binary);
        EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), bytes);
        const auto& parts = call.request.conversation[0].content;
        ASSERT_EQ(parts.size(), 2u);
        EXPECT_EQ(parts[0].kind, vqa::ContentPart::Kind::Video);
        const auto again = vqa::serve::parseChatRequest(body, {});
        EXPECT_EQ(again.request.videos[0].key, call.request.videos[0].key);
        EXPECT_NE(again.request.videos[0].path, path);
    }
    EXPECT_FALSE(std::filesystem::exists(path)) << "the call's file outlived it";

    auto with = [&](const json& part, const std::string& role = "user") {
        return json{{"messages", {{{"role", role}, {"content", {part}}}}}};
    };
    EXPECT_EQ(statusOf(with({{"type", "video_url"}, {"video_url", {{"url", "https://example.com/a.mp4"}}}})), 400);
    EXPECT_EQ(statusOf(with({{"type", "video_url"}, {"video_url", {{"url", "data:image/png;base64,AAAA"}}}})), 400);
    EXPECT_EQ(statusOf(with({{"type", "video_url"}, {"video_url", {{"url", "data:video/mp4;base64,@@@"}}}})), 400);
    EXPECT_EQ(statusOf(with({{"type", "video_url"}, {"video_url", 5}})), 400);
    EXPECT_EQ(statusOf(json{{"messages",
                             {{{"role", "assistant"}, {"content", {{{"type", "video_url"}, {"video_url", {{"url", url}}}}}}},
                              {{"role", "user"}, {"content", "And?"}}}}}),
              400);
    ProtocolLimits one;
    one.max_videos = 1;
    json two = body;
    two["messages"][0]["content"].push_back({{"type", "video_url"}, {"video_url", {{"url", url}}}});
    EXPECT_EQ(statusOf(two, one), 400);
    EXPECT_EQ(statusOf(two), 200);
}
