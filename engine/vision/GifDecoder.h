// The first frame of a GIF (OpenCV 4.6 reads no GIF). Transparent pixels become white, as
// alpha does for other formats; the logical screen outside the frame is filled the way Pillow
// fills a first frame (the transparent index where there is one, else palette index 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/Types.h"

namespace vqa {

// Throws vqa::Error naming `name` for damaged or truncated data or too many pixels.
RgbImage decodeGifFirstFrame(const std::uint8_t* data, std::size_t size, const std::string& name,
                             std::int64_t max_pixels);

} // namespace vqa
