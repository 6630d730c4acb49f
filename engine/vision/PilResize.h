// Resizing that reproduces Pillow's Image.resize on 8-bit RGB images bit for bit: separable
// convolution with antialiasing when shrinking, weights rounded to 22-bit fixed point and an
// 8-bit intermediate, passes in Pillow 13's order, exactly like Pillow's Resample.c.
// The reference image processors resize with PIL; OpenCV's INTER_LANCZOS4 / INTER_AREA differ
// from it by several levels per pixel (fixed 8-tap kernel, no antialias), so we do our own.
#pragma once

#include <cstdint>

#include "engine/Types.h"

namespace vqa {

// Pillow's resampling filters, numbered as PIL.Image.Resampling (preprocessor configs store
// these numbers as "resample"). NEAREST (0) is not supported.
enum class PilFilter { Lanczos = 1, Bilinear = 2, Bicubic = 3, Box = 4, Hamming = 5 };

// Throws vqa::Error for an unsupported filter number or an empty size.
PilFilter pilFilterFromNumber(int resample);

RgbImage pilResize(const RgbImage& in, int width, int height, PilFilter filter);

} // namespace vqa
