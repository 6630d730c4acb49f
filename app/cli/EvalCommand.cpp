// `vqa eval`: a model over a caption or VQA set, scored with the field's metrics (BLEU-1..4,
// ROUGE-L and CIDEr-D as the COCO caption evaluation computes them; VQAv2 accuracy), into a
// report folder (metrics.json, predictions.jsonl, index.html). Resumable: predictions are kept
// as they are made. `vqa eval --compare A B` puts two reports side by side.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>

#include "app/cli/Command.h"
#include "app/cli/StopOnSignal.h"
#include "app/cli/TerminalProgress.h"
#include "engine/Engine.h"
#include "engine/eval/EvalReport.h"
#include "engine/eval/EvalRun.h"
#include "engine/library/FolderCaptioner.h"
#include "models/base/Error.h"

namespace vqa::cli {
namespace {
namespace fs = std::filesystem;

struct EvalOptions {
    std::string model;
    LoadFlags load;
    RemoteFlags remote;
    std::string task = "caption";
    std::string annotations;
    std::string questions;
    std::string images;
    std::string out = "eval-report";
    std::string prompt;
    std::vector<std::string> compare;
    int limit = 0;
    int batch = 4;
    int examples = 5;
    int max_new_tokens = 0;  // 0: the task's default
    int max_image_tokens = 0;
    bool skip_missing = false;
    bool no_heatmaps = false;
    bool json = false;
};

eval::EvalSet loadSet(const EvalOptions& o) {
    eval::EvalSetFiles files;
    files.task = o.task == "caption" ? eval::EvalTask::Caption : eval::EvalTask::Vqa;
    files.annotations = o.annotations;
    files.questions = o.questions;
    files.options.images = o.images;
    files.options.skip_missing = o.skip_missing;
    if (o.annotations.empty())
        throw Error("give the set: --annotations FILE (and --questions FILE for VQAv2)");
    return eval::loadEvalSet(files);
}

int run(const EvalOptions& o) {
    if (!o.compare.empty()) {
        std::cout << eval::compareReports(o.compare[0], o.compare[1]);
        return 0;
    }
    if (o.model.empty() == !o.remote.used())
        throw Error(o.model.empty() ? "give a model: --model FOLDER, or --server URL for one on a server"
                                    : "give --model or --server, not both");
    eval::EvalJob job;
    job.set = loadSet(o);  // before the model loads: a broken set fails fast
    for (const std::string& note : job.set.notes)
        std::cerr << "vqa: " << note << "\n";
    Engine engine;
    if (o.remote.used())
        engine.connect(o.remote.options());
    else
        engine.load(o.model, o.load.options());
    const ModelInfo info = engine.modelInfo();
    job.model = library::modelKey(info);
    job.prompt = o.prompt;
    job.generation.max_new_tokens = o.max_new_tokens > 0 ? o.max_new_tokens : (o.task == "caption" ? 64 : 16);
    job.image_options.max_image_tokens = o.max_image_tokens;
    job.limit = o.limit;
    job.batch_size = o.batch;
    job.examples = o.examples;
    job.heatmaps = !o.no_heatmaps;
    job.out = o.out;

    TerminalProgress printer;
    StopOnSignal stop_on_signal;
    // Not on a terminal (a log): a line per stage and per 2 % of the items.
    std::string stage;
    int printed = -1;
    const eval::EvalOutcome outcome = eval::runEvaluation(
        engine, job,
        [&](const eval::EvalProgress& p) {
            printer.bar(p.done, p.total, p.elapsed_s, p.eta_s, p.stage);
            if (!printer.terminal() &&
                (p.stage != stage || p.done == p.total || p.done - printed >= std::max(1, p.total / 50))) {
                std::cerr << "vqa: " << p.stage << " " << p.done << "/" << p.total
                          << (p.reused ? " (" + std::to_string(p.reused) + " from an earlier run)" : "") << std::endl;
                printed = p.done;
            }
            stage = p.stage;
        },
        &stopRequested());
    printer.finish();
    if (outcome.cancelled) {
        std::cerr << "vqa: stopped; the " << outcome.computed + outcome.reused
                  << " predictions made so far are kept: run the same command again to go on\n";
        return 130;
    }
    std::cerr << "vqa: " << outcome.total << " items: " << outcome.computed << " answered now, " << outcome.reused
              << " from an earlier run" << (outcome.failed ? ", " + std::to_string(outcome.failed) + " failed" : "")
              << "\n";
    if (o.json) {
        std::cout << outcome.metrics_json << "\n";
    } else {
        const auto metrics = nlohmann::json::parse(outcome.metrics_json);
        for (const auto& [name, v] : metrics["metrics"].items())
            std::cout << name << "\t" << v.get<double>() << "\n";
        std::cout << "report: " << outcome.report << "\n";
    }
    return 0;
}

void setupEval(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<EvalOptions>();
    auto* cmd = app.add_subcommand("eval",
                                   "Score a model on a caption set (BLEU, ROUGE-L, CIDEr-D) or a VQA set (VQA "
                                   "accuracy) and write a report; resumable");
    cmd->add_option("--model,-m", o->model, "Model folder (config.json, *.safetensors, tokenizer)");
    addLoadFlags(cmd, o->load);
    addRemoteFlags(cmd, o->remote, true);
    cmd->add_option("--task", o->task, "caption (COCO caption annotations) or vqa (VQAv2, or a JSONL set)")
        ->check(CLI::IsMember({"caption", "vqa"}))
        ->capture_default_str();
    cmd->add_option("--annotations", o->annotations,
                    "COCO caption annotations (captions_val2014.json); VQAv2 annotations (with --questions); or "
                    "a .jsonl file of {\"image\", \"question\", \"answers\"} lines");
    cmd->add_option("--questions", o->questions, "VQAv2 questions file (OpenEnded_mscoco_val2014_questions.json)");
    cmd->add_option("--images", o->images, "The folder the images are in (default: the annotations' folder)");
    cmd->add_option("--out", o->out, "The report's folder")->capture_default_str();
    cmd->add_option("--limit", o->limit, "Only the set's first N items (0: all)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--prompt", o->prompt,
                    std::string("What to ask; {question} is the question. Default: \"") +
                        eval::kDefaultCaptionPrompt + "\" for captions, the question followed by \"Answer the "
                        "question using a single word or phrase.\" for VQA");
    cmd->add_option("--batch", o->batch, "Items answered together (a cancel or crash loses at most these)")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    cmd->add_option("--max-new-tokens", o->max_new_tokens, "Most tokens per answer (default: 64 captions, 16 VQA)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--max-image-tokens", o->max_image_tokens, kMaxImageTokensHelp)->check(CLI::NonNegativeNumber);
    cmd->add_option("--examples", o->examples, "Best and worst examples in the report, each")
        ->check(CLI::Range(0, 100))
        ->capture_default_str();
    cmd->add_flag("--skip-missing", o->skip_missing, "Leave out entries whose image has no file, instead of stopping");
    cmd->add_flag("--no-heatmaps", o->no_heatmaps, "No heatmaps for the report's examples");
    cmd->add_flag("--json", o->json, "Print metrics.json when done");
    cmd->add_option("--compare", o->compare, "Two report folders: their metrics side by side, and where they differ")
        ->expected(2);
    cmd->callback([o, &exit_code] {
        try {
            exit_code = run(*o);
        } catch (const std::exception& e) {
            std::cerr << "vqa: " << e.what() << "\n";
            exit_code = 1;
        }
    });
}

} // namespace

VQA_CLI_COMMAND("eval", setupEval);

} // namespace vqa::cli
