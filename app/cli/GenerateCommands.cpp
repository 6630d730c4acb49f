// `vqa caption`, `vqa ask`, `vqa chat`: answer about images and videos on the engine,
// streaming tokens to standard output as they come; `--json` for machine-readable output.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "app/cli/BoxesJson.h"
#include "app/cli/CaptionFolder.h"
#include "app/cli/Command.h"
#include "app/cli/QuestionFiles.h"
#include "app/cli/StopOnSignal.h"
#include "engine/Engine.h"
#include "models/base/Error.h"

namespace vqa::cli {
namespace {

struct GenerateOptions {
    std::string model;
    std::vector<std::string> files;  // images and videos, in the order the question shows them
    std::string question;
    LoadFlags load;
    RemoteFlags remote;
    int repeat = 1;
    bool json = false;
    GenerationParams params;
    ExplainParams explain;
    ImageOptions images;
};

void addGenerationFlags(CLI::App* cmd, GenerateOptions& o) {
    cmd->add_option("--model,-m", o.model, "Model folder (config.json, *.safetensors, tokenizer)");
    addLoadFlags(cmd, o.load);
    addRemoteFlags(cmd, o.remote, true);
    cmd->add_option("--max-new-tokens", o.params.max_new_tokens, "Most tokens to generate")->check(CLI::PositiveNumber);
    cmd->add_option("--max-image-tokens", o.images.max_image_tokens, kMaxImageTokensHelp)->check(CLI::NonNegativeNumber);
    cmd->add_option("--temperature", o.params.temperature, "Sampling temperature; 0 is greedy")->check(CLI::NonNegativeNumber);
    cmd->add_option("--top-k", o.params.top_k, "Keep the k most likely tokens (0: off)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--top-p", o.params.top_p, "Nucleus sampling mass (1: off)")->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--repetition-penalty", o.params.repetition_penalty, "Penalty for repeated tokens (1: off)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--seed", o.params.seed, "Random seed for sampling");
    cmd->add_flag("--ignore-eos", o.params.ignore_eos, "Keep generating past the end of the answer");
    cmd->add_option("--avoid", o.params.banned_words,
                    "Words the answer must not contain, enforced while sampling (comma-separated, or the flag "
                    "repeated); a local model only")
        ->delimiter(',');
    cmd->add_option("--answer-start", o.params.answer_start,
                    "Begin the answer with this text, as if the model had written it; it goes on from there "
                    "(a local model only)");
    cmd->add_flag("--capture-attention", o.explain.capture_attention,
                  "Capture attention over the image for every token, as explain does (to measure its cost)");
    cmd->add_flag("--json", o.json, "Print one JSON object per answer instead of streaming text");
}

const char* stopName(StopReason stop) {
    switch (stop) {
    case StopReason::EndOfTurn: return "end_of_turn";
    case StopReason::MaxTokens: return "max_tokens";
    case StopReason::Cancelled: return "cancelled";
    case StopReason::Error: return "error";
    }
    return "unknown";
}

nlohmann::json framesJson(const std::vector<VideoFrames>& videos) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : videos)
        out.push_back({{"video", v.video}, {"duration_s", v.duration_s}, {"frames", v.indices}, {"times_s", v.times_s}});
    return out;
}

nlohmann::json resultJson(const GenerationResult& r, const ModelInfo& info) {
    const Timings& t = r.timings;
    return {{"text", r.text},
            {"video_frames", framesJson(r.video_frames)},
            {"token_ids", r.token_ids},
            {"stop", stopName(r.stop)},
            {"boxes", boxesJson(r.boxes, r.text)},
            {"model", {{"family", info.family}, {"name", info.name}, {"device", info.device}, {"dtype", info.dtype},
                       {"vision_dtype", info.vision_dtype}, {"quantization", info.quantization},
                       {"quantized_by", info.quantized_by}, {"remote", info.remote}}},
            {"timings",
             {{"preprocess_ms", t.preprocess_ms},
              {"encode_ms", t.encode_ms},
              {"prefill_ms", t.prefill_ms},
              {"first_token_ms", t.first_token_ms},
              {"decode_ms", t.decode_ms},
              {"prompt_tokens", t.prompt_tokens},
              {"image_tokens", t.image_tokens},
              {"new_tokens", t.new_tokens},
              {"cached_tokens", t.cached_tokens},
              {"decode_tokens_per_second", t.tokensPerSecond()}}}};
}

