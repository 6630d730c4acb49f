// The remote engine's protocol pieces without a network: server-sent events split at every
// byte, the endpoint from what a person types, the chat-completions request for a
// conversation (roles, images as data URLs in order: PNG, or JPEG when a PNG would be too
// large; each encoded once; only the parameters asked for; a video as a few timed frames). The
// transfers themselves are
// tested against servers on loopback (test_chat_server.cpp, tests/cli/test_cli_remote.py,
// tests/remote/).
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>
#include <opencv2/videoio.hpp>

#include "engine/net/Base64.h"
#include "engine/remote/OpenAiClient.h"
#include "engine/remote/RemoteVideo.h"
#include "engine/vision/VideoFile.h"
#include "engine/vision/ImageIO.h"
#include "models/base/Error.h"

namespace {

using vqa::remote::SseParser;

std::vector<std::string> parseInPieces(const std::string& stream, std::size_t piece) {
    SseParser parser;
    std::vector<std::string> events;
    for (std::size_t i = 0; i < stream.size(); i += piece)
        parser.feed(stream.data() + i, std::min(piece, stream.size() - i),
                    [&](const std::string& data) { events.push_back(data); });
    return events;
}

TEST(OpenAiClient, EventsAreFoundHoweverTheBytesArrive) {
    const std::string stream = ": a comment\r\n"
                               "data: {\"a\":1}\r\n\r\n"
                               "event: message\n"
                               "data: first line\n"
                               "data:second line\n"
                               "id: 7\n\n"
                               "data: [DONE]\r\r";
    const std::vector<std::string> expected = {"{\"a\":1}", "first line\nsecond line", "[DONE]"};
    for (std::size_t piece = 1; piece <= stream.size(); ++piece)
        EXPECT_EQ(parseInPieces(stream, piece), expected) << "pieces of " << piece;

    SseParser cut;
    std::vector<std::string> events;
    const std::string partial = "data: {\"a\":1}\n\ndata: {\"b\"";
    cut.feed(partial.data(), partial.size(), [&](const std::string& d) { events.push_back(d); });
    EXPECT_EQ(events.size(), 1u);
    EXPECT_TRUE(cut.pending()) << "an event cut off is not complete";
}

TEST(OpenAiClient, EndpointFromWhatAPersonTypes) {
    using vqa::remote::endpoint;
    EXPECT_EQ(endpoint("http://localhost:8000", "/models"), "http://localhost:8000/v1/models");
    EXPECT_EQ(endpoint("http://localhost:8000/", "/models"), "http://localhost:8000/v1/models");
    EXPECT_EQ(endpoint("http://localhost:11434/v1", "/chat/completions"),
              "http://localhost:11434/v1/chat/completions");
    EXPECT_EQ(endpoint("HTTPS://gpu.example.org/V1/ ", "/models"), "HTTPS://gpu.example.org/v1/models");
    EXPECT_EQ(endpoint("https://gpu.example.org/proxy/v1", "/models"), "https://gpu.example.org/proxy/v1/models");
    EXPECT_THROW(endpoint("localhost:8000", "/models"), vqa::Error);
    EXPECT_THROW(endpoint("ftp://example.org", "/models"), vqa::Error);
}

std::shared_ptr<const vqa::RgbImage> image(int w, int h, std::uint8_t red) {
    auto img = std::make_shared<vqa::RgbImage>();
    img->width = w;
    img->height = h;
    img->pixels.resize(static_cast<std::size_t>(w) * h * 3);
    for (std::size_t i = 0; i < img->pixels.size(); i += 3) {
        img->pixels[i] = red;
        img->pixels[i + 1] = static_cast<std::uint8_t>(i / 3 % 251);
        img->pixels[i + 2] = 7;
    }
    return img;
}

// The image a data URL carries, decoded as a file the user opened.
vqa::RgbImage decodeDataUrl(const std::string& url) {
    const std::string prefix = "data:image/png;base64,";
    EXPECT_EQ(url.rfind(prefix, 0), 0u);
    const auto bytes = vqa::net::base64Decode(std::string_view(url).substr(prefix.size()));
    EXPECT_TRUE(bytes.has_value());
    return bytes ? vqa::decodeImageBytes(bytes->data(), bytes->size(), "data URL") : vqa::RgbImage{};
}

TEST(OpenAiClient, APhotoTooLargeForAPngIsSentAsAJpegThatFits) {
    // Noise compresses badly: 1600 x 1200 of it is ~5.8 MB as PNG.
    vqa::RgbImage noise;
    noise.width = 1600;
    noise.height = 1200;
    noise.pixels.resize(std::size_t(noise.width) * noise.height * 3);
    std::uint32_t x = 12345;
    for (auto& p : noise.pixels) {
        x = x * 1664525u + 1013904223u;
        p = static_cast<std::uint8_t>(x >> 24);
    }
    const std::size_t limit = 4u << 20;
    const std::string url = vqa::remote::imageDataUrl(noise, limit);
    EXPECT_LE(url.size(), limit);
    ASSERT_EQ(url.rfind("data:image/jpeg;base64,", 0), 0u) << url.substr(0, 40);
    const auto bytes = vqa::net::base64Decode(std::string_view(url).substr(url.find(',') + 1));
    ASSERT_TRUE(bytes);
    const auto sent = vqa::decodeImageBytes(bytes->data(), bytes->size(), "data URL");
    EXPECT_LE(sent.width, noise.width);
    EXPECT_EQ(sent.width * noise.height, sent.height * noise.width) << "the shape is kept";
    // A limit nothing fits in is a clear error, not a loop.
    EXPECT_THROW(vqa::remote::imageDataUrl(noise, 100), vqa::Error);
    // A small image stays an exact PNG.
    EXPECT_EQ(vqa::remote::imageDataUrl(*image(8, 8, 3), limit).rfind("data:image/png;base64,", 0), 0u);
}

TEST(OpenAiClient, AnImageIsEncodedOnceForEveryTurnThatSendsIt) {
    using vqa::ContentPart;
    using vqa::Role;
    vqa::Request request;
    request.images = {image(6, 4, 90)};
    request.image_keys = {"sha256:cached-image-test"};
    request.conversation = {{Role::User, {{ContentPart::Kind::Image, {}}, {ContentPart::Kind::Text, "What?"}}}};
    const auto first = vqa::remote::chatRequestBody(request, "m", true);
    // Other pixels under the same key: the cached encoding is what goes (the key says "same").
    request.images = {image(6, 4, 91)};
    const auto second = vqa::remote::chatRequestBody(request, "m", true);
    EXPECT_EQ(first["messages"][0]["content"][0], second["messages"][0]["content"][0]);
    request.image_keys = {"sha256:another"};
    const auto third = vqa::remote::chatRequestBody(request, "m", true);
    EXPECT_NE(first["messages"][0]["content"][0], third["messages"][0]["content"][0]);
}

TEST(OpenAiClient, TheRequestCarriesTheConversationAndItsImagesInOrder) {
    using vqa::ContentPart;
    using vqa::Role;
    vqa::Request request;
    request.images = {image(5, 3, 200), image(4, 4, 10)};
    request.conversation = {
        {Role::System, {{ContentPart::Kind::Text, "Be brief."}}},
        {Role::User, {{ContentPart::Kind::Image, {}}, {ContentPart::Kind::Text, "What is this?"}}},
        {Role::Assistant, {{ContentPart::Kind::Text, "A red card."}}},
        {Role::User, {{ContentPart::Kind::Text, "And this one?"}, {ContentPart::Kind::Image, {}}}},
    };
    request.generation.max_new_tokens = 33;
    const auto body = vqa::remote::chatRequestBody(request, "qwen2.5-vl-72b", true);
    EXPECT_EQ(body["model"], "qwen2.5-vl-72b");
    EXPECT_EQ(body["stream"], true);
    EXPECT_EQ(body["max_tokens"], 33);
    EXPECT_EQ(body["temperature"], 0.0);
    for (const char* absent : {"top_p", "top_k", "repetition_penalty", "seed", "ignore_eos"})
        EXPECT_FALSE(body.contains(absent)) << absent << " was not asked for";
    const auto& m = body["messages"];
    ASSERT_EQ(m.size(), 4u);
    EXPECT_EQ(m[0], (nlohmann::json{{"role", "system"}, {"content", "Be brief."}}));
    EXPECT_EQ(m[2], (nlohmann::json{{"role", "assistant"}, {"content", "A red card."}}));
    ASSERT_EQ(m[1]["content"].size(), 2u);
    EXPECT_EQ(m[1]["content"][1], (nlohmann::json{{"type", "text"}, {"text", "What is this?"}}));
    EXPECT_EQ(m[3]["content"][0]["text"], "And this one?");
    // Each image part is the next image, its pixels exactly (PNG is lossless).
    for (auto [message, part, index] : {std::tuple{1, 0, 0}, std::tuple{3, 1, 1}}) {
        const auto& p = m[message]["content"][part];
        ASSERT_EQ(p["type"], "image_url");
        const auto sent = decodeDataUrl(p["image_url"]["url"].get<std::string>());
        const auto& src = *request.images[index];
        EXPECT_EQ(sent.width, src.width);
        EXPECT_EQ(sent.height, src.height);
        EXPECT_EQ(sent.pixels, src.pixels) << "image " << index;
    }

    request.generation.temperature = 0.7f;
    request.generation.top_p = 0.9f;
    request.generation.top_k = 40;
    request.generation.seed = 5;
    request.generation.repetition_penalty = 1.1f;
    const auto sampled = vqa::remote::chatRequestBody(request, "m", false);
    EXPECT_EQ(sampled["stream"], false);
    EXPECT_NEAR(sampled["top_p"].get<double>(), 0.9, 1e-6);
    EXPECT_EQ(sampled["top_k"], 40);
    EXPECT_EQ(sampled["seed"], 5);
    EXPECT_TRUE(sampled.contains("repetition_penalty"));

    request.images.pop_back();
    EXPECT_THROW(vqa::remote::chatRequestBody(request, "m", true), vqa::Error) << "an image part without an image";
}

}  // namespace

