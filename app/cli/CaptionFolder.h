// `vqa caption` over many images: folders and lists of files captioned into the library, a
// JSONL file, sidecar .txt files and a CSV, resumable (engine/library/FolderCaptioner.h).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/Types.h"

namespace vqa {
class Engine;
}

namespace vqa::cli {

struct FolderCaptionOptions {
    std::vector<std::string> inputs;
    std::string prompt;
    std::string out;      // JSONL; "" with no sidecars and no CSV: JSON lines on standard output
    std::string csv;
    std::string library;  // "" : the user's library
    bool sidecar = false;
    bool overwrite = false;
    bool recursive = false;
    bool redo = false;
    int batch = 4;  // images captioned together (CaptionJob::batch_size)
};

// True when the command line asks for more than one image's caption streamed to the terminal.
bool wantsFolderCaptioning(const FolderCaptionOptions& o);

// Lists the images first (an error there: before any model loads), then runs `load` to load
// the model or connect, then captions. Returns the exit code; prints what went wrong.
int runFolderCaptioning(const FolderCaptionOptions& o, const GenerationParams& params, const ImageOptions& images,
                        const std::function<void(Engine&)>& load);

} // namespace vqa::cli
