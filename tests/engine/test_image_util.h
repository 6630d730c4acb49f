// Writes PNG files byte by byte (stored, uncompressed deflate), so tests can make any image
// they need (16-bit, alpha, EXIF, damaged) without an encoder library.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace vqa::test {

inline std::uint32_t crc32(const std::uint8_t* p, std::size_t n, std::uint32_t crc = 0) {
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k)
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    crc = ~crc;
    for (std::size_t i = 0; i < n; ++i)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

inline void putBe32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8)
        out.push_back(static_cast<std::uint8_t>(v >> s));
}

inline void pngChunk(std::vector<std::uint8_t>& out, const char* type,
                     const std::vector<std::uint8_t>& data) {
    putBe32(out, static_cast<std::uint32_t>(data.size()));
    std::vector<std::uint8_t> body(type, type + 4);
    body.insert(body.end(), data.begin(), data.end());
    out.insert(out.end(), body.begin(), body.end());
    putBe32(out, crc32(body.data(), body.size()));
}

// color_type: 0 gray, 2 RGB, 4 gray+alpha, 6 RGBA; samples row-major, big-endian when 16-bit.
// `exif`: the TIFF payload of an eXIf chunk, when not empty.
inline std::vector<std::uint8_t> makePng(int width, int height, int bit_depth, int color_type,
                                         const std::vector<std::uint8_t>& samples,
                                         const std::vector<std::uint8_t>& exif = {}) {
    const int channels = color_type == 0 ? 1 : color_type == 2 ? 3 : color_type == 4 ? 2 : 4;
    const std::size_t row = static_cast<std::size_t>(width) * channels * (bit_depth / 8);
    std::vector<std::uint8_t> raw;
    for (int y = 0; y < height; ++y) {
        raw.push_back(0); // filter: none
        raw.insert(raw.end(), samples.begin() + y * row, samples.begin() + (y + 1) * row);
    }
    std::vector<std::uint8_t> z = {0x78, 0x01};
    std::size_t pos = 0;
    do {
        const std::size_t n = std::min<std::size_t>(65535, raw.size() - pos);
        z.push_back(pos + n == raw.size() ? 1 : 0);
        z.push_back(n & 0xff);
        z.push_back(n >> 8);
        z.push_back(~n & 0xff);
        z.push_back((~n >> 8) & 0xff);
        z.insert(z.end(), raw.begin() + pos, raw.begin() + pos + n);
        pos += n;
    } while (pos < raw.size());
    std::uint32_t a = 1, b = 0;
    for (auto c : raw) {
        a = (a + c) % 65521;
        b = (b + a) % 65521;
    }
    putBe32(z, (b << 16) | a);

    std::vector<std::uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    std::vector<std::uint8_t> ihdr;
    putBe32(ihdr, width);
    putBe32(ihdr, height);
    ihdr.insert(ihdr.end(), {static_cast<std::uint8_t>(bit_depth),
                             static_cast<std::uint8_t>(color_type), 0, 0, 0});
    pngChunk(png, "IHDR", ihdr);
    if (!exif.empty())
        pngChunk(png, "eXIf", exif);
    pngChunk(png, "IDAT", z);
    pngChunk(png, "IEND", {});
    return png;
}

// The TIFF structure of an EXIF block holding only an orientation tag (little-endian).
inline std::vector<std::uint8_t> exifOrientation(int orientation) {
    return {'I',
            'I',
            42,
            0,
            8,
            0,
            0,
            0,
            1,
            0,
            0x12,
            0x01,
            3,
            0,
            1,
            0,
            0,
            0,
            static_cast<std::uint8_t>(orientation),
            0,
            0,
            0,
            0,
            0,
            0,
            0};
}

} // namespace vqa::test
