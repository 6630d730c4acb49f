// `vqa eval`'s run: a model over a set, a batch of items at a time, every prediction appended
// to a cache as soon as it is made (so an interrupted run loses at most the batch in progress,
// and the next run with the same model, precision, prompt and settings does not make them
// again), then the report (EvalReport.h) with heatmaps of its best and worst examples.
//
// Torch-free: the CLI, the window and the tests include it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "engine/Types.h"
#include "engine/eval/EvalSet.h"

namespace vqa {
class Engine;
}

namespace vqa::eval {

// What a model is asked. {question} stands for the question.
inline constexpr const char* kDefaultCaptionPrompt = "Describe this image in one sentence.";
inline constexpr const char* kDefaultVqaPrompt = "{question}\nAnswer the question using a single word or phrase.";

struct EvalJob {
    EvalSet set;
    std::string model;   // what the predictions are kept under: the model and its precision
    std::string prompt;  // "" : the task's default
    GenerationParams generation;
    ImageOptions image_options;
    int limit = 0;       // the set's first N items (0: all)
    int batch_size = 4;  // items answered together (Engine::generateBatch)
    std::string out;     // the report's folder (created)
    int examples = 5;    // best and worst examples shown in the report, each
    bool heatmaps = true;  // the examples' heatmaps (a local model only)
    std::int64_t max_pixels = 50'000'000;  // a larger image fails alone
    std::string cache;   // the predictions' cache folder ("" : <out>/cache)
};

// The job's prompt as written ({question} in it for VQA), and as asked for `item`.
std::string promptTemplate(const EvalJob& job);
std::string promptFor(const EvalJob& job, const EvalItem& item);
// The file the job's predictions are kept in: one per task, model, prompt and settings.
std::string cacheFile(const EvalJob& job);

struct EvalProgress {
    int done = 0;     // items answered (or found in the cache)
    int total = 0;
    int reused = 0;   // of `done`, found in the cache
    double elapsed_s = 0;
    double eta_s = -1;  // < 0: not known yet
    std::string stage;  // "answering", "scoring", "drawing examples"
};

struct EvalOutcome {
    int total = 0;
    int computed = 0;  // answered now
    int reused = 0;    // found in the cache
    int failed = 0;    // could not be answered (a broken image): left out of the scores
    bool cancelled = false;  // nothing but the cache was written
    std::string report;      // index.html, when written
    std::string metrics_json;  // metrics.json's text, when written
};

// Runs the job on `engine` (loaded or connected). A cancel stops at the next item; what was
// answered stays in the cache and a later run continues from there. Throws vqa::Error when
// the cache or the report cannot be written.
EvalOutcome runEvaluation(Engine& engine, const EvalJob& job,
                          const std::function<void(const EvalProgress&)>& progress = {},
                          const std::atomic<bool>* cancel = nullptr);

} // namespace vqa::eval
