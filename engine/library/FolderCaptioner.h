// Captioning many images: a folder (or several, or a list of files) captioned one image after
// the other on a loaded or connected Engine, every caption kept in the library as soon as it is
// made. Run it again after an interruption and it continues where it stopped: an image whose
// file is unchanged and already has a caption for this model and prompt is not captioned
// again, and a file with the same content as one already captioned (a copy) reuses that
// caption. Files that cannot be read, or are too large, are reported and skipped.
//
// Torch-free: the window and the CLI include it.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/Types.h"
#include "engine/library/ImageFiles.h"  // listImageFiles, with the image index
#include "engine/library/LibraryDb.h"

namespace vqa {
class Engine;
}

namespace vqa::library {

class LibraryDb;

// The prompt for one image: {name} is the file name without its extension, {file} the file
// name, {folder} the name of the folder it is in, {path} the whole path; {{ and }} are braces.
std::string fillPrompt(const std::string& prompt, const std::string& image_path);

// What a model's captions are kept under: the model ("Org/Name" for a Hub download, else its
// folder's name; a server's model and the server) and the precision it runs in.
std::string modelKey(const ModelInfo& info);

struct CaptionJob {
    std::vector<std::string> images;  // from listImageFiles
    std::string model;   // what the captions are kept under: the model and its precision
    std::string prompt;  // as written, filled per image
    // What the captions are kept under besides the model: the prompt, and the caption's given
    // start and avoided words when there are any (they change the captions too).
    std::string promptKey() const;
    GenerationParams generation;
    ImageOptions image_options;
    std::int64_t max_pixels = 50'000'000;         // a larger image is skipped
    std::int64_t max_file_bytes = 256ll << 20;    // a larger file is skipped
    bool redo = false;  // caption again the images that have a caption
    // How many images are captioned together (Engine::generateBatch): more use the machine
    // better, and a cancel or a crash then loses at most this many captions in progress.
    int batch_size = 1;
    // Stop the run when this many images in a row fail in the engine (not in their own file):
    // a server that went away, a model that cannot answer.
    int max_engine_failures_in_a_row = 5;
};

enum class ItemStatus {
    Captioned,  // made now
    Kept,       // the library had it for this file (a resumed run)
    Reused,     // another file with the same content had it
    Skipped,    // could not be captioned: `message` says why
    Stopped,    // the run was cancelled during this image; nothing kept
};
const char* itemStatusName(ItemStatus status);

struct CaptionItem {
    int index = 0;  // in job.images
    std::string path;
    ItemStatus status = ItemStatus::Skipped;
    std::string text;
    std::string message;
    double seconds = 0;  // spent on this image
};

struct CaptionProgress {
    int done = 0;   // images finished (any status)
    int total = 0;
    double elapsed_s = 0;
    double eta_s = -1;  // < 0: not known yet
    std::string current;  // the image being captioned, "" between images
};

struct CaptionSummary {
    int captioned = 0;
    int kept = 0;
    int reused = 0;
    int skipped = 0;
    bool cancelled = false;
    std::string stopped_because;  // set when engine failures in a row stopped the run
    double seconds = 0;
};

// A run, a step at a time: the window's engine thread takes a step, lets a question in
// between, and takes the next (captionImages below is the plain loop). A step captions up
// to job.batch_size images together and hands them out one by one.
class FolderCaptioner {
  public:
    // `engine` (loaded or connected) and `db` must outlive the captioner.
    FolderCaptioner(Engine& engine, LibraryDb& db, CaptionJob job);

    // What came of the next image, once its caption is safely in the library; nullopt when
    // the run is over (all done, cancelled, or stopped by engine failures). When no image is
    // ready, captions the next ones first (on_start is called before, with the progress).
    // Images stopped by `cancel` come back as Stopped, and the run is over.
    std::optional<CaptionItem> next(const std::function<void(const CaptionProgress&)>& on_start = {},
                                    const std::atomic<bool>* cancel = nullptr);
    bool done() const;
    CaptionProgress progress(const std::string& current = {}) const;
    CaptionSummary summary() const;
    const CaptionJob& job() const { return job_; }

  private:
    // An image that needs the model: its request and what the library will keep of it.
    struct Pending {
        Request request;
        ImageRecord record;
    };
    // Settles `item` without the model when it can (kept, a copy, a file that cannot be
    // read: its status and text set); otherwise the request for it.
    std::optional<Pending> prepare(CaptionItem& item);
    // Keeps the model's answer for `item` in the library, or says why not.
    void keep(CaptionItem& item, Pending& pending, const GenerationResult& result);
    // The next images, up to job.batch_size of them captioned together, into ready_.
    void captionSome(const std::function<void(const CaptionProgress&)>& on_start, const std::atomic<bool>* cancel);

    Engine& engine_;
    LibraryDb& db_;
    CaptionJob job_;
    std::chrono::steady_clock::time_point start_;
    bool reasons_first_;
    int next_ = 0;      // the next image to look at
    int finished_ = 0;  // images settled (not Stopped)
    std::deque<CaptionItem> ready_;  // settled, not yet handed out
    double captioning_s_ = 0;  // time spent on images captioned now: the pace for what is left
    int failures_in_a_row_ = 0;
    CaptionSummary summary_;
};

// Runs `job` on `engine` (loaded or connected). `on_item` is called once per image after its
// caption is safely in `db`; `on_progress` when an image starts and when it ends. `cancel`
// stops the run, mid-answer too (that image's partial answer is not kept).
CaptionSummary captionImages(Engine& engine, LibraryDb& db, const CaptionJob& job,
                             const std::function<void(const CaptionItem&)>& on_item,
                             const std::function<void(const CaptionProgress&)>& on_progress = {},
                             const std::atomic<bool>* cancel = nullptr);

} // namespace vqa::library
