#include "app/cli/CaptionFolder.h"
#include "app/cli/StopOnSignal.h"

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

std::string clock(double seconds) {
    if (seconds < 0)
        return "--:--";
    const long s = std::lround(seconds);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

// "12.3 s" for a short run, "1:02:03" for a long one.
std::string duration(double seconds) {
    if (seconds >= 600)
        return clock(seconds);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", seconds);
    return buf;
}

// On a terminal, one line redrawn: a bar, the count, the time so far and left. Elsewhere (a
// log, a pipe), one plain line per image.
class ProgressPrinter {
  public:
    ProgressPrinter() : tty_(isatty(STDERR_FILENO)) {}

    void progress(const CaptionProgress& p) {
        if (!tty_)
            return;
        constexpr int kWidth = 24;
        const int filled = p.total > 0 ? p.done * kWidth / p.total : 0;
        std::string bar(static_cast<std::size_t>(filled), '#');
        bar.resize(kWidth, '.');
        std::string name = p.current.empty() ? "" : fs::path(p.current).filename().string();
        if (name.size() > 32)
            name = name.substr(0, 29) + "...";
        std::fprintf(stderr, "\r\033[K[%s] %d/%d  %s elapsed, %s left  %s", bar.c_str(), p.done, p.total,
                     clock(p.elapsed_s).c_str(), clock(p.eta_s).c_str(), name.c_str());
        std::fflush(stderr);
        drawn_ = true;
    }

    // A line of its own, above the bar.
    void line(const std::string& text) {
        if (drawn_)
            std::fputs("\r\033[K", stderr);
        std::fputs((text + "\n").c_str(), stderr);
        std::fflush(stderr);
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
        } else if (!tty_) {
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

    void finish() {
        if (drawn_)
            std::fputs("\r\033[K", stderr);
        std::fflush(stderr);
    }

  private:
    bool tty_;
    bool drawn_ = false;
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
                  << " images in " << duration(summary.seconds);
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
