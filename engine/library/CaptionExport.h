// Captions out of the library into the files people use them from: a JSONL file written as
// the captions are made, a .txt beside each image (the convention of image-model training
// sets), a CSV. Each is written so that a crash at any instant loses at most the caption in
// progress: the JSONL file line by line, flushed to disk; sidecars and CSV whole or not at all
// (a temporary file, flushed, renamed over).
//
// Torch-free: the window and the CLI include it.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "engine/library/LibraryDb.h"

namespace vqa::library {

// One caption a line: {"image": path, "caption": text, "model": ..., "prompt": ...}.
class CaptionLog {
  public:
    // Opens `path` for appending, creating it. A last line cut short by a crash is removed;
    // lines that are not captions are left as they are. Throws vqa::Error when it cannot.
    explicit CaptionLog(const std::string& path);
    ~CaptionLog();
    CaptionLog(const CaptionLog&) = delete;
    CaptionLog& operator=(const CaptionLog&) = delete;

    bool has(const std::string& image_path) const { return paths_.count(image_path) > 0; }
    // Appends one line and flushes it to disk.
    void append(const CaptionRecord& caption);
    // True when opening removed a line cut short.
    bool repaired() const { return repaired_; }

  private:
    std::string path_;
    int fd_ = -1;
    std::set<std::string> paths_;
    bool repaired_ = false;
};

// <folder>/<file name without extension>.txt
std::string sidecarPath(const std::string& image_path);

enum class SidecarResult { Written, Unchanged, KeptExisting };

// Writes the caption beside the image, atomically. An existing file is kept unless `overwrite`
// (one with this very text is left alone either way). Throws vqa::Error when it cannot write.
SidecarResult writeSidecar(const std::string& image_path, const std::string& text, bool overwrite);

// The same lines as CaptionLog, for a whole set at once, written atomically.
void writeCaptionsJsonl(const std::vector<CaptionRecord>& captions, const std::string& path);

// image,caption rows (RFC 4180 quoting) with a header, written atomically.
void writeCaptionsCsv(const std::vector<CaptionRecord>& captions, const std::string& path);

} // namespace vqa::library
