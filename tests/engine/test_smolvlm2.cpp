// SmolVLM2 end to end against the reference (tests/reference/make_smolvlm2.py): the video's
// frames sampled, decoded and resized as transformers' SmolVLMVideoProcessor does, the prompt
// SmolVLMProcessor writes (frames counted in words, their times), and the engine's answers over
// two turns about two and three images and about a video; a follow-up question reuses the
// video's encoding; and what a person gets for a broken video or too many pictures.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/Engine.h"
#include "engine/families/smolvlm2/SmolVlm2VideoProcessor.h"
#include "engine/io/SafetensorsFile.h"
#include "engine/vision/VideoFile.h"
#include "tests/common/ParityHelpers.h"
#include "tests/common/TestPaths.h"

namespace fs = std::filesystem;
using namespace vqa;

namespace {

fs::path tinyDir() { return test::referenceDir("smolvlm2") / "tiny"; }

#define SKIP_WITHOUT_SMOLVLM2()                                                                 \
    VQA_SKIP_UNLESS_EXISTS(tinyDir() / "done.json",                                          \
                           "run tests/reference/make_smolvlm2.py (ctest runs it as reference.smolvlm2)")

std::vector<std::int32_t> ids(const SafetensorsFile& ref, const std::string& name) {
    auto t = ref.tensor(name).to(torch::kInt64).contiguous();
    return {t.data_ptr<std::int64_t>(), t.data_ptr<std::int64_t>() + t.numel()};
}

TEST(SmolVlm2Prompt, CountsFramesInWordsAsNum2WordsDoes) {
    // num2words(n) for English, as the reference processor calls it.
    const std::vector<std::pair<std::int64_t, std::string>> cases = {
        {0, "zero"},
        {1, "one"},
        {13, "thirteen"},
        {20, "twenty"},
        {21, "twenty-one"},
        {64, "sixty-four"},
        {100, "one hundred"},
        {101, "one hundred and one"},
        {121, "one hundred and twenty-one"},
        {999, "nine hundred and ninety-nine"},
        {1000, "one thousand"},
        {1005, "one thousand and five"},
        {1100, "one thousand, one hundred"},
        {1234, "one thousand, two hundred and thirty-four"},
        {12345, "twelve thousand, three hundred and forty-five"},
        {100005, "one hundred thousand and five"},
        {1000001, "one million and one"},
        {1234567, "one million, two hundred and thirty-four thousand, five hundred and sixty-seven"}};
    for (const auto& [n, words] : cases)
        EXPECT_EQ(englishCardinal(n), words) << n;
}

TEST(SmolVlm2Prompt, WritesTheVideosLengthAndFrameTimes) {
    SmolVlm2VideoProcessor processor({}, 2);
    VideoFrames frames;
    frames.duration_s = 86400 + 61.9;  // str(timedelta) past a day; minutes past an hour
    frames.indices = {0, 1};
    frames.times_s = {59.99, 3725.5};
    const std::string tokens = "<fake_token_around_image><global-img><image><image><fake_token_around_image>";
    EXPECT_EQ(processor.promptText(frames),
              "You are provided the following series of two frames from a 1 day, 0:01:01 [H:MM:SS] video.\n"
              "\nFrame from 00:59:" + tokens + "\nFrame from 62:05:" + tokens + "\n\n");
}

TEST(SmolVlm2Video, SamplesAsTheReferenceProcessor) {
    SKIP_WITHOUT_SMOLVLM2();
    for (const char* name : {"video", "video_long"}) {
        SCOPED_TRACE(name);
        const auto ref = SafetensorsFile::open((tinyDir() / (std::string(name) + ".safetensors")).string());
        const auto processor = SmolVlm2VideoProcessor(SmolVlm2VideoConfig::load((tinyDir() / "model").string()), 16);
        auto video = VideoFile::open((tinyDir() / (std::string(name) + ".mkv")).string(), name);
        const VideoInfo& info = video.info();
        // The metadata transformers' OpenCV loader read.
        EXPECT_EQ(info.frame_count, ref->tensor("video_total_frames").item<std::int64_t>());
        EXPECT_DOUBLE_EQ(info.fps, ref->tensor("video_fps").item<double>());
        EXPECT_DOUBLE_EQ(info.duration_s, ref->tensor("video_duration").item<double>());

        const auto indices = processor.sampleFrames(info);
        EXPECT_EQ(indices, test::toVector(ref->tensor("frame_indices")));
        const auto frames = video.frames(indices);
        ASSERT_EQ(frames.size(), indices.size());
        const auto want = ref->tensor("frames");
        for (std::size_t i = 0; i < frames.size(); ++i) {
            ASSERT_EQ(frames[i].height, want.size(1));
            ASSERT_EQ(frames[i].width, want.size(2));
            auto got = torch::from_blob(const_cast<std::uint8_t*>(frames[i].pixels.data()),
                                        {frames[i].height, frames[i].width, 3}, torch::kUInt8);
            EXPECT_TRUE(torch::equal(got, want[static_cast<std::int64_t>(i)])) << "frame " << indices[i];
        }
        const double diff = test::maxAbsDiff(processor.process(frames), ref->tensor("pixel_values"));
        std::cout << "[" << name << "] pixel values max abs diff " << diff << "\n";
        EXPECT_LT(diff, 1e-6);
    }
}

TEST(SmolVlm2Video, SamplingFollowsTheRulesAtTheEdges) {
    SmolVlm2VideoConfig config;
    config.fps = 1;
    config.max_frames = 64;
    const SmolVlm2VideoProcessor processor(config, 16);
    auto sample = [&](std::int64_t frames, double fps) {
        VideoInfo info;
        info.frame_count = frames;
        info.fps = fps;
        info.duration_s = static_cast<double>(frames) / fps;
        return processor.sampleFrames(info);
    };
    EXPECT_EQ(sample(1, 30), (std::vector<std::int64_t>{0}));  // one frame: that frame
    // 2.5 s rounds to 2 frames (Python rounds halves to even).
    EXPECT_EQ(sample(5, 2), (std::vector<std::int64_t>{0, 4}));
    // Ten hours at 1 frame per hour: ten frames, each once.
    EXPECT_EQ(sample(10, 1.0 / 3600).size(), 10u);
    // Two hours at 30 fps: 64 frames from 1 s in to 1 s before the end.
    const auto long_video = sample(2 * 3600 * 30, 30);
    ASSERT_EQ(long_video.size(), 64u);
    EXPECT_EQ(long_video.front(), 30);
    EXPECT_EQ(long_video.back(), 2 * 3600 * 30 - 30);
}

// The engine on the tiny SmolVLM2 checkpoint: a conversation from <name>.json.
class SmolVlm2Engine : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        SKIP_WITHOUT_SMOLVLM2();
        name_ = GetParam();
        ref_ = SafetensorsFile::open((tinyDir() / (name_ + ".safetensors")).string());
        conversation_ = nlohmann::json::parse(std::ifstream(tinyDir() / (name_ + ".json")));
        LoadOptions load;
        load.device = DevicePreference::Cpu;
        info_ = engine_.load((tinyDir() / "model").string(), load);
        request_ = requestFor(conversation_["turns"][0]);
        request_.generation.max_new_tokens = 20;
        request_.generation.ignore_eos = true;
    }
    static Request requestFor(const nlohmann::json& turn_json) {
        Request request;
        Turn turn{Role::User, {}};
        for (const auto& part : turn_json) {
            const std::string type = part["type"];
            if (type == "text") {
                turn.content.push_back({ContentPart::Kind::Text, part["text"].get<std::string>()});
                continue;
            }
            const std::string path = (tinyDir() / part["file"].get<std::string>()).string();
            if (type == "video") {
                request.videos.push_back({path, path});
                turn.content.push_back({ContentPart::Kind::Video, {}});
            } else {
                request.images.push_back(std::make_shared<const RgbImage>(loadImageFile(path)));
                request.image_keys.push_back(path);
                turn.content.push_back({ContentPart::Kind::Image, {}});
            }
        }
        request.conversation.push_back(std::move(turn));
        return request;
    }
    std::string name_;
    std::shared_ptr<SafetensorsFile> ref_;
    nlohmann::json conversation_;
    Engine engine_;
    ModelInfo info_;
    Request request_;
};

