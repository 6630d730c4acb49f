#include "engine/eval/EvalRun.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engine/Engine.h"
#include "engine/generation/AnswerText.h"
#include "engine/eval/EvalReport.h"
#include "engine/explain/Heatmap.h"
#include "engine/hub/Checksum.h"
#include "engine/vision/ImageIO.h"
#include "engine/vision/PilResize.h"
#include "models/base/Error.h"

namespace vqa::eval {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The cache: one JSON object a line, appended and flushed to disk as each prediction is made.
// A line cut short by a crash is passed over when it is read.
class PredictionCache {
  public:
    explicit PredictionCache(const std::string& path) : path_(path) {
        std::ifstream in(path, std::ios::binary);
        std::string line;
        while (std::getline(in, line)) {
            try {
                const json j = json::parse(line);
                kept_[j.at("id").get<std::string>()] = {j.at("prediction").get<std::string>(),
                                                        j.value("seconds", 0.0)};
            } catch (const json::exception&) {
                // a torn last line
            }
        }
        std::error_code ec;
        fs::create_directories(fs::path(path).parent_path(), ec);
        fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd_ < 0)
            throw Error("cannot write the evaluation's cache " + path);
        // A torn last line would glue onto the next one: start on a line of our own.
        if (fs::file_size(path, ec) > 0 && !ec) {
            std::ifstream last(path, std::ios::binary);
            last.seekg(-1, std::ios::end);
            if (last.get() != '\n')
                append("\n");
        }
    }
    ~PredictionCache() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    PredictionCache(const PredictionCache&) = delete;
    PredictionCache& operator=(const PredictionCache&) = delete;

    const std::map<std::string, Prediction>& kept() const { return kept_; }

    void keep(const std::string& id, const Prediction& p) {
        json j;
        j["id"] = id;
        j["prediction"] = p.text;
        j["seconds"] = p.seconds;
        append(j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
        ::fdatasync(fd_);
        kept_[id] = p;
    }

  private:
    void append(const std::string& text) {
        std::size_t written = 0;
        while (written < text.size()) {
            const ssize_t n = ::write(fd_, text.data() + written, text.size() - written);
            if (n < 0)
                throw Error("cannot write the evaluation's cache " + path_);
            written += static_cast<std::size_t>(n);
        }
    }
    std::string path_;
    int fd_ = -1;
    std::map<std::string, Prediction> kept_;
};

Request requestFor(const EvalJob& job, const EvalItem& item) {
    ImageDecodeOptions decode;
    decode.max_pixels = job.max_pixels;
    auto image = std::make_shared<const RgbImage>(decodeImageFile(item.image, decode));
    Request request;
    request.images = {image};
    request.image_keys = {"eval:" + item.image};
    request.image_options = job.image_options;
    request.generation = job.generation;
    request.conversation.push_back(
        {Role::User, {{ContentPart::Kind::Image, {}}, {ContentPart::Kind::Text, promptFor(job, item)}}});
    return request;
}

RgbImage fitWithin(const RgbImage& image, int side) {
    const int longest = std::max(image.width, image.height);
    if (longest <= side)
        return image;
    const double s = static_cast<double>(side) / longest;
    return pilResize(image, std::max(1, static_cast<int>(image.width * s + 0.5)),
                     std::max(1, static_cast<int>(image.height * s + 0.5)), PilFilter::Bilinear);
}

std::string safeName(const std::string& id) {
    std::string out;
    for (char c : id)
        out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
    return out;
}

// The example's picture and, with a local model, where it looked while answering, over it.
void drawExample(Engine& engine, const EvalJob& job, ScoredItem& s, bool heatmap, std::vector<std::string>& notes) {
    const fs::path dir = fs::path(job.out) / "images";
    fs::create_directories(dir);
    const std::string name = safeName(s.item->id);
    try {
        Request request = requestFor(job, *s.item);
        const RgbImage& image = *request.images.front();
        writePng(fitWithin(image, 320), (dir / (name + ".png")).string());
        s.image_file = "images/" + name + ".png";
        if (!heatmap)
            return;
        request.explain.capture_attention = true;
        std::vector<std::vector<HeatmapGrid>> attention;
        const GenerationResult result = engine.generate(request, [&](const TokenEvent& e) {
            if (!e.attention.empty())
                attention.push_back(e.attention);
        });
        if (result.stop == StopReason::Error || attention.empty())
            return;
        std::vector<const std::vector<HeatmapGrid>*> tokens;
        for (const auto& a : attention)
            tokens.push_back(&a);
        const Heatmap map = meanHeatmap(tokens, image.width, image.height, HeatmapSource::Combined, kHeatmapMaxSide);
        writePng(fitWithin(renderHeatmap(image, map), 320), (dir / (name + "-heatmap.png")).string());
        s.heatmap_file = "images/" + name + "-heatmap.png";
    } catch (const Error& e) {
        notes.push_back("the example " + s.item->id + " could not be drawn: " + e.what());
    }
}

std::string today() {
    const std::time_t now = std::time(nullptr);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
    return text;
}

} // namespace

std::string promptTemplate(const EvalJob& job) {
    if (!job.prompt.empty())
        return job.prompt;
    return job.set.task == EvalTask::Caption ? kDefaultCaptionPrompt : kDefaultVqaPrompt;
}