// Loads the model (or connects to the server) and the image; throws vqa::Error with a
// message on failure.
void checkModelChoice(const GenerateOptions& o) {
    if (o.model.empty() == !o.remote.used())
        throw Error(o.model.empty() ? "give a model: --model FOLDER, or --server URL for one on a server"
                                    : "give --model or --server, not both");
}

// The question's files, read before the model loads (a broken one is named first).
QuestionFiles prepare(Engine& engine, const GenerateOptions& o) {
    checkModelChoice(o);
    QuestionFiles files = QuestionFiles::read(o.files);
    if (o.remote.used())
        engine.connect(o.remote.options());
    else
        engine.load(o.model, o.load.options());
    return files;
}

enum class Outcome { Answered, Stopped, Failed };

// Runs one turn; streams text unless --json. A stopped answer stays in the conversation as
// far as it got. Errors are printed.
Outcome answer(Engine& engine, Request& request, const GenerateOptions& o) {
    auto on_token = [&](const TokenEvent& event) {
        if (!o.json) {
            std::fwrite(event.text.data(), 1, event.text.size(), stdout);
            std::fflush(stdout);
        }
    };
    // An answer begun for the model (--answer-start) is part of what it says.
    const std::string& start = request.generation.answer_start;
    if (!o.json && !start.empty()) {
        std::fwrite(start.data(), 1, start.size(), stdout);
        std::fflush(stdout);
    }
    // The engine's warnings (a model asked about more images than it was trained with).
    auto on_progress = [](const Progress& p) {
        if (p.stage.rfind("warning: ", 0) == 0)
            std::cerr << "vqa: " << p.stage << "\n";
    };
    GenerationResult result;
    {
        StopOnSignal stop_on_signal;
        result = engine.generate(request, on_token, &stopRequested(), on_progress);
    }
    result.text = start + result.text;
    if (result.stop == StopReason::Error) {
        if (!o.json)
            std::cout << "\n";
        std::cerr << "vqa: " << result.error << "\n";
        return Outcome::Failed;
    }
    if (o.json)
        std::cout << resultJson(result, engine.modelInfo()).dump() << std::endl;
    else
        std::cout << std::endl;
    request.conversation.push_back({Role::Assistant, {{ContentPart::Kind::Text, result.text}}});
    if (result.stop == StopReason::Cancelled) {
        std::cerr << "vqa: stopped after " << result.timings.new_tokens << " tokens\n";
        return Outcome::Stopped;
    }
    return Outcome::Answered;
}

// The shell's convention for a program ended by SIGINT.
constexpr int kExitStopped = 130;

// The first turn: every file, in the order given, then the text. `suffix` makes the cache keys
// new (--repeat: each run prepares, encodes and prefills anew).
Request firstTurn(const QuestionFiles& files, const std::string& suffix, const std::string& text,
                  const GenerateOptions& o) {
    Request request = files.request(text, suffix);
    request.image_options = o.images;
    request.generation = o.params;
    request.explain = o.explain;
    return request;
}

