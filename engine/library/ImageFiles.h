// Image files on disk, as the library's long runs take them (FolderCaptioner, the image index):
// which files of a folder are images, what identifies a file's version without reading it
// (size and modification time), and its bytes read whole under a size limit.
//
// Torch-free: the window and the CLI include it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/base/Error.h"

namespace vqa::library {

// The image files among `inputs` (files and folders; a folder's files, and with `recursive`
// those of its subfolders), chosen by extension, each once, sorted, as absolute paths.
// Throws vqa::Error naming an input that does not exist. Hidden files and folders are left out.
std::vector<std::string> listImageFiles(const std::vector<std::string>& inputs, bool recursive);

// Whether listImageFiles takes a file by its name (the extension, any case).
bool hasImageExtension(const std::string& path);

// What is wrong with one image's file: that image is skipped with the reason and a run goes
// on. Anything else (the library's database failing) ends the run.
struct FileProblem : Error {
    using Error::Error;
};

// A file's size and modification time: an unchanged pair means unchanged content, without
// reading it. Throws FileProblem when the file cannot be looked at.
struct FileStamp {
    std::int64_t size = 0;
    std::int64_t mtime_ns = 0;
};
FileStamp fileStamp(const std::string& path);

// The whole file. Throws FileProblem when it cannot be read or is larger than `limit` bytes.
std::string readFileBytes(const std::string& path, std::int64_t limit);

// "photo.jpg: <problem>", unless the problem names the file already (the decoder's do).
std::string fileMessage(const std::string& path, const std::string& problem);

} // namespace vqa::library