TEST_P(SmolVlm2Engine, GreedyAnswersMatchOverTwoTurns) {
    EXPECT_EQ(info_.family, "smolvlm");
    EXPECT_EQ(engine_.promptTokens(request_), ids(*ref_, "input_ids"));
    if (!ref_->contains("generated"))
        return;  // the reference recorded the prompt and prefill logits only (video_long)
    auto result = engine_.generate(request_);
    ASSERT_NE(result.stop, StopReason::Error) << result.error;
    EXPECT_EQ(result.token_ids, ids(*ref_, "generated"));
    EXPECT_EQ(result.text, conversation_["answer"].get<std::string>());
    if (!request_.videos.empty()) {
        ASSERT_EQ(result.video_frames.size(), 1u);
        EXPECT_EQ(result.video_frames[0].indices, test::toVector(ref_->tensor("frame_indices")));
        const auto times = ref_->tensor("timestamps").contiguous();
        EXPECT_EQ(result.video_frames[0].times_s,
                  std::vector<double>(times.data_ptr<double>(), times.data_ptr<double>() + times.numel()));
    }

    // The second turn: the pictures are neither decoded nor encoded again, and the KV prefix is kept.
    request_.conversation.push_back({Role::Assistant, {{ContentPart::Kind::Text, result.text}}});
    request_.conversation.push_back(
        requestFor(conversation_["turns"][1]).conversation.front());
    EXPECT_EQ(engine_.promptTokens(request_), ids(*ref_, "input_ids_turn2"));
    auto second = engine_.generate(request_);
    ASSERT_NE(second.stop, StopReason::Error) << second.error;
    EXPECT_EQ(second.token_ids, ids(*ref_, "generated_turn2"));
    EXPECT_EQ(second.timings.preprocess_ms, 0.0);
    EXPECT_EQ(second.timings.encode_ms, 0.0);
    EXPECT_GT(second.timings.cached_tokens, static_cast<int>(ref_->tensor("image_positions").numel()));
}

