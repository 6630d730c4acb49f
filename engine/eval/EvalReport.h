// What `vqa eval` computes from a set and a model's predictions, and the report it writes:
// metrics.json (the scores, and per answer and question type for VQA), predictions.jsonl (one
// line per item with its own scores) and index.html (the scores, the breakdown, and the best
// and worst examples with their images and heatmaps). Also the side-by-side comparison of two
// reports.
//
// Torch-free: the CLI, the window and the tests include it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/eval/EvalSet.h"

namespace vqa::eval {

// One item's prediction, as the run made it (or found it in its cache).
struct Prediction {
    std::string text;
    double seconds = 0;
};

// An item scored: its prediction and its score under each metric (captions: BLEU-1..4,
// ROUGE-L, CIDEr-D; VQA: accuracy in percent).
struct ScoredItem {
    const EvalItem* item = nullptr;
    std::string prediction;
    std::map<std::string, double> scores;
    // The example image and heatmap files of the report (relative to it), when it shows this item.
    std::string image_file;
    std::string heatmap_file;
};

struct EvalMetrics {
    EvalTask task = EvalTask::Caption;
    std::map<std::string, double> overall;  // metric -> score (VQA: "accuracy" in percent)
    std::map<std::string, std::map<std::string, double>> by_answer_type;    // VQA
    std::map<std::string, std::map<std::string, double>> by_question_type;  // VQA
    std::vector<ScoredItem> items;  // in the set's order
    std::string primary;  // the metric examples are ranked by: "CIDEr-D" or "accuracy"
};

// Scores the items that have a prediction (the others are left out). Captions are tokenized
// as the COCO evaluation tokenizes them first.
EvalMetrics scorePredictions(const EvalSet& set, const std::map<std::string, Prediction>& predictions);

// Where the report's best and worst examples are: their indices into metrics.items, best first
// then worst (each at most `count`, none twice).
std::vector<std::size_t> exampleItems(const EvalMetrics& metrics, int count);

// What the report says about how it was made.
struct ReportInfo {
    std::string model;       // the model and its precision
    std::string prompt;
    std::string created;     // a date, as text
    int total = 0;           // items asked for
    int failed = 0;          // items the model could not answer (their messages in notes)
    double seconds = 0;      // the model's time over the items computed now
    std::vector<std::string> notes;
};

nlohmann::json metricsJson(const EvalMetrics& metrics, const ReportInfo& info);
// One JSON object per line, in the set's order.
std::string predictionsJsonl(const EvalMetrics& metrics);
std::string reportHtml(const EvalMetrics& metrics, const ReportInfo& info, const std::vector<std::size_t>& examples);

// Writes metrics.json, predictions.jsonl and index.html into `folder`, each whole or not at all.
void writeReport(const std::string& folder, const EvalMetrics& metrics, const ReportInfo& info,
                 const std::vector<std::size_t>& examples);

// Two reports side by side (`vqa eval --compare A B`): their metrics, then the `count` items,
// present in both, whose scores differ most. Throws vqa::Error naming a folder that holds no
// report, or reports of different tasks.
std::string compareReports(const std::string& a, const std::string& b, int count = 10);

} // namespace vqa::eval
