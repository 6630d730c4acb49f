// The interleaved layout (QuantFormat.h's Interleaved16): moving blocks between it and rows.
#include <cstring>

#include "models/base/Error.h"
#include "models/quant/QuantKernels.h"

namespace vqa::models {

namespace {

void requireFormat(QuantFormat format) {
    if (format == QuantFormat::None)
        throw Error("quantized weights need a format (q8_0, q4_0 or q4_1)");
}

}  // namespace

std::int64_t interleavedGroups(std::int64_t rows) {
    return (rows + kInterleaveRows - 1) / kInterleaveRows;
}

void interleaveGroup(QuantFormat format, const std::uint8_t* w, std::int64_t rows, std::int64_t k,
                     std::int64_t g, std::uint8_t* out) {
    requireFormat(format);
    const std::int64_t bytes = quantBlockBytes(format), header = quantHeaderBytes(format),
                       row_bytes = quantRowBytes(format, k), blocks = row_bytes / bytes;
    const std::uint32_t bias = format == QuantFormat::Q8_0 ? 0x80808080u : 0;
    for (std::int64_t i = 0; i < blocks; ++i) {
        std::uint8_t* t = out + i * kInterleaveRows * bytes;
        for (std::int64_t r = 0; r < kInterleaveRows; ++r) {
            const std::int64_t row = g * kInterleaveRows + r;
            std::uint8_t block[34] = {};  // a padding row: zero scales, codes that dequantize to 0
            if (row < rows)
                std::memcpy(block, w + row * row_bytes + i * bytes, bytes);
            for (std::int64_t f = 0; f < header; f += 2)
                std::memcpy(t + 16 * f + 2 * r, block + f, 2);
            for (std::int64_t c = 0; c < (bytes - header) / 4; ++c) {
                std::uint32_t v;
                std::memcpy(&v, block + header + 4 * c, 4);
                v ^= bias;
                std::memcpy(t + 16 * header + 64 * c + 4 * r, &v, 4);
            }
        }
    }
}

void deinterleaveRow(QuantFormat format, const std::uint8_t* w, std::int64_t k, std::int64_t r,
                     std::uint8_t* out) {
    requireFormat(format);
    const std::int64_t bytes = quantBlockBytes(format), header = quantHeaderBytes(format),
                       row_bytes = quantRowBytes(format, k), blocks = row_bytes / bytes;
    const std::uint32_t bias = format == QuantFormat::Q8_0 ? 0x80808080u : 0;
    const std::int64_t g = r / kInterleaveRows, in = r % kInterleaveRows;
    const std::uint8_t* t = w + g * kInterleaveRows * row_bytes;
    for (std::int64_t i = 0; i < blocks; ++i, t += kInterleaveRows * bytes, out += bytes) {
        for (std::int64_t f = 0; f < header; f += 2)
            std::memcpy(out + f, t + 16 * f + 2 * in, 2);
        for (std::int64_t c = 0; c < (bytes - header) / 4; ++c) {
            std::uint32_t v;
            std::memcpy(&v, t + 16 * header + 64 * c + 4 * in, 4);
            v ^= bias;
            std::memcpy(out + header + 4 * c, &v, 4);
        }
    }
}

}  // namespace vqa::models
