// The files a question is about, read once for every command that asks one (ask, chat,
// caption, explain, logits): images decoded now, so a broken one is named before the model
// loads; videos opened to check them (the engine reads the frames it samples itself).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/Types.h"

namespace vqa::cli {

struct QuestionFiles {
    std::vector<std::shared_ptr<const RgbImage>> images;
    std::vector<std::string> image_paths;
    std::vector<std::string> videos;
    std::vector<ContentPart::Kind> order;  // the files' kinds in the order given

    // Throws vqa::Error naming a file that cannot be read.
    static QuestionFiles read(const std::vector<std::string>& paths);

    // A request whose one user turn shows every file in order, then `text`. Each file's cache
    // key is its path plus `key_suffix` (a new suffix makes the engine prepare it anew).
    Request request(const std::string& text, const std::string& key_suffix = "") const;
};

}  // namespace vqa::cli
