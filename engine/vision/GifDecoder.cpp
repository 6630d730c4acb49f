#include "engine/vision/GifDecoder.h"

#include <array>
#include <vector>

#include "models/base/Error.h"

namespace vqa {

namespace {

struct Reader {
    const std::uint8_t* p;
    std::size_t n;
    std::size_t pos = 0;
    const std::string& name;
    [[noreturn]] void truncated() const {
        throw Error(name + ": the gif data ends early; the file is truncated or damaged");
    }
    std::uint8_t u8() {
        if (pos >= n)
            truncated();
        return p[pos++];
    }
    int u16() {
        const int lo = u8();
        return lo | (u8() << 8);
    }
    void skip(std::size_t k) {
        if (k > n - pos)
            truncated();
        pos += k;
    }
    // Concatenated data sub-blocks up to the zero-length terminator.
    std::vector<std::uint8_t> subBlocks() {
        std::vector<std::uint8_t> out;
        for (std::uint8_t len = u8(); len != 0; len = u8()) {
            if (len > n - pos)
                truncated();
            out.insert(out.end(), p + pos, p + pos + len);
            pos += len;
        }
        return out;
    }
    void skipSubBlocks() {
        for (std::uint8_t len = u8(); len != 0; len = u8())
            skip(len);
    }
};

// Variable-length-code LZW as GIF uses it; fills `out` with up to out.size() indices and
// returns how many it produced.
std::size_t lzwDecode(const std::vector<std::uint8_t>& data, int min_code_size,
                      std::vector<std::uint8_t>& out) {
    const int clear = 1 << min_code_size;
    const int eoi = clear + 1;
    std::array<std::uint16_t, 4096> prefix{};
    std::array<std::uint8_t, 4096> suffix{}, first{};
    for (int i = 0; i < clear; ++i)
        suffix[i] = first[i] = static_cast<std::uint8_t>(i);
    std::array<std::uint8_t, 4097> stack{};

    int code_size = min_code_size + 1, next = clear + 2, prev = -1;
    std::size_t produced = 0, bitpos = 0;
    const std::size_t total_bits = data.size() * 8;
    auto emit = [&](int code) {
        int sp = 0;
        for (int c = code; c >= clear; c = prefix[c])
            stack[sp++] = suffix[c];
        stack[sp++] = static_cast<std::uint8_t>(code < clear ? code : first[code]);
        while (sp > 0 && produced < out.size())
            out[produced++] = stack[--sp];
    };
    while (produced < out.size() && bitpos + code_size <= total_bits) {
        int code = 0;
        for (int b = 0; b < code_size; ++b, ++bitpos)
            code |= ((data[bitpos >> 3] >> (bitpos & 7)) & 1) << b;
        if (code == clear) {
            code_size = min_code_size + 1;
            next = clear + 2;
            prev = -1;
            continue;
        }
        if (code == eoi)
            break;
        if (prev < 0) {
            if (code >= clear)
                break; // damaged: a string code before any string
            emit(code);
            prev = code;
            continue;
        }
        if (code > next || (code == next && next >= 4096))
            break; // damaged
        const std::uint8_t head = code < next ? first[code] : first[prev];
        if (code == next) {
            emit(prev);
            if (produced < out.size())
                out[produced++] = head;
        } else {
            emit(code);
        }
        if (next < 4096) {
            prefix[next] = static_cast<std::uint16_t>(prev);
            suffix[next] = head;
            first[next] = first[prev];
            ++next;
            if (next == (1 << code_size) && code_size < 12)
                ++code_size;
        }
        prev = code;
    }
    return produced;
}

} // namespace

RgbImage decodeGifFirstFrame(const std::uint8_t* data, std::size_t size, const std::string& name,
                             std::int64_t max_pixels) {
    Reader r{data, size, 0, name};
    r.skip(6); // GIF87a / GIF89a
    const int width = r.u16();
    const int height = r.u16();
    const std::uint8_t flags = r.u8();
    r.skip(2); // background index, aspect
    if (width <= 0 || height <= 0)
        throw Error(name + ": the gif header says the image is " + std::to_string(width) + "x" +
                    std::to_string(height) + " pixels; the file is damaged");
    if (std::int64_t(width) * height > max_pixels)
        throw Error(name + ": the image is " + std::to_string(width) + "x" +
                    std::to_string(height) + " pixels, more than the limit");

    std::vector<std::uint8_t> global;
    if (flags & 0x80) {
        const std::size_t entries = std::size_t(2) << (flags & 7);
        r.skip(entries * 3);
        global.assign(data + r.pos - entries * 3, data + r.pos);
    }
    int transparent = -1;
    while (true) {
        const std::uint8_t block = r.u8();
        if (block == 0x3B)
            throw Error(name + ": the gif file holds no image");
        if (block == 0x21) {
            const std::uint8_t label = r.u8();
            if (label == 0xF9) { // graphic control: transparency of the next image
                auto gce = r.subBlocks();
                if (gce.size() >= 4)
                    transparent = (gce[0] & 1) ? gce[3] : -1;
            } else {
                r.skipSubBlocks();
            }
            continue;
        }
        if (block != 0x2C)
            throw Error(name + ": the gif data is damaged (unknown block 0x" +
                        std::to_string(block) + ")");

        const int left = r.u16(), top = r.u16(), fw = r.u16(), fh = r.u16();
        const std::uint8_t iflags = r.u8();
        std::vector<std::uint8_t> palette = global;
        if (iflags & 0x80) {
            const std::size_t entries = std::size_t(2) << (iflags & 7);
            r.skip(entries * 3);
            palette.assign(data + r.pos - entries * 3, data + r.pos);
        }
        if (palette.empty()) // no colour table at all: grey levels, as Pillow assumes
            for (int i = 0; i < 256; ++i)
                palette.insert(palette.end(), 3, static_cast<std::uint8_t>(i));
        const int min_code = r.u8();
        if (min_code < 1 || min_code > 11)
            throw Error(name + ": the gif data is damaged (LZW code size " +
                        std::to_string(min_code) + ")");
        if (std::int64_t(fw) * fh > max_pixels)
            throw Error(name + ": the gif frame is too large");
        const auto lzw = r.subBlocks();
        std::vector<std::uint8_t> indices(static_cast<std::size_t>(fw) * fh);
        if (lzwDecode(lzw, min_code, indices) < indices.size())
            r.truncated();

        // The canvas starts as the transparent index where there is one (white after
        // compositing), else index 0, as Pillow fills the first frame's screen.
        const int fill = transparent >= 0 ? transparent : 0;
        std::vector<int> canvas(static_cast<std::size_t>(width) * height, fill);
        const bool interlaced = iflags & 0x40;
        std::vector<int> rows;
        if (interlaced) {
            const int passes[4][2] = {{0, 8}, {4, 8}, {2, 4}, {1, 2}}; // start, step
            for (const auto& pass : passes)
                for (int y = pass[0]; y < fh; y += pass[1])
                    rows.push_back(y);
        } else {
            for (int y = 0; y < fh; ++y)
                rows.push_back(y);
        }
        for (int i = 0; i < fh; ++i) {
            const int y = top + rows[i];
            if (y < 0 || y >= height)
                continue;
            for (int x = 0; x < fw; ++x) {
                const int cx = left + x;
                if (cx >= 0 && cx < width)
                    canvas[static_cast<std::size_t>(y) * width + cx] =
                        indices[static_cast<std::size_t>(i) * fw + x];
            }
        }
        RgbImage out;
        out.width = width;
        out.height = height;
        out.pixels.resize(static_cast<std::size_t>(width) * height * 3);
        const std::size_t colors = palette.size() / 3;
        for (std::size_t i = 0; i < canvas.size(); ++i) {
            const int idx = canvas[i];
            std::uint8_t* o = &out.pixels[i * 3];
            if (idx == transparent) {
                o[0] = o[1] = o[2] = 255; // composited on white, like other formats' alpha
            } else if (static_cast<std::size_t>(idx) >= colors) {
                o[0] = o[1] = o[2] = 0; // beyond a short palette: Pillow pads with black
            } else {
                o[0] = palette[idx * 3];
                o[1] = palette[idx * 3 + 1];
                o[2] = palette[idx * 3 + 2];
            }
        }
        return out;
    }
}

} // namespace vqa