int runSingle(GenerateOptions& o, const std::string& question) {
    try {
        Engine engine;
        const QuestionFiles media = prepare(engine, o);
        for (int r = 0; r < o.repeat; ++r) {
            Request request = firstTurn(media, r == 0 ? "" : "#" + std::to_string(r), question, o);
            switch (answer(engine, request, o)) {
            case Outcome::Answered: break;
            case Outcome::Stopped: return kExitStopped;
            case Outcome::Failed: return 1;
            }
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "vqa: " << e.what() << "\n";
        return 1;
    }
}

int runChat(GenerateOptions& o) {
    try {
        Engine engine;
        const QuestionFiles media = prepare(engine, o);
        const bool interactive = isatty(STDIN_FILENO);
        Request request;
        std::string line;
        while (true) {
            if (interactive)
                std::cout << "> " << std::flush;
            if (!std::getline(std::cin, line))
                break;
            if (line.empty())
                continue;
            if (request.conversation.empty()) {
                request = firstTurn(media, "", line, o);
            } else {
                request.conversation.push_back({Role::User, {{ContentPart::Kind::Text, line}}});
            }
            // A stopped answer ends that turn only: the next line asks again.
            if (answer(engine, request, o) == Outcome::Failed)
                return 1;
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "vqa: " << e.what() << "\n";
        return 1;
    }
}

constexpr const char* kCaptionPrompt = "Can you describe this image?";

void setupCaption(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<GenerateOptions>();
    auto f = std::make_shared<FolderCaptionOptions>();
    f->prompt = kCaptionPrompt;
    auto* cmd = app.add_subcommand(
        "caption", "Describe an image, or caption many: folders and files, kept in the library (resumable)");
    addGenerationFlags(cmd, *o);
    cmd->add_option("images", f->inputs, "Image files and folders")->required();
    cmd->add_option("--prompt", f->prompt,
                    "What to ask for each image; {name}, {file}, {folder} and {path} are filled per image")
        ->capture_default_str();
    cmd->add_option("--out", f->out, "Many images: append the captions to this JSONL file as they are made");
    cmd->add_flag("--sidecar", f->sidecar, "Many images: write each caption to a .txt file beside its image");
    cmd->add_flag("--overwrite", f->overwrite, "With --sidecar: replace existing .txt files (kept by default)");
    cmd->add_option("--csv", f->csv, "Many images: write all their captions to this CSV file at the end");
    cmd->add_flag("--recursive,-r", f->recursive, "Look for images in subfolders too");
    cmd->add_flag("--redo", f->redo, "Caption again images the library has a caption for (same model and prompt)");
    cmd->add_option("--batch", f->batch,
                    "Many images: caption this many together (faster; a cancel or crash loses at most these)")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    cmd->add_option("--library", f->library, "The library database (default: the user's, in their data folder)");
    cmd->callback([o, f, &exit_code] {
        if (!wantsFolderCaptioning(*f)) {
            o->files = {f->inputs.front()};
            exit_code = runSingle(*o, f->prompt);
            return;
        }
        try {
            checkModelChoice(*o);
        } catch (const Error& e) {
            std::cerr << "vqa: " << e.what() << "\n";
            exit_code = 1;
            return;
        }
        if (o->json || o->repeat != 1 || o->explain.capture_attention) {
            std::cerr << "vqa: --json and --capture-attention are for one image; many images are written as JSON "
                         "lines already\n";
            exit_code = 2;
            return;
        }
        exit_code = runFolderCaptioning(*f, o->params, o->images, [o](Engine& engine) {
            GenerateOptions load = *o;
            load.files.clear();
            prepare(engine, load);
        });
    });
}

void setupAsk(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<GenerateOptions>();
    auto* cmd = app.add_subcommand("ask", "Answer one question about images and videos");
    addGenerationFlags(cmd, *o);
    const FilesThenQuestion positionals;
    positionals.add(cmd, "Image and video files (mp4, webm, mkv, avi, mov), in the order the question shows them");
    cmd->add_option("--repeat", o->repeat, "Answer N times, each from scratch (for timing: the first run is cold)")
        ->check(CLI::PositiveNumber);
    cmd->callback([o, positionals, &exit_code] {
        exit_code = positionals.split(o->files, o->question) ? runSingle(*o, o->question) : 2;
    });
}

void setupChat(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<GenerateOptions>();
    auto* cmd = app.add_subcommand("chat", "Talk about images and videos: one question per line on standard input");
    addGenerationFlags(cmd, *o);
    cmd->add_option("files", o->files, "Image and video files (none: a conversation in text alone)");
    cmd->callback([o, &exit_code] { exit_code = runChat(*o); });
}

VQA_CLI_COMMAND("caption", setupCaption);
VQA_CLI_COMMAND("ask", setupAsk);
VQA_CLI_COMMAND("chat", setupChat);

}  // namespace
}  // namespace vqa::cli
