#include "engine/families/FamilyRuntime.h"

#include "models/base/Error.h"

namespace vqa {

// A family without videos never gets here: the engine checks videoPlaceholder() first.
std::vector<std::int64_t> FamilyRuntime::videoFrameIndices(const VideoInfo&) const {
    throw Error("this model (" + family() + ") takes no videos");
}

PreparedImage FamilyRuntime::prepareVideo(const std::vector<RgbImage>&, const VideoInfo&,
                                          const std::vector<std::int64_t>&) const {
    throw Error("this model (" + family() + ") takes no videos");
}

}  // namespace vqa
