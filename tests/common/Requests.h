// Requests the engine tests ask: a question about one image file.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "engine/Engine.h"

namespace vqa::test {

// `question` about the image at `path`, known to the engine's caches as `key`, answered with
// `max_new_tokens` tokens: end of turn is ignored, since a random tiny model may end at once.
inline Request imageQuestion(const std::filesystem::path& path, const std::string& key, const std::string& question,
                             int max_new_tokens) {
    Request r;
    r.images.push_back(std::make_shared<const RgbImage>(loadImageFile(path.string())));
    r.image_keys.push_back(key);
    r.conversation.push_back(Turn{Role::User, {{ContentPart::Kind::Image, {}}, {ContentPart::Kind::Text, question}}});
    r.generation.max_new_tokens = max_new_tokens;
    r.generation.ignore_eos = true;
    return r;
}

}  // namespace vqa::test
