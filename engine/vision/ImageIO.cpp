#include "engine/vision/ImageIO.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "models/base/Error.h"
#include "engine/vision/GifDecoder.h"

namespace vqa {

namespace {

// Bounds-checked little/big-endian reads over the input bytes.
struct Bytes {
    const std::uint8_t* p;
    std::size_t n;
    bool has(std::size_t off, std::size_t len) const { return off <= n && len <= n - off; }
    std::uint32_t u16(std::size_t off, bool le) const {
        return le ? p[off] | (p[off + 1] << 8) : (p[off] << 8) | p[off + 1];
    }
    std::uint32_t u32(std::size_t off, bool le) const {
        return le ? std::uint32_t(p[off]) | (std::uint32_t(p[off + 1]) << 8) |
                        (std::uint32_t(p[off + 2]) << 16) | (std::uint32_t(p[off + 3]) << 24)
                  : (std::uint32_t(p[off]) << 24) | (std::uint32_t(p[off + 1]) << 16) |
                        (std::uint32_t(p[off + 2]) << 8) | std::uint32_t(p[off + 3]);
    }
    bool starts(std::size_t off, const char* s) const {
        std::size_t len = std::strlen(s);
        return has(off, len) && std::memcmp(p + off, s, len) == 0;
    }
};

// A TIFF structure (a TIFF file, or the payload of an EXIF block): the IFD0 values of
// width (256), height (257) and orientation (274) where present.
struct TiffTags {
    std::int64_t width = 0, height = 0;
    int orientation = 1;
};

bool parseTiff(const Bytes& b, TiffTags& out) {
    if (!b.has(0, 8))
        return false;
    bool le;
    if (b.starts(0, "II"))
        le = true;
    else if (b.starts(0, "MM"))
        le = false;
    else
        return false;
    if (b.u16(2, le) != 42)
        return false;
    std::size_t ifd = b.u32(4, le);
    if (!b.has(ifd, 2))
        return false;
    const std::uint32_t count = b.u16(ifd, le);
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::size_t e = ifd + 2 + 12 * std::size_t(i);
        if (!b.has(e, 12))
            return false;
        const auto tag = b.u16(e, le);
        const auto type = b.u16(e + 2, le);
        // SHORT (3) values sit in the first two bytes of the value field; LONG (4) fills it.
        const std::int64_t value = type == 3 ? b.u16(e + 8, le) : type == 4 ? b.u32(e + 8, le) : -1;
        if (value < 0)
            continue;
        if (tag == 256)
            out.width = value;
        else if (tag == 257)
            out.height = value;
        else if (tag == 274 && value >= 1 && value <= 8)
            out.orientation = static_cast<int>(value);
    }
    return true;
}

int exifOrientation(const std::uint8_t* p, std::size_t n) {
    TiffTags t;
    return parseTiff(Bytes{p, n}, t) ? t.orientation : 1;
}

struct HeaderScan {
    ImageHeader header;
    bool truncated = false; // the structure ends before its end marker
};

std::optional<HeaderScan> scanJpeg(const Bytes& b) {
    HeaderScan s;
    s.header.format = "jpeg";
    std::size_t pos = 2;
    bool sof = false;
    while (true) {
        if (!b.has(pos, 2))
            return std::nullopt;
        if (b.p[pos] != 0xFF)
            return std::nullopt;
        while (b.has(pos + 1, 1) && b.p[pos + 1] == 0xFF)
            ++pos; // fill bytes
        if (!b.has(pos, 2))
            return std::nullopt;
        const std::uint8_t m = b.p[pos + 1];
        pos += 2;
        if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7))
            continue;
        if (m == 0xD9)
            break;
        if (!b.has(pos, 2))
            return std::nullopt;
        const std::size_t len = b.u16(pos, false);
        if (len < 2)
            return std::nullopt;
        const std::size_t data = pos + 2;
        const bool whole = b.has(pos, len);
        const bool is_sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if (is_sof && b.has(data, 5)) {
            s.header.height = static_cast<int>(b.u16(data + 1, false));
            s.header.width = static_cast<int>(b.u16(data + 3, false));
            sof = true;
        } else if (m == 0xE1 && whole && len >= 8 && std::memcmp(b.p + data, "Exif\0\0", 6) == 0) {
            s.header.orientation = exifOrientation(b.p + data + 6, len - 2 - 6);
        }
        if (m == 0xDA) {
            // Entropy-coded data follows; a complete file has an EOI marker after it
            // (0xFF inside the data is always stuffed, so FF D9 can only be the marker).
            bool eoi = false;
            for (std::size_t i = b.n - 1; i > pos && !eoi; --i)
                eoi = b.p[i - 1] == 0xFF && b.p[i] == 0xD9;
            s.truncated = !eoi;
            break;
        }
        if (!whole) {
            s.truncated = true;
            break;
        }
        pos += len;
    }
    if (!sof && !s.truncated)
        return std::nullopt;
    return s;
}