namespace {

// An MJPEG AVI of `n` frames at `fps`, frame i a solid colour; false when this build cannot
// write one.
bool writeClip(const std::string& path, int n, double fps, cv::Size size) {
    cv::VideoWriter w(path, cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps, size);
    if (!w.isOpened())
        return false;
    for (int i = 0; i < n; ++i)
        w.write(cv::Mat(size, CV_8UC3, cv::Scalar(i * 4 % 256, 100, 200)));
    return true;
}

}  // namespace

TEST(OpenAiClient, VideoFramesAreSpreadOverTheVideoOneASecondAtMostEight) {
    using vqa::remote::serverFrameIndices;
    EXPECT_EQ(serverFrameIndices(60, 5.0), (std::vector<std::int64_t>{3, 11, 18, 26, 33, 41, 48, 56}));  // 12 s
    EXPECT_EQ(serverFrameIndices(30, 10.0), (std::vector<std::int64_t>{5, 15, 25}));                     // 3 s
    EXPECT_EQ(serverFrameIndices(1, 30.0), (std::vector<std::int64_t>{0}));                              // a still
    EXPECT_EQ(serverFrameIndices(5, 0.0), (std::vector<std::int64_t>{2}));  // no frame rate: one frame
    EXPECT_TRUE(serverFrameIndices(0, 30.0).empty());
    EXPECT_EQ(vqa::videoFrameLabel(0.4), "Frame from 00:00:");
    EXPECT_EQ(vqa::videoFrameLabel(75.9), "Frame from 01:15:");
    EXPECT_EQ(vqa::videoFrameLabel(3725), "Frame from 62:05:");  // SmolVLM2's minutes go on
}

