#include "app/cli/CaptionFolder.h"
#include "app/cli/StopOnSignal.h"
#include "app/cli/TerminalProgress.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engine/Engine.h"
#include "engine/io/AtomicFile.h"
#include "engine/library/CaptionExport.h"
#include "engine/library/FolderCaptioner.h"
#include "engine/library/LibraryDb.h"
#include "models/base/Error.h"

namespace vqa::cli {
namespace {

namespace fs = std::filesystem;
using namespace vqa::library;

// One line per image that was skipped, or per image when not on a terminal; the bar between.
class ProgressPrinter : public TerminalProgress {
  public:
    void progress(const CaptionProgress& p) {
        bar(p.done, p.total, p.elapsed_s, p.eta_s, p.current.empty() ? "" : fs::path(p.current).filename().string());
    }
    void item(const CaptionItem& item, int total) {
        std::string text = "vqa: [";
        text += std::to_string(item.index + 1);
        text += "/";
        text += std::to_string(total);
        text += "] ";
        if (item.status == ItemStatus::Skipped) {
            text += "skipped ";
            text += item.message;
        } else if (!terminal()) {
            text += itemStatusName(item.status);
            text += " ";
            text += item.path;
            if (!item.message.empty())
                text += " (" + item.message + ")";
        } else {
            return;
        }
        line(text);
    }
};

} // namespace

bool wantsFolderCaptioning(const FolderCaptionOptions& o) {
    if (o.inputs.size() != 1 || !o.out.empty() || !o.csv.empty() || o.sidecar || o.recursive || !o.library.empty())
        return true;
    std::error_code ec;
    return fs::is_directory(o.inputs.front(), ec);
}

int runFolderCaptioning(const FolderCaptionOptions& o, const GenerationParams& params, const ImageOptions& images,
                        const std::function<void(Engine&)>& load) {
    try {
        CaptionJob job;
        job.images = listImageFiles(o.inputs, o.recursive);
        if (job.images.empty()) {
            std::cerr << "vqa: no images found (JPEG, PNG, WebP, BMP, TIFF, GIF, PNM"
                      << (o.recursive ? "" : "; --recursive looks in subfolders too") << ")\n";
            return 1;
        }
        if (o.sidecar) {  // what a killed run left half-written beside the images
            std::set<std::string> folders;
            for (const auto& image : job.images)
                folders.insert(fs::path(image).parent_path().string());
            for (const auto& folder : folders)
                removeStaleTemporaries(folder);
        }
        LibraryDb db(o.library.empty() ? defaultLibraryPath() : o.library);
        if (!db.notice().empty())
            std::cerr << "vqa: " << db.notice() << "\n";
        std::unique_ptr<CaptionLog> log;
        if (!o.out.empty()) {
            log = std::make_unique<CaptionLog>(o.out);
            if (log->repaired())
                std::cerr << "vqa: " << o.out << " ended in a line cut short; it was removed and is written again\n";
        }

        Engine engine;
        load(engine);
        job.model = modelKey(engine.modelInfo());
        job.prompt = o.prompt;
        job.generation = params;
        job.image_options = images;
        job.redo = o.redo;
        job.batch_size = o.batch;

        ProgressPrinter printer;
        const bool to_stdout = o.out.empty() && !o.sidecar && o.csv.empty();
        int kept_sidecars = 0;
        auto on_item = [&](const CaptionItem& item) {
            printer.item(item, static_cast<int>(job.images.size()));
            if (item.status == ItemStatus::Skipped || item.status == ItemStatus::Stopped)
                return;
            CaptionRecord record;
            record.image_path = item.path;
            record.model = job.model;
            record.prompt = job.promptKey();
            record.text = item.text;
            // A caption the library kept from an interrupted run may not have reached the
            // files yet: every output is brought up to date, whatever the status.
            if (log && !(item.status == ItemStatus::Kept && log->has(item.path)))
                log->append(record);
            if (o.sidecar && writeSidecar(item.path, item.text, o.overwrite) == SidecarResult::KeptExisting)
                ++kept_sidecars;
            if (to_stdout) {
                std::cout << nlohmann::json{{"image", item.path}, {"caption", item.text}}.dump() << std::endl;
            }
        };

        CaptionSummary summary;
        {
            StopOnSignal stop_on_signal;  // Ctrl+C: captions made so far are kept
            summary = captionImages(
                engine, db, job, on_item, [&](const CaptionProgress& p) { printer.progress(p); }, &stopRequested());
        }
        printer.finish();
        if (!o.csv.empty()) {
            const std::set<std::string> wanted(job.images.begin(), job.images.end());
            std::vector<CaptionRecord> rows;
            for (auto& c : db.captions(job.model, job.promptKey()))
                if (wanted.count(c.image_path))
                    rows.push_back(std::move(c));
            writeCaptionsCsv(rows, o.csv);
        }
        std::cerr << "vqa: " << summary.captioned << " captioned, " << summary.kept << " already captioned, "
                  << summary.reused << " copies, " << summary.skipped << " skipped, of " << job.images.size()
                  << " images in " << durationText(summary.seconds);
        if (summary.captioned > 0)
            std::cerr << " (" << std::lround(summary.captioned * 60.0 / summary.seconds) << " images a minute)";
        std::cerr << "\n";
        if (kept_sidecars > 0)
            std::cerr << "vqa: " << kept_sidecars << " existing .txt files were kept (--overwrite replaces them)\n";
        if (!summary.stopped_because.empty()) {
            std::cerr << "vqa: stopped: " << summary.stopped_because << "\n";
            return 1;
        }
        if (summary.cancelled) {
            std::cerr << "vqa: stopped; run the same command again to continue where it stopped\n";
            return 130;
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "vqa: " << e.what() << "\n";
        return 1;
    }
}

} // namespace vqa::cli