std::optional<HeaderScan> scanPng(const Bytes& b) {
    HeaderScan s;
    s.header.format = "png";
    if (!b.has(8, 8 + 13) || !b.starts(12, "IHDR"))
        return std::nullopt;
    s.header.width = static_cast<int>(std::min<std::uint32_t>(b.u32(16, false), 0x7fffffff));
    s.header.height = static_cast<int>(std::min<std::uint32_t>(b.u32(20, false), 0x7fffffff));
    std::size_t pos = 8;
    bool iend = false;
    while (b.has(pos, 12)) {
        const std::size_t len = b.u32(pos, false);
        if (!b.has(pos + 8, len) || !b.has(pos + 8 + len, 4))
            break;
        if (b.starts(pos + 4, "IEND")) {
            iend = true;
            break;
        }
        if (b.starts(pos + 4, "eXIf"))
            s.header.orientation = exifOrientation(b.p + pos + 8, len);
        pos += 12 + len;
    }
    s.truncated = !iend;
    return s;
}

std::optional<HeaderScan> scanWebp(const Bytes& b) {
    HeaderScan s;
    s.header.format = "webp";
    if (!b.has(12, 8 + 10))
        return std::nullopt;
    const std::size_t d = 20;
    if (b.starts(12, "VP8 ") && b.p[d + 3] == 0x9d && b.p[d + 4] == 0x01 && b.p[d + 5] == 0x2a) {
        s.header.width = static_cast<int>(b.u16(d + 6, true) & 0x3fff);
        s.header.height = static_cast<int>(b.u16(d + 8, true) & 0x3fff);
    } else if (b.starts(12, "VP8L") && b.p[d] == 0x2f) {
        const auto bits = b.u32(d + 1, true);
        s.header.width = static_cast<int>((bits & 0x3fff) + 1);
        s.header.height = static_cast<int>(((bits >> 14) & 0x3fff) + 1);
    } else if (b.starts(12, "VP8X")) {
        s.header.width =
            static_cast<int>(1 + (b.p[d + 4] | (b.p[d + 5] << 8) | (b.p[d + 6] << 16)));
        s.header.height =
            static_cast<int>(1 + (b.p[d + 7] | (b.p[d + 8] << 8) | (b.p[d + 9] << 16)));
    } else {
        return std::nullopt;
    }
    return s;
}

std::optional<HeaderScan> scanPnm(const Bytes& b) {
    HeaderScan s;
    s.header.format = "pnm";
    std::size_t pos = 2;
    std::int64_t v[2] = {0, 0};
    for (auto& out : v) {
        while (b.has(pos, 1) && (std::isspace(b.p[pos]) || b.p[pos] == '#')) {
            if (b.p[pos] == '#')
                while (b.has(pos, 1) && b.p[pos] != '\n')
                    ++pos;
            else
                ++pos;
        }
        if (!b.has(pos, 1) || !std::isdigit(b.p[pos]))
            return std::nullopt;
        while (b.has(pos, 1) && std::isdigit(b.p[pos]) && out < (1ll << 40))
            out = out * 10 + (b.p[pos++] - '0');
    }
    s.header.width = static_cast<int>(std::min<std::int64_t>(v[0], 0x7fffffff));
    s.header.height = static_cast<int>(std::min<std::int64_t>(v[1], 0x7fffffff));
    return s;
}

