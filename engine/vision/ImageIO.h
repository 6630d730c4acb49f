// Image files and bytes to 8-bit RGB (vqa::RgbImage), with OpenCV. Free of LibTorch, OpenCV and
// Qt in its interface, so the CLI and the window (ui/ImageLoader) decode with it alike.
//
// What decoding does, and why:
// - EXIF orientation (JPEG APP1, PNG eXIf, TIFF IFD0) is applied, as transformers' load_image
//   does (PIL.ImageOps.exif_transpose) and as image viewers show the picture. We read the tag
//   ourselves and decode with IMREAD_UNCHANGED, because OpenCV applies orientation only when
//   it may drop the alpha channel.
// - Alpha is composited onto white with PIL's integer arithmetic, as transformers' image
//   processors do (convert_to_rgb: alpha_composite over an opaque white background).
// - Grayscale is replicated to RGB; 16-bit samples keep their high byte (as libpng's
//   strip-16 and PIL's 16-bit RGB do); float images are clamped to [0,1] and scaled.
// - The pixel count is checked from the file header BEFORE decoding (PNG, JPEG, BMP, WebP,
//   TIFF, PNM), so a small file declaring a huge image is refused without allocating it.
//   Formats whose header we do not read fall back to OpenCV's own limit and a check after.
// - GIF: OpenCV 4.6 reads none, so engine/vision/GifDecoder decodes the first frame of
//   animated and still GIFs (transparent pixels white).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "engine/Types.h"

namespace vqa {

struct ImageDecodeOptions {
    // Largest width*height accepted (default 100 megapixels).
    std::int64_t max_pixels = 100'000'000;
    // Apply the EXIF orientation tag.
    bool apply_orientation = true;
};

// What the header says, without decoding the pixels.
struct ImageHeader {
    std::string format; // "png", "jpeg", "bmp", "webp", "tiff", "pnm", "gif"
    int width = 0;      // as stored, before orientation
    int height = 0;
    int orientation = 1; // EXIF orientation 1..8 (1: as stored)
};

// Throws vqa::Error naming `path` and the problem (missing, empty, truncated, not an image,
// unsupported format, too many pixels).
RgbImage decodeImageFile(const std::string& path, const ImageDecodeOptions& options = {});
// The same, naming the file `name` in messages (the window says "photo.jpg: ...", not the
// whole path).
RgbImage decodeImageFile(const std::string& path, const std::string& name,
                         const ImageDecodeOptions& options = {});

// `name` is used in messages (a file name, "clipboard image", ...).
RgbImage decodeImageBytes(const std::uint8_t* data, std::size_t size, const std::string& name,
                          const ImageDecodeOptions& options = {});

// The format, size and orientation from the first bytes; nullopt when the format is not one
// we parse or the header is damaged.
std::optional<ImageHeader> readImageHeader(const std::uint8_t* data, std::size_t size);

} // namespace vqa
