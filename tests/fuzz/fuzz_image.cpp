// Image decoding (every format the engine reads, EXIF orientation, alpha, GIF's first
// frame) must end in an image or a vqa::Error, never a crash, a leak or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "models/base/Error.h"
#include "engine/vision/ImageIO.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    vqa::ImageDecodeOptions options;
    options.max_pixels = 4'000'000;  // damaged size fields must not make a run slow
    (void)vqa::readImageHeader(data, size);
    try {
        auto image = vqa::decodeImageBytes(data, size, "fuzz", options);
        if (image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 3 ||
            static_cast<std::int64_t>(image.width) * image.height > options.max_pixels)
            std::abort();  // a decoded image must be what it says it is, within the limit
    } catch (const vqa::Error&) {
    }
    return 0;
}
