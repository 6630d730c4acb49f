#include "engine/vision/PilResize.h"

#include <cmath>
#include <string>
#include <vector>

#include <ATen/Parallel.h>

#include "models/base/Error.h"

namespace vqa {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2; // Pillow's fixed-point precision for 8-bit images

double sinc(double x) {
    if (x == 0.0)
        return 1.0;
    x *= M_PI;
    return std::sin(x) / x;
}

double filterValue(PilFilter f, double x) {
    switch (f) {
    case PilFilter::Box:
        return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
    case PilFilter::Bilinear:
        x = std::fabs(x);
        return x < 1.0 ? 1.0 - x : 0.0;
    case PilFilter::Hamming:
        x = std::fabs(x);
        if (x == 0.0)
            return 1.0;
        if (x >= 1.0)
            return 0.0;
        x *= M_PI;
        return std::sin(x) / x * (0.54f + 0.46f * std::cos(x)); // float literals as in Pillow
    case PilFilter::Bicubic: {
        constexpr double a = -0.5;
        x = std::fabs(x);
        if (x < 1.0)
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0)
            return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }
    case PilFilter::Lanczos:
        return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0;
    }
    return 0.0;
}

double filterSupport(PilFilter f) {
    switch (f) {
    case PilFilter::Box:
        return 0.5;
    case PilFilter::Bilinear:
        return 1.0;
    case PilFilter::Hamming:
        return 1.0;
    case PilFilter::Bicubic:
        return 2.0;
    case PilFilter::Lanczos:
        return 3.0;
    }
    return 1.0;
}

// For each output index: the first input index, the number of taps, and fixed-point weights.
struct Coeffs {
    int ksize = 0;
    std::vector<int> first, count;
    std::vector<std::int32_t> k; // out_size * ksize
};