// The format the bytes' signature names ("jpeg", "png", "gif", "bmp", "webp", "tiff",
// "pnm"), or "" for none we read. Anything unnamed never reaches OpenCV: cv::imdecode would
// try every decoder it was built with, and some of Debian's (DICOM through GDCM, which looks
// for "DICM" at byte 128 of any file) abort the process on malformed input.
std::string sniffFormat(const Bytes& b) {
    if (b.has(0, 3) && b.p[0] == 0xFF && b.p[1] == 0xD8 && b.p[2] == 0xFF)
        return "jpeg";
    if (b.starts(0, "\x89PNG\r\n\x1a\n"))
        return "png";
    if (b.starts(0, "GIF87a") || b.starts(0, "GIF89a"))
        return "gif";
    if (b.starts(0, "BM"))
        return "bmp";
    if (b.starts(0, "RIFF") && b.starts(8, "WEBP"))
        return "webp";
    if (b.has(0, 4) && (std::memcmp(b.p, "II*\0", 4) == 0 || std::memcmp(b.p, "MM\0*", 4) == 0))
        return "tiff";
    if (b.has(0, 2) && b.p[0] == 'P' && b.p[1] >= '1' && b.p[1] <= '6')
        return "pnm";
    return "";
}

std::optional<HeaderScan> scanHeader(const std::uint8_t* data, std::size_t size) {
    const Bytes b{data, size};
    const std::string format = sniffFormat(b);
    if (format == "jpeg")
        return scanJpeg(b);
    if (format == "png")
        return scanPng(b);
    if (format == "gif") {
        if (!b.has(6, 4))
            return std::nullopt;
        HeaderScan s;
        s.header = {"gif", static_cast<int>(b.u16(6, true)), static_cast<int>(b.u16(8, true)), 1};
        return s;
    }
    if (format == "bmp" && b.has(14, 12)) {
        HeaderScan s;
        s.header.format = "bmp";
        const auto dib = b.u32(14, true);
        if (dib == 12) {
            s.header.width = static_cast<int>(b.u16(18, true));
            s.header.height = static_cast<int>(b.u16(20, true));
        } else {
            const auto w = static_cast<std::int32_t>(b.u32(18, true));
            const auto h = static_cast<std::int32_t>(b.u32(22, true));
            s.header.width = w < 0 ? 0 : w;                     // negative width is invalid
            s.header.height = h == INT32_MIN ? 0 : std::abs(h); // negative: top-down rows
        }
        return s;
    }
    if (format == "webp")
        return scanWebp(b);
    if (format == "tiff") {
        TiffTags t;
        if (!parseTiff(b, t))
            return std::nullopt;
        HeaderScan s;
        s.header = {"tiff", static_cast<int>(std::min<std::int64_t>(t.width, 0x7fffffff)),
                    static_cast<int>(std::min<std::int64_t>(t.height, 0x7fffffff)), t.orientation};
        return s;
    }
    if (format == "pnm")
        return scanPnm(b);
    return std::nullopt;
}

std::string megapixels(std::int64_t pixels) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(pixels) / 1e6);
    return buf;
}