// A video goes to a server as its sampled frames, each after its time, made at most 768 pixels
// wide, in the conversation's order among the images; the frames sent are reported.
TEST(OpenAiClient, AVideoGoesAsTimedFramesAmongTheImages) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("vqa-remote-video-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string clip = (dir / "clip.avi").string();
    if (!writeClip(clip, 60, 5.0, {1280, 720}))
        GTEST_SKIP() << "this OpenCV build writes no MJPEG AVI";
    using vqa::ContentPart;
    using vqa::Role;
    vqa::Request request;
    request.images = {image(5, 3, 200)};
    request.videos = {{clip, "sha256:remote-video-test"}};
    request.conversation = {{Role::User,
                             {{ContentPart::Kind::Image, {}},
                              {ContentPart::Kind::Video, {}},
                              {ContentPart::Kind::Text, "What happens?"}}}};
    std::vector<vqa::VideoFrames> sent;
    const auto body = vqa::remote::chatRequestBody(request, "m", true, false, &sent);
    const auto& content = body["messages"][0]["content"];
    ASSERT_EQ(content.size(), 1u + 2 * 8 + 1);
    EXPECT_EQ(content[0]["type"], "image_url");
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].video, 0);
    EXPECT_NEAR(sent[0].duration_s, 12.0, 1e-9);
    EXPECT_EQ(sent[0].indices, (std::vector<std::int64_t>{3, 11, 18, 26, 33, 41, 48, 56}));
    for (int f = 0; f < 8; ++f) {
        const auto& label = content[1 + 2 * f];
        const auto& frame = content[2 + 2 * f];
        EXPECT_EQ(label["text"], vqa::videoFrameLabel(sent[0].times_s[f]));
        EXPECT_NEAR(sent[0].times_s[f], sent[0].indices[f] / 5.0, 1e-9);
        ASSERT_EQ(frame["type"], "image_url");
        const auto pixels = decodeDataUrl(frame["image_url"]["url"].get<std::string>());
        EXPECT_EQ(pixels.width, 768);
        EXPECT_EQ(pixels.height, 432);
    }
    EXPECT_EQ(content[1]["text"], "Frame from 00:00:");
    EXPECT_EQ(content[15]["text"], "Frame from 00:11:");
    EXPECT_EQ(content.back(), (nlohmann::json{{"type", "text"}, {"text", "What happens?"}}));

    // The next turn sends it again, decoded once: the same bytes even once the file is gone.
    fs::remove(clip);
    EXPECT_EQ(vqa::remote::chatRequestBody(request, "m", true)["messages"][0]["content"], content);

    // A file that is not a video: the error names it; a video part without a video, too.
    std::ofstream(dir / "notes.mp4") << "not a video";
    request.videos = {{(dir / "notes.mp4").string(), "sha256:remote-video-text"}};
    try {
        vqa::remote::chatRequestBody(request, "m", true);
        ADD_FAILURE() << "a text file was sent as a video";
    } catch (const vqa::Error& e) {
        EXPECT_NE(std::string(e.what()).find("notes.mp4"), std::string::npos) << e.what();
    }
    request.videos.clear();
    EXPECT_THROW(vqa::remote::chatRequestBody(request, "m", true), vqa::Error);
    fs::remove_all(dir);
}