TEST_P(SmolVlm2Engine, AttentionGridsSayWhichPictureTheyLieOn) {
    request_.explain.capture_attention = true;
    request_.generation.max_new_tokens = 3;
    std::vector<HeatmapGrid> first;
    auto result = engine_.generate(request_, [&](const TokenEvent& e) {
        if (first.empty())
            first = e.attention;
    });
    ASSERT_NE(result.stop, StopReason::Error) << result.error;
    ASSERT_FALSE(first.empty());
    std::set<std::pair<int, int>> pictures;
    for (const auto& g : first) {
        if (request_.videos.empty()) {
            EXPECT_EQ(g.video, -1);
            EXPECT_GE(g.image, 0);
            pictures.insert({g.image, -1});
        } else {
            EXPECT_EQ(g.image, -1);
            EXPECT_EQ(g.video, 0);
            EXPECT_DOUBLE_EQ(g.time_s, result.video_frames[0].times_s.at(static_cast<std::size_t>(g.frame)));
            pictures.insert({-1, g.frame});
        }
    }
    const std::size_t expected =
        request_.videos.empty() ? request_.images.size() : result.video_frames[0].indices.size();
    EXPECT_EQ(pictures.size(), expected);
}

INSTANTIATE_TEST_SUITE_P(Conversations, SmolVlm2Engine,
                         ::testing::Values("two_images", "three_images", "video", "video_long"));

TEST(SmolVlm2Engine, ReadsTheReleasedCheckpointsLayout) {
    SKIP_WITHOUT_SMOLVLM2();
    // preprocessor_config.json with "video_sampling", processor_config.json, chat_template.json.
    VQA_SKIP_UNLESS_EXISTS(tinyDir() / "model_hub_layout" / "preprocessor_config.json", "rebuild reference.smolvlm2");
    const auto ref = SafetensorsFile::open((tinyDir() / "video.safetensors").string());
    Engine engine;
    LoadOptions load;
    load.device = DevicePreference::Cpu;
    engine.load((tinyDir() / "model_hub_layout").string(), load);
    Request request;
    const std::string path = (tinyDir() / "video.mkv").string();
    request.videos.push_back({path, path});
    request.conversation.push_back(
        {Role::User, {{ContentPart::Kind::Video, {}}, {ContentPart::Kind::Text, "What happens in this clip?"}}});
    EXPECT_EQ(engine.promptTokens(request), ids(*ref, "input_ids"));
}