Coeffs precompute(int in_size, int out_size, PilFilter filter) {
    Coeffs c;
    // Pillow computes the scale from a float box: (in1 - in0) with in0 = 0, in1 = in_size.
    double filterscale, scale;
    filterscale = scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
    if (filterscale < 1.0)
        filterscale = 1.0;
    const double support = filterSupport(filter) * filterscale;
    c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
    c.first.resize(out_size);
    c.count.resize(out_size);
    c.k.assign(static_cast<std::size_t>(out_size) * c.ksize, 0);
    std::vector<double> w(c.ksize);
    for (int xx = 0; xx < out_size; ++xx) {
        const double center = (xx + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        int xmin = static_cast<int>(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = static_cast<int>(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; ++x) {
            w[x] = filterValue(filter, (x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        for (int x = 0; x < xmax; ++x) {
            const double v = ww != 0.0 ? w[x] / ww : w[x];
            c.k[static_cast<std::size_t>(xx) * c.ksize + x] = static_cast<std::int32_t>(
                v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits));
        }
        c.first[xx] = xmin;
        c.count[xx] = xmax;
    }
    return c;
}

inline std::uint8_t clip8(std::int64_t v) {
    v >>= kPrecisionBits;
    return static_cast<std::uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// One horizontal pass: rows [row0, row0 + rows) of src (src_w wide) to out_w wide.
std::vector<std::uint8_t> horizontalPass(const std::uint8_t* src, int src_w, int row0, int rows,
                                         int out_w, const Coeffs& ch) {
    std::vector<std::uint8_t> out(static_cast<std::size_t>(rows) * out_w * 3);
    at::parallel_for(0, rows, 16, [&](std::int64_t begin, std::int64_t end) {
        for (auto r = begin; r < end; ++r) {
            const std::uint8_t* line = src + (static_cast<std::size_t>(r) + row0) * src_w * 3;
            std::uint8_t* o = out.data() + static_cast<std::size_t>(r) * out_w * 3;
            for (int xx = 0; xx < out_w; ++xx) {
                const std::int32_t* k = &ch.k[static_cast<std::size_t>(xx) * ch.ksize];
                const std::uint8_t* p = line + static_cast<std::size_t>(ch.first[xx]) * 3;
                std::int64_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < ch.count[xx]; ++x) {
                    s0 += p[3 * x] * static_cast<std::int64_t>(k[x]);
                    s1 += p[3 * x + 1] * static_cast<std::int64_t>(k[x]);
                    s2 += p[3 * x + 2] * static_cast<std::int64_t>(k[x]);
                }
                o[3 * xx] = clip8(s0);
                o[3 * xx + 1] = clip8(s1);
                o[3 * xx + 2] = clip8(s2);
            }
        }
    });
    return out;
}

// One vertical pass over src (w wide, its first row being input row row0) to out_h rows.
std::vector<std::uint8_t> verticalPass(const std::uint8_t* src, int w, int row0, int out_h,
                                       const Coeffs& cv) {
    std::vector<std::uint8_t> out(static_cast<std::size_t>(out_h) * w * 3);
    at::parallel_for(0, out_h, 16, [&](std::int64_t begin, std::int64_t end) {
        std::vector<std::int64_t> sums;
        for (auto yy = begin; yy < end; ++yy) {
            const std::int32_t* k = &cv.k[static_cast<std::size_t>(yy) * cv.ksize];
            const int y0 = cv.first[yy] - row0;
            sums.assign(static_cast<std::size_t>(w) * 3, std::int64_t(1) << (kPrecisionBits - 1));
            for (int y = 0; y < cv.count[yy]; ++y) {
                const std::uint8_t* row = src + (static_cast<std::size_t>(y0) + y) * w * 3;
                const std::int64_t wgt = k[y];
                for (std::size_t x = 0; x < sums.size(); ++x)
                    sums[x] += row[x] * wgt;
            }
            std::uint8_t* o = out.data() + static_cast<std::size_t>(yy) * w * 3;
            for (std::size_t x = 0; x < sums.size(); ++x)
                o[x] = clip8(sums[x]);
        }
    });
    return out;
}

} // namespace

PilFilter pilFilterFromNumber(int resample) {
    if (resample >= 1 && resample <= 5)
        return static_cast<PilFilter>(resample);
    throw Error("resample " + std::to_string(resample) +
                " is not supported; supported: 1 (lanczos), 2 (bilinear), 3 (bicubic), 4 (box), "
                "5 (hamming)");
}

RgbImage pilResize(const RgbImage& in, int width, int height, PilFilter filter) {
    if (in.empty() || width <= 0 || height <= 0)
        throw Error("cannot resize an image of " + std::to_string(in.width) + "x" +
                    std::to_string(in.height) + " pixels to " + std::to_string(width) + "x" +
                    std::to_string(height));
    if (width == in.width && height == in.height)
        return in; // Pillow returns a copy for the same size

    const bool need_h = width != in.width;
    const bool need_v = height != in.height;
    // Pillow 13 runs the vertical pass first when the height shrinks by more than twice as
    // many pixels as the width (Resample.c); earlier Pillows always went horizontal first.
    // The order changes the 8-bit intermediate, so we follow the reference's Pillow.
    const int dh = in.height - height, dw = in.width - width;
    const bool horizontal_first = !(dh > 0 && dh > dw * 2);

    RgbImage out;
    out.width = width;
    out.height = height;
    const Coeffs cv = precompute(in.height, height, filter);
    if (horizontal_first) {
        if (!need_h) {
            out.pixels = verticalPass(in.pixels.data(), in.width, 0, height, cv);
            return out;
        }
        const Coeffs ch = precompute(in.width, width, filter);
        // Only the input rows the vertical pass reads.
        const int y_first = cv.first[0];
        const int y_last = cv.first[height - 1] + cv.count[height - 1];
        auto tmp = horizontalPass(in.pixels.data(), in.width, y_first, y_last - y_first, width, ch);
        out.pixels = need_v ? verticalPass(tmp.data(), width, y_first, height, cv) : std::move(tmp);
        return out;
    }
    auto tmp = verticalPass(in.pixels.data(), in.width, 0, height, cv);
    if (!need_h) {
        out.pixels = std::move(tmp);
        return out;
    }
    const Coeffs ch = precompute(in.width, width, filter);
    out.pixels = horizontalPass(tmp.data(), in.width, 0, height, width, ch);
    return out;
}

} // namespace vqa
