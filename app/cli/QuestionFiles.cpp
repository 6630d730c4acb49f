#include "app/cli/QuestionFiles.h"

#include "engine/Engine.h"
#include "engine/vision/VideoFile.h"

namespace vqa::cli {

QuestionFiles QuestionFiles::read(const std::vector<std::string>& paths) {
    QuestionFiles files;
    for (const auto& path : paths) {
        if (looksLikeVideoFile(path)) {
            VideoFile::open(path, path);  // says now what is wrong with it
            files.videos.push_back(path);
            files.order.push_back(ContentPart::Kind::Video);
        } else {
            files.images.push_back(std::make_shared<const RgbImage>(loadImageFile(path)));
            files.image_paths.push_back(path);
            files.order.push_back(ContentPart::Kind::Image);
        }
    }
    return files;
}

Request QuestionFiles::request(const std::string& text, const std::string& key_suffix) const {
    Request request;
    request.images = images;
    for (const auto& path : image_paths)
        request.image_keys.push_back(path + key_suffix);
    for (const auto& path : videos)
        request.videos.push_back({path, path + key_suffix});
    Turn turn{Role::User, {}};
    for (ContentPart::Kind kind : order)
        turn.content.push_back({kind, {}});
    turn.content.push_back({ContentPart::Kind::Text, text});
    request.conversation.push_back(std::move(turn));
    return request;
}

}  // namespace vqa::cli