class SmolVlm2BadInput : public ::testing::Test {
protected:
    void SetUp() override {
        SKIP_WITHOUT_SMOLVLM2();
        LoadOptions load;
        load.device = DevicePreference::Cpu;
        engine_.load((tinyDir() / "model").string(), load);
        scratch_ = fs::temp_directory_path() / ("vqa-smolvlm2-" + std::to_string(::getpid()));
        fs::create_directories(scratch_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(scratch_, ec);
    }
    GenerationResult askAbout(const std::string& video) {
        Request request;
        request.videos.push_back({video, video});
        request.conversation.push_back(
            {Role::User, {{ContentPart::Kind::Video, {}}, {ContentPart::Kind::Text, "What happens?"}}});
        request.generation.max_new_tokens = 2;
        return engine_.generate(request);
    }
    Engine engine_;
    fs::path scratch_;
};

TEST_F(SmolVlm2BadInput, ABrokenVideoIsAMessageAndTheEngineGoesOn) {
    const fs::path fake = scratch_ / "not-a-video.mp4";
    std::ofstream(fake) << "this is text, not a video\n";
    auto result = askAbout(fake.string());
    EXPECT_EQ(result.stop, StopReason::Error);
    EXPECT_NE(result.error.find("not-a-video.mp4"), std::string::npos) << result.error;

    // Half of a real video.
    const fs::path whole = tinyDir() / "video.mkv";
    const fs::path half = scratch_ / "half.mkv";
    {
        std::ifstream in(whole, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), {});
        std::ofstream(half, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    }
    result = askAbout(half.string());
    EXPECT_EQ(result.stop, StopReason::Error) << "a cut video must not answer about frames it could not read";
    EXPECT_NE(result.error.find("half.mkv"), std::string::npos) << result.error;

    // The whole one still answers.
    result = askAbout(whole.string());
    EXPECT_NE(result.stop, StopReason::Error) << result.error;
    EXPECT_EQ(result.timings.new_tokens, 2);
}

TEST_F(SmolVlm2BadInput, TooManyImagesIsRefusedBeforeAnyIsEncoded) {
    const auto image = std::make_shared<const RgbImage>(loadImageFile((tinyDir() / "image0.png").string()));
    Request request;
    Turn turn{Role::User, {}};
    for (int i = 0; i < 50; ++i) {
        request.images.push_back(image);
        request.image_keys.push_back("image" + std::to_string(i));
        turn.content.push_back({ContentPart::Kind::Image, {}});
    }
    turn.content.push_back({ContentPart::Kind::Text, "Which is brightest?"});
    request.conversation.push_back(turn);
    const auto result = engine_.generate(request);
    EXPECT_EQ(result.stop, StopReason::Error);
    EXPECT_NE(result.error.find("50 images"), std::string::npos) << result.error;
    EXPECT_NE(result.error.find("at most 16"), std::string::npos) << result.error;
    EXPECT_EQ(result.timings.encode_ms, 0.0);
}

TEST(SmolVlm2Engine, AModelWithoutVideosSaysSo) {
    const fs::path idefics3 = test::referenceDir("idefics3") / "tiny_untied" / "model";
    VQA_SKIP_UNLESS_EXISTS(idefics3 / "config.json", "run tests/reference/make_idefics3.py");
    SKIP_WITHOUT_SMOLVLM2();
    Engine engine;
    LoadOptions load;
    load.device = DevicePreference::Cpu;
    engine.load(idefics3.string(), load);
    Request request;
    const std::string path = (tinyDir() / "video.mkv").string();
    request.videos.push_back({path, path});
    request.conversation.push_back({Role::User, {{ContentPart::Kind::Video, {}}, {ContentPart::Kind::Text, "What?"}}});
    const auto result = engine.generate(request);
    EXPECT_EQ(result.stop, StopReason::Error);
    EXPECT_NE(result.error.find("takes no videos"), std::string::npos) << result.error;
    EXPECT_NE(result.error.find("SmolVLM2"), std::string::npos) << result.error;
}

}  // namespace