// To 8 bits per sample: 16-bit keeps the high byte, float is clamped to [0,1].
cv::Mat to8bit(const cv::Mat& in) {
    if (in.depth() == CV_8U)
        return in;
    cv::Mat out;
    switch (in.depth()) {
    case CV_16U: {
        out.create(in.size(), CV_MAKETYPE(CV_8U, in.channels()));
        for (int y = 0; y < in.rows; ++y) {
            const auto* s = in.ptr<std::uint16_t>(y);
            auto* d = out.ptr<std::uint8_t>(y);
            for (int x = 0; x < in.cols * in.channels(); ++x)
                d[x] = static_cast<std::uint8_t>(s[x] >> 8);
        }
        return out;
    }
    case CV_32F:
    case CV_64F:
        in.convertTo(out, CV_MAKETYPE(CV_8U, in.channels()), 255.0); // saturating
        return out;
    default:
        in.convertTo(out, CV_MAKETYPE(CV_8U, in.channels()));
        return out;
    }
}

// PIL's Image.alpha_composite of `c` with alpha `a` over opaque white, integer-exact.
inline std::uint8_t overWhite(std::uint32_t c, std::uint32_t a) {
    if (a == 0)
        return 255;
    constexpr std::uint32_t kBits = 7;
    const std::uint32_t blend = 255 * (255 - a);
    const std::uint32_t outa255 = a * 255 + blend;
    const std::uint32_t coef1 = a * 255 * 255 * (1u << kBits) / outa255;
    const std::uint32_t coef2 = 255 * (1u << kBits) - coef1;
    const std::uint32_t t = c * coef1 + 255 * coef2 + (0x80u << kBits);
    return static_cast<std::uint8_t>((((t >> 8) + t) >> 8) >> kBits);
}

// EXIF orientation to upright, as PIL.ImageOps.exif_transpose does.
cv::Mat applyOrientation(const cv::Mat& m, int orientation) {
    cv::Mat out;
    switch (orientation) {
    case 2:
        cv::flip(m, out, 1);
        return out;
    case 3:
        cv::rotate(m, out, cv::ROTATE_180);
        return out;
    case 4:
        cv::flip(m, out, 0);
        return out;
    case 5:
        cv::transpose(m, out);
        return out;
    case 6:
        cv::rotate(m, out, cv::ROTATE_90_CLOCKWISE);
        return out;
    case 7:
        cv::transpose(m, out);
        cv::flip(out, out, -1);
        return out;
    case 8:
        cv::rotate(m, out, cv::ROTATE_90_COUNTERCLOCKWISE);
        return out;
    default:
        return m;
    }
}

} // namespace

std::optional<ImageHeader> readImageHeader(const std::uint8_t* data, std::size_t size) {
    auto s = scanHeader(data, size);
    if (!s)
        return std::nullopt;
    return s->header;
}

