#include "engine/families/smolvlm2/SmolVlm2VideoProcessor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <ATen/ops/_upsample_lanczos2d_aa.h>

#include "engine/families/idefics3/Idefics3ImageProcessor.h"
#include "engine/io/JsonSettings.h"
#include "engine/vision/VideoFile.h"
#include "models/base/Error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace vqa {

namespace {

constexpr int kMaxImageSize = 4096;  // MAX_IMAGE_SIZE in video_processing_smolvlm

// Where transformers finds a SmolVLM2 folder's video processor settings; an empty object
// (defaults) when there are none.
std::pair<json, fs::path> findVideoSettings(const std::string& model_dir) {
    std::error_code ec;
    const fs::path processor = fs::path(model_dir) / "processor_config.json";
    if (fs::is_regular_file(processor, ec)) {
        json p = readSettingsFile(processor);
        if (p.contains("video_processor") && p["video_processor"].is_object())
            return {p["video_processor"], processor};
    }
    const fs::path video = fs::path(model_dir) / "video_preprocessor_config.json";
    if (fs::is_regular_file(video, ec))
        return {readSettingsFile(video), video};
    const fs::path pre = fs::path(model_dir) / "preprocessor_config.json";
    if (fs::is_regular_file(pre, ec))
        return {readSettingsFile(pre), pre};
    return {json::object(), pre};
}

std::string under20(std::int64_t n) {
    static const char* words[] = {"zero",    "one",     "two",       "three",    "four",     "five",    "six",
                                  "seven",   "eight",   "nine",      "ten",      "eleven",   "twelve",  "thirteen",
                                  "fourteen", "fifteen", "sixteen",  "seventeen", "eighteen", "nineteen"};
    return words[n];
}

}  // namespace