std::string promptFor(const EvalJob& job, const EvalItem& item) {
    std::string prompt = promptTemplate(job);
    for (std::size_t at; (at = prompt.find("{question}")) != std::string::npos;)
        prompt.replace(at, 10, item.question);
    return prompt;
}

std::string cacheFile(const EvalJob& job) {
    json key;
    key["task"] = taskName(job.set.task);
    key["model"] = job.model;
    key["prompt"] = promptTemplate(job);
    const GenerationParams& g = job.generation;
    key["generation"] = {g.max_new_tokens, g.temperature, g.top_k, g.top_p, g.repetition_penalty, g.seed,
                         g.ignore_eos, g.banned_words, g.answer_start};
    key["max_image_tokens"] = job.image_options.max_image_tokens;
    const std::string text = key.dump();
    const std::string folder = job.cache.empty() ? (fs::path(job.out) / "cache").string() : job.cache;
    return (fs::path(folder) / (std::string(taskName(job.set.task)) + "-" +
                                hub::sha256Bytes(text.data(), text.size()).substr(0, 16) + ".jsonl"))
        .string();
}

EvalOutcome runEvaluation(Engine& engine, const EvalJob& job, const std::function<void(const EvalProgress&)>& progress,
                          const std::atomic<bool>* cancel) {
    const auto start = std::chrono::steady_clock::now();
    EvalSet set = job.set;
    if (job.limit > 0 && static_cast<std::size_t>(job.limit) < set.items.size())
        set.items.resize(static_cast<std::size_t>(job.limit));
    EvalOutcome outcome;
    outcome.total = static_cast<int>(set.items.size());
    const ModelInfo info = engine.modelInfo();

    PredictionCache cache(cacheFile(job));
    std::vector<const EvalItem*> todo;
    for (const EvalItem& item : set.items) {
        if (cache.kept().count(item.id))
            ++outcome.reused;
        else
            todo.push_back(&item);
    }
    EvalProgress p;
    p.total = outcome.total;
    p.reused = outcome.reused;
    p.done = outcome.reused;
    p.stage = "answering";
    auto report = [&] {
        p.elapsed_s = secondsSince(start);
        const int made = p.done - p.reused;
        p.eta_s = made > 0 ? p.elapsed_s / made * (p.total - p.done) : -1;
        if (progress)
            progress(p);
    };
    report();

    std::vector<std::string> notes = set.notes;
    double model_seconds = 0;
    const std::size_t batch = static_cast<std::size_t>(std::max(job.batch_size, 1));
    for (std::size_t next = 0; next < todo.size();) {
        if (cancel && cancel->load()) {
            outcome.cancelled = true;
            return outcome;
        }
        std::vector<Request> requests;
        std::vector<const EvalItem*> asked;
        while (next < todo.size() && requests.size() < batch) {
            const EvalItem* item = todo[next++];
            try {
                requests.push_back(requestFor(job, *item));
                asked.push_back(item);
            } catch (const Error& e) {
                ++outcome.failed;
                ++p.done;
                notes.push_back(fs::path(item->image).filename().string() + " (" + item->id + "): " + e.what());
            }
        }
        if (requests.empty()) {
            report();
            continue;
        }
        const auto batch_start = std::chrono::steady_clock::now();
        bool stopped = false;
        engine.generateBatch(requests, [&](std::size_t k, const GenerationResult& result) {
            if (result.stop == StopReason::Cancelled) {
                stopped = true;
                return;
            }
            ++p.done;
            if (result.stop == StopReason::Error) {
                ++outcome.failed;
                notes.push_back(fs::path(asked[k]->image).filename().string() + " (" + asked[k]->id +
                                "): " + result.error);
            } else {
                Prediction prediction{answerAfterReasoning(job.generation.answer_start + result.text, info.reasons_first),
                                      secondsSince(batch_start)};
                cache.keep(asked[k]->id, prediction);
                ++outcome.computed;
            }
            report();
        }, cancel);
        model_seconds += secondsSince(batch_start);
        if (stopped || (cancel && cancel->load())) {
            outcome.cancelled = true;
            return outcome;
        }
    }

    p.stage = "scoring";
    report();
    EvalMetrics metrics = scorePredictions(set, cache.kept());
    const std::vector<std::size_t> examples = exampleItems(metrics, job.examples);
    p.stage = "drawing examples";
    report();
    const bool heatmaps = job.heatmaps && (!info.remote || info.remote_attention);
    for (std::size_t i : examples) {
        if (cancel && cancel->load()) {
            outcome.cancelled = true;
            return outcome;
        }
        drawExample(engine, job, metrics.items[i], heatmaps, notes);
    }
    ReportInfo ri;
    ri.model = job.model;
    ri.prompt = promptTemplate(job);
    ri.created = today();
    ri.total = outcome.total;
    ri.failed = outcome.failed;
    ri.seconds = model_seconds;
    ri.notes = notes;
    writeReport(job.out, metrics, ri, examples);
    outcome.report = (fs::path(job.out) / "index.html").string();
    outcome.metrics_json = metricsJson(metrics, ri).dump(1);
    return outcome;
}

} // namespace vqa::eval
