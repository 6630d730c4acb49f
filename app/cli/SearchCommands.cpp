// Image search from the command line, with a dual encoder (CLIP or SigLIP):
//   vqa index DIR... --model MODELDIR        the folders' images into the library's index
//   vqa search "TEXT" --model MODELDIR       the indexed images best described by TEXT
//   vqa search --image FILE --model MODELDIR the indexed images most like FILE
//   vqa tags IMAGE --model MODELDIR --labels "a photo of a cat,a photo of a dog"
// The index lives in the library database (engine/retrieval/ImageIndex); this file is wiring.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "app/cli/Command.h"
#include "app/cli/StopOnSignal.h"
#include "app/cli/TerminalProgress.h"
#include "engine/library/LibraryDb.h"
#include "engine/retrieval/DualEncoder.h"
#include "engine/retrieval/ImageIndex.h"
#include "engine/vision/ImageIO.h"

namespace vqa::cli {
namespace {

namespace fs = std::filesystem;
using retrieval::DualEncoder;
using retrieval::ImageIndex;

struct SearchOptions {
    std::string model;
    std::string library;
    std::vector<std::string> folders;  // index: the folders; search: --folder
    std::string text;
    std::string image;
    std::string labels;
    int top = 20;
    int batch = 8;
    int threads = 0;
    bool retry_failed = false;
    bool json = false;
};

std::unique_ptr<library::LibraryDb> openLibrary(const SearchOptions& o) {
    auto db = std::make_unique<library::LibraryDb>(o.library.empty() ? library::defaultLibraryPath() : o.library);
    if (!db->notice().empty())
        std::cerr << "vqa: " << db->notice() << "\n";
    return db;
}

// Before the model loads (seconds): a folder that is not there is said at once.
void requireFolders(const std::vector<std::string>& folders) {
    for (const auto& f : folders) {
        std::error_code ec;
        if (!fs::exists(f, ec))
            throw Error("the folder " + f + " does not exist");
        if (!fs::is_directory(f, ec))
            throw Error(f + " is not a folder");
    }
}

std::unique_ptr<DualEncoder> loadModel(const SearchOptions& o) {
    std::error_code ec;
    if (!fs::is_directory(o.model, ec))
        throw Error("the model folder " + o.model + " does not exist");
    return DualEncoder::load(o.model, o.threads);
}

nlohmann::json reportJson(const retrieval::IndexReport& r) {
    nlohmann::json failed = nlohmann::json::array();
    for (const auto& f : r.failed)
        failed.push_back({{"path", f.path}, {"reason", f.reason}, {"remembered", f.remembered}});
    return {{"folder", r.folder},   {"files", r.files},     {"added", r.added},
            {"changed", r.changed}, {"reused", r.reused},   {"removed", r.removed},
            {"unchanged", r.unchanged}, {"failed", failed}, {"cancelled", r.cancelled},
            {"seconds", r.seconds}};
}

int runIndex(const SearchOptions& o) {
    requireFolders(o.folders);
    auto db = openLibrary(o);
    auto encoder = loadModel(o);
    ImageIndex index(*db);
    retrieval::IndexOptions options;
    options.batch_size = o.batch;
    options.retry_unreadable = o.retry_failed;

    TerminalProgress printer;
    nlohmann::json reports = nlohmann::json::array();
    bool cancelled = false;
    {
        StopOnSignal stop_on_signal;  // Ctrl+C: the batches written so far are kept
        for (const auto& folder : o.folders) {
            auto on_progress = [&](const retrieval::IndexProgress& p) {
                printer.bar(p.done, p.total, p.elapsed_s, p.eta_s,
                            p.current.empty() ? "" : fs::path(p.current).filename().string());
            };
            const auto r = index.update(folder, *encoder, on_progress, &stopRequested(), options);
            printer.finish();
            for (const auto& f : r.failed) {
                // The reason begins with the file's name; the line names the whole path instead.
                const std::string name = fs::path(f.path).filename().string() + ": ";
                const std::string problem = f.reason.rfind(name, 0) == 0 ? f.reason.substr(name.size()) : f.reason;
                printer.line("vqa: skipped " + f.path + ": " + problem +
                             (f.remembered ? " (unchanged since it failed; --retry-failed reads it again)" : ""));
            }
            char line[512];
            std::snprintf(line, sizeof line,
                          "vqa: %s: %d added, %d changed, %d reused, %d removed, %d unchanged, %zu failed, of %d images "
                          "in %s",
                          r.folder.c_str(), r.added, r.changed, r.reused, r.removed, r.unchanged, r.failed.size(),
                          r.files, durationText(r.seconds).c_str());
            printer.line(line);
            reports.push_back(reportJson(r));
            if (r.cancelled) {
                cancelled = true;
                break;
            }
        }
    }
    if (o.json)
        std::cout << nlohmann::json{{"model", encoder->modelId()}, {"library", db->path()}, {"folders", reports},
                                    {"images", index.count(encoder->modelId())}, {"cancelled", cancelled}}
                         .dump()
                  << "\n";
    if (cancelled) {
        std::cerr << "vqa: stopped; what was indexed is kept: run the same command again to continue\n";
        return 130;
    }
    return 0;
}

int runSearch(const SearchOptions& o) {
    if (o.text.empty() == o.image.empty())
        throw Error(o.text.empty() ? "give a text to search for, or --image FILE to find images like it"
                                   : "give a text or --image, not both");
    requireFolders(o.folders);
    if (!o.image.empty() && !fs::exists(o.image))
        throw Error("the image " + o.image + " does not exist");
    auto db = openLibrary(o);
    auto encoder = loadModel(o);
    ImageIndex index(*db);
    const std::string model = encoder->modelId();
    if (index.count(model) == 0)
        throw Error("the library " + db->path() + " has no images indexed with " + o.model +
                    "; run `vqa index DIR --model " + o.model + "` first");
    const auto matches = o.image.empty()
                             ? index.search(model, encoder->embedTexts({o.text}), o.top, {}, o.folders)
                             : index.similar(o.image, *encoder, o.top, o.folders);
    if (o.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& m : matches)
            out.push_back({{"path", m.path}, {"score", m.score}, {"width", m.width}, {"height", m.height}});
        std::cout << out.dump() << "\n";
    } else {
        for (const auto& m : matches) {
            char score[32];
            std::snprintf(score, sizeof score, "%.4f", m.score);
            std::cout << score << "\t" << m.path << "\t" << m.width << "x" << m.height << "\n";
        }
    }
    if (matches.empty() && !o.folders.empty())
        std::cerr << "vqa: nothing is indexed under the folders given with this model; run `vqa index` on them first\n";
    return 0;
}

// "a, b,,c" -> {"a", "b", "c"}
std::vector<std::string> splitLabels(const std::string& text) {
    std::vector<std::string> labels;
    std::string current;
    auto push = [&] {
        const auto first = current.find_first_not_of(" \t");
        const auto last = current.find_last_not_of(" \t");
        if (first != std::string::npos)
            labels.push_back(current.substr(first, last - first + 1));
        current.clear();
    };
    for (char c : text) {
        if (c == ',')
            push();
        else
            current += c;
    }
    push();
    return labels;
}

int runTags(const SearchOptions& o) {
    const auto labels = splitLabels(o.labels);
    if (labels.empty())
        throw Error("--labels names no label; give them separated by commas, e.g. \"a photo of a cat,a photo of a dog\"");
    std::vector<RgbImage> images;
    images.push_back(decodeImageFile(o.image));  // before the model loads: a bad file is said at once
    auto encoder = loadModel(o);
    const auto scores = encoder->labelScores(encoder->embedImages(images), labels);
    std::vector<std::size_t> order(labels.size());
    for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
    if (o.json) {
        nlohmann::json out = nlohmann::json::array();
        for (std::size_t i : order)
            out.push_back({{"label", labels[i]}, {"score", scores[i]}});
        std::cout << nlohmann::json{{"image", o.image}, {"family", encoder->family()}, {"labels", out}}.dump() << "\n";
        return 0;
    }
    for (std::size_t i : order) {
        char score[32];
        std::snprintf(score, sizeof score, "%.4f", scores[i]);
        std::cout << score << "\t" << labels[i] << "\n";
    }
    return 0;
}

void addCommon(CLI::App* cmd, SearchOptions& o) {
    cmd->add_option("--model", o.model, "The dual encoder's folder (CLIP or SigLIP)")->required();
    cmd->add_option("--threads", o.threads, "CPU threads (0: all)")->check(CLI::NonNegativeNumber);
    cmd->add_flag("--json", o.json, "Print JSON");
}

void setupIndex(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<SearchOptions>();
    auto* cmd = app.add_subcommand("index", "Index the images in folders for `vqa search` (new and changed ones only)");
    cmd->add_option("folders", o->folders, "Folders (their subfolders too)")->required();
    addCommon(cmd, *o);
    cmd->add_option("--library", o->library, "The library database (default: the user's, in their data folder)");
    cmd->add_option("--batch", o->batch, "Images embedded together")->check(CLI::Range(1, 256));
    cmd->add_flag("--retry-failed", o->retry_failed, "Read again the files that failed before, even if unchanged");
    cmd->callback([o, &exit_code] { guarded(exit_code, [&] { return runIndex(*o); }); });
}

void setupSearch(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<SearchOptions>();
    auto* cmd = app.add_subcommand("search", "Find indexed images by a description, or by an image like them");
    cmd->add_option("text", o->text, "What the images show, in words");
    cmd->add_option("--image", o->image, "Find the images most like this one instead");
    addCommon(cmd, *o);
    cmd->add_option("--top", o->top, "How many images (default 20)")->check(CLI::PositiveNumber);
    cmd->add_option("--folder", o->folders, "Only images under this folder (repeat for several)");
    cmd->add_option("--library", o->library, "The library database (default: the user's, in their data folder)");
    cmd->callback([o, &exit_code] { guarded(exit_code, [&] { return runSearch(*o); }); });
}

void setupTags(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<SearchOptions>();
    auto* cmd = app.add_subcommand("tags", "How well each label describes an image (zero-shot, CLIP or SigLIP)");
    cmd->add_option("image", o->image, "Image file")->required();
    addCommon(cmd, *o);
    cmd->add_option("--labels", o->labels, "Labels separated by commas, e.g. \"a photo of a cat,a photo of a dog\"")
        ->required();
    cmd->callback([o, &exit_code] { guarded(exit_code, [&] { return runTags(*o); }); });
}

VQA_CLI_COMMAND("index", setupIndex);
VQA_CLI_COMMAND("search", setupSearch);
VQA_CLI_COMMAND("tags", setupTags);

}  // namespace
}  // namespace vqa::cli