RgbImage decodeImageBytes(const std::uint8_t* data, std::size_t size, const std::string& name,
                          const ImageDecodeOptions& options) {
    auto fail = [&](const std::string& what) { return Error(name + ": " + what); };
    if (size == 0)
        throw fail("the file is empty");
    const std::string limit = megapixels(options.max_pixels);

    auto scan = scanHeader(data, size);
    int orientation = 1;
    if (scan) {
        const auto& h = scan->header;
        if (scan->truncated)
            throw fail("the " + h.format +
                       " data ends early; the file is truncated or damaged (an interrupted "
                       "download or copy?)");
        if (h.width <= 0 || h.height <= 0)
            throw fail("the " + h.format + " header says the image is " + std::to_string(h.width) +
                       "x" + std::to_string(h.height) + " pixels; the file is damaged");
        const std::int64_t pixels = std::int64_t(h.width) * h.height;
        if (pixels > options.max_pixels)
            throw fail("the image is " + std::to_string(h.width) + "x" + std::to_string(h.height) +
                       " pixels (" + megapixels(pixels) + " megapixels), more than the limit of " +
                       limit + " megapixels; scale it down first");
        orientation = h.orientation;
        if (h.format == "gif")
            return decodeGifFirstFrame(data, size, name, options.max_pixels);
    }

    // Only bytes whose header we read (and checked against the pixel limit above) reach
    // OpenCV: its decoders size their buffers from headers they parse their own way (a
    // fuzzed PNM header we could not read had OpenCV allocate 6 GB).
    if (!scan) {
        const std::string format = sniffFormat(Bytes{data, size});
        if (format.empty())
            throw fail("is not an image in a format this build reads (PNG, JPEG, WebP, BMP, "
                       "TIFF, PNM, GIF)");
        throw fail("the " + format + " header cannot be read; the file is damaged");
    }
    cv::Mat raw;
    try {
        // IMREAD_UNCHANGED keeps alpha and bit depth; it also skips OpenCV's own EXIF
        // handling, which is why we apply the orientation ourselves below.
        const cv::Mat buf(1, static_cast<int>(std::min<std::size_t>(size, INT32_MAX)), CV_8U,
                          const_cast<std::uint8_t*>(data));
        raw = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
    } catch (const cv::Exception& e) {
        throw fail(std::string("could not be decoded (") + e.err + ")");
    }
    if (raw.empty()) {
        throw fail("the " + scan->header.format +
                   " data could not be decoded; the file is damaged or truncated");
    }
    if (std::int64_t(raw.cols) * raw.rows > options.max_pixels)
        throw fail("the image is " + std::to_string(raw.cols) + "x" + std::to_string(raw.rows) +
                   " pixels, more than the limit of " + limit + " megapixels; scale it down first");

    cv::Mat m = to8bit(raw);
    cv::Mat rgb(m.size(), CV_8UC3);
    switch (m.channels()) {
    case 1:
        cv::cvtColor(m, rgb, cv::COLOR_GRAY2RGB);
        break;
    case 3:
        cv::cvtColor(m, rgb, cv::COLOR_BGR2RGB);
        break;
    case 2:
    case 4:
        for (int y = 0; y < m.rows; ++y) {
            const auto* s = m.ptr<std::uint8_t>(y);
            auto* d = rgb.ptr<std::uint8_t>(y);
            for (int x = 0; x < m.cols; ++x) {
                if (m.channels() == 2) {
                    const auto g = overWhite(s[2 * x], s[2 * x + 1]);
                    d[3 * x] = d[3 * x + 1] = d[3 * x + 2] = g;
                } else { // BGRA
                    const std::uint32_t a = s[4 * x + 3];
                    d[3 * x + 0] = overWhite(s[4 * x + 2], a);
                    d[3 * x + 1] = overWhite(s[4 * x + 1], a);
                    d[3 * x + 2] = overWhite(s[4 * x + 0], a);
                }
            }
        }
        break;
    default:
        throw fail("has " + std::to_string(m.channels()) +
                   " channels; only gray, RGB and RGBA "
                   "images are supported");
    }
    if (options.apply_orientation)
        rgb = applyOrientation(rgb, orientation);
    if (!rgb.isContinuous())
        rgb = rgb.clone();

    RgbImage out;
    out.width = rgb.cols;
    out.height = rgb.rows;
    out.pixels.assign(rgb.data, rgb.data + rgb.total() * 3);
    return out;
}

RgbImage decodeImageFile(const std::string& path, const ImageDecodeOptions& options) {
    return decodeImageFile(path, path, options);
}

RgbImage decodeImageFile(const std::string& path, const std::string& name,
                         const ImageDecodeOptions& options) {
    std::error_code ec;
    const std::filesystem::path p(path);
    if (!std::filesystem::exists(p, ec))
        throw Error(name + ": the file does not exist");
    if (std::filesystem::is_directory(p, ec))
        throw Error(name + ": is a folder, not an image file");
    std::ifstream in(p, std::ios::binary);
    if (!in)
        throw Error(name + ": cannot be read (permission denied?)");
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                    std::istreambuf_iterator<char>());
    if (in.bad())
        throw Error(name + ": reading the file failed");
    return decodeImageBytes(bytes.data(), bytes.size(), name, options);
}

} // namespace vqa