// num2words' English: tens joined by a hyphen, "and" after hundreds, a comma between groups
// when the lower group is a hundred or more ("one thousand, two hundred and five").
std::string englishCardinal(std::int64_t n) {
    static const char* tens[] = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};
    if (n < 0)
        return "minus " + englishCardinal(-n);
    if (n < 20)
        return under20(n);
    if (n < 100)
        return std::string(tens[n / 10]) + (n % 10 ? "-" + under20(n % 10) : "");
    if (n < 1000)
        return under20(n / 100) + " hundred" + (n % 100 ? " and " + englishCardinal(n % 100) : "");
    static const std::pair<std::int64_t, const char*> groups[] = {
        {1'000'000'000'000LL, "trillion"}, {1'000'000'000LL, "billion"}, {1'000'000LL, "million"}, {1000LL, "thousand"}};
    for (const auto& [size, name] : groups) {
        if (n < size)
            continue;
        const std::int64_t rest = n % size;
        std::string out = englishCardinal(n / size) + " " + name;
        if (rest > 0)
            out += (rest < 100 ? " and " : ", ") + englishCardinal(rest);
        return out;
    }
    return std::to_string(n);
}

SmolVlm2VideoConfig SmolVlm2VideoConfig::load(const std::string& model_dir) {
    SmolVlm2VideoConfig c;
    const auto [j, path] = findVideoSettings(model_dir);
    // The released checkpoints keep the sampling in "video_sampling"; SmolVLMVideoProcessor
    // then takes "size" (when given beside it) as the frames' size, as transformers does.
    if (j.contains("video_sampling") && j["video_sampling"].is_object()) {
        const json& s = j["video_sampling"];
        c.fps = settingOr<double>(s, "fps", c.fps, path);
        c.max_frames = settingOr<int>(s, "max_frames", c.max_frames, path);
        c.longest_edge = longestEdgeSetting(s, "video_size", c.longest_edge, path);
        c.longest_edge = longestEdgeSetting(j, "size", c.longest_edge, path);
    } else {
        c.fps = settingOr<double>(j, "fps", c.fps, path);
        c.max_frames = settingOr<int>(j, "num_frames", c.max_frames, path);
        c.longest_edge = longestEdgeSetting(j, "size", c.longest_edge, path);
    }
    c.tile_size = longestEdgeSetting(j, "max_image_size", c.tile_size, path);
    c.normalization.read(j, path);
    if (!(c.fps > 0) || c.max_frames < 1)
        throw Error(path.string() + ": the video sampling needs fps > 0 and at least one frame (fps " +
                    std::to_string(c.fps) + ", max_frames " + std::to_string(c.max_frames) + ")");
    const int resample = settingOr<int>(j, "resample", 1, path);
    if (resample != 1)
        throw Error(path.string() + ": resample is " + std::to_string(resample) +
                    "; SmolVLM2's video frames are resized with Lanczos (1) only");
    return c;
}

SmolVlm2VideoProcessor::SmolVlm2VideoProcessor(SmolVlm2VideoConfig config, int image_seq_len)
    : config_(std::move(config)), image_seq_len_(image_seq_len) {}

std::vector<std::int64_t> SmolVlm2VideoProcessor::sampleFrames(const VideoInfo& info) const {
    const std::int64_t total = info.frame_count;
    if (total < 1 || !(info.fps > 0))
        throw Error("the video has no frames to sample");
    const double duration = info.duration_s;
    const double fps = config_.fps;
    const std::int64_t frames_wanted = config_.max_frames;
    // Python's round(): halves to even, as std::nearbyint does in the default rounding mode.
    const auto estimated = static_cast<std::int64_t>(std::nearbyint(fps * duration));
    const std::int64_t desired = std::max<std::int64_t>(1, std::min(estimated, frames_wanted));

    std::int64_t start = 0, end = total - 1;
    const double skip = config_.skip_secs;
    if (skip > 0 && (duration - 2 * skip) > static_cast<double>(frames_wanted) * fps) {
        start = static_cast<std::int64_t>(skip * info.fps);
        end = static_cast<std::int64_t>(static_cast<double>(total) - skip * info.fps);
    }
    start = std::max<std::int64_t>(0, start);
    end = std::min(end, total - 1);
    if (start >= end) {
        start = 0;
        end = total - 1;
    }
    // numpy.linspace(start, end, desired, dtype=int): i * step + start in float64, the last
    // exactly `end`, floored; then numpy.unique.
    std::vector<std::int64_t> indices;
    indices.reserve(static_cast<std::size_t>(desired));
    const double step = desired > 1 ? static_cast<double>(end - start) / static_cast<double>(desired - 1) : 0.0;
    for (std::int64_t i = 0; i < desired; ++i) {
        const double product = static_cast<double>(i) * step;
        double y = product + static_cast<double>(start);
        if (i == desired - 1 && desired > 1)
            y = static_cast<double>(end);
        indices.push_back(static_cast<std::int64_t>(std::floor(y)));
    }
    std::sort(indices.begin(), indices.end());
    indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
    return indices;
}

// get_resize_output_image_size of video_processing_smolvlm.
std::pair<int, int> SmolVlm2VideoProcessor::resizedSize(int width, int height) const {
    return rescaleToLongestEdge(width, height, std::min(kMaxImageSize, config_.longest_edge));
}

torch::Tensor SmolVlm2VideoProcessor::process(const std::vector<RgbImage>& frames) const {
    if (frames.empty())
        throw Error("the video gave no frames");
    const int width = frames.front().width, height = frames.front().height;
    for (const auto& f : frames)
        if (f.width != width || f.height != height || f.pixels.size() != static_cast<std::size_t>(width) * height * 3)
            throw Error("the video's frames differ in size or are damaged");
    // [F, H, W, 3] bytes seen as [F, 3, H, W], as the processor sees a decoded video.
    auto video = torch::empty({static_cast<std::int64_t>(frames.size()), height, width, 3}, torch::kUInt8);
    for (std::size_t i = 0; i < frames.size(); ++i)
        std::memcpy(video[static_cast<std::int64_t>(i)].data_ptr<std::uint8_t>(), frames[i].pixels.data(),
                    frames[i].pixels.size());
    torch::Tensor x = video.permute({0, 3, 1, 2});
    // Two resizes, each skipped when the size is already right (torchvision's resize returns
    // its input then): to the longest edge, then to the square the vision tower takes.
    auto resize = [](const torch::Tensor& t, int w, int h) {
        if (t.size(2) == h && t.size(3) == w)
            return t;
        const std::vector<std::int64_t> size{h, w};
        return at::_upsample_lanczos2d_aa(t, at::IntArrayRef(size), /*align_corners=*/false,
                                          std::optional<at::ArrayRef<double>>());
    };
    const auto [rw, rh] = resizedSize(width, height);
    x = resize(x, rw, rh);
    x = resize(x, config_.tile_size, config_.tile_size);

    // The torchvision backend's fused rescale and normalize: (x - mean / r) / (std / r) in float32.
    const auto& n = config_.normalization;
    torch::Tensor values = x.to(torch::kFloat32);
    if (n.do_normalize) {
        const double inverse = n.do_rescale ? 1.0 / n.rescale_factor : 1.0;
        auto mean = torch::tensor({n.image_mean[0], n.image_mean[1], n.image_mean[2]}, torch::kFloat32) * inverse;
        auto std = torch::tensor({n.image_std[0], n.image_std[1], n.image_std[2]}, torch::kFloat32) * inverse;
        values = values.sub(mean.view({-1, 1, 1})).div(std.view({-1, 1, 1}));
    } else if (n.do_rescale) {
        values = values * n.rescale_factor;
    }
    return values.contiguous();
}

std::string SmolVlm2VideoProcessor::promptText(const VideoFrames& frames) const {
    // str(timedelta(seconds=int(duration))): "H:MM:SS", "N day(s), H:MM:SS" past a day.
    const auto duration = static_cast<std::int64_t>(frames.duration_s);
    char clock[32];
    std::snprintf(clock, sizeof clock, "%lld:%02lld:%02lld", static_cast<long long>(duration % 86400 / 3600),
                  static_cast<long long>(duration % 3600 / 60), static_cast<long long>(duration % 60));
    std::string length = clock;
    if (const std::int64_t days = duration / 86400; days > 0)
        length = std::to_string(days) + (days == 1 ? " day, " : " days, ") + length;

    std::string out = "You are provided the following series of " +
                      englishCardinal(static_cast<std::int64_t>(frames.indices.size())) + " frames from a " + length +
                      " [H:MM:SS] video.\n";
    const std::string tokens = expandIdefics3ImageTokens(0, 0, image_seq_len_);  // a frame: a global view alone
    for (double t : frames.times_s)
        out += "\n" + videoFrameLabel(t) + tokens;
    return out + "\n\n";
}

}  // namespace vqa
