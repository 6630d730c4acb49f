#include "engine/explain/BarChart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <opencv2/imgproc.hpp>

#include "models/base/Error.h"

namespace vqa {

namespace {

std::string ascii(const std::string& text, std::size_t most) {
    std::string out;
    for (std::size_t i = 0; i < text.size() && out.size() < most; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x80) {  // one '?' per UTF-8 character
            while (i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80)
                ++i;
            out += '?';
        } else if (c >= 0x20) {
            out += static_cast<char>(c);
        }
    }
    return out;
}

}  // namespace

RgbImage renderWordBars(const std::vector<std::string>& labels, const std::vector<float>& values,
                        const std::string& title, const std::string& unit) {
    if (labels.size() != values.size())
        throw Error("a bar chart needs one value per label");
    constexpr int kWidth = 640, kLabel = 150, kRow = 20, kTop = 34, kBottom = 30, kMargin = 12;
    const int rows = static_cast<int>(labels.size());
    const int height = kTop + std::max(rows, 1) * kRow + kBottom;
    cv::Mat canvas(height, kWidth, CV_8UC3, cv::Scalar(255, 255, 255));
    const auto font = cv::FONT_HERSHEY_SIMPLEX;
    const cv::Scalar ink(40, 40, 40), grey(170, 170, 170);
    cv::putText(canvas, ascii(title, 80), {kMargin, 22}, font, 0.5, ink, 1, cv::LINE_AA);

    float most = 0;
    bool negative = false;
    for (float v : values) {
        if (std::isfinite(v)) {
            most = std::max(most, std::abs(v));
            negative = negative || v < 0;
        }
    }
    if (most <= 0)
        most = 1;
    // The zero line: at the left of the bars, or in their middle when some are negative.
    const int left = kLabel, right = kWidth - kMargin;
    const int zero = negative ? (left + right) / 2 : left;
    const double scale = (right - zero) / static_cast<double>(most);
    const cv::Scalar positive(230, 120, 30), below(40, 110, 200);  // orange, blue (the canvas is RGB)
    for (int r = 0; r < rows; ++r) {
        const int y = kTop + r * kRow;
        cv::putText(canvas, ascii(labels[static_cast<std::size_t>(r)], 18), {kMargin, y + 14}, font, 0.42, ink, 1,
                    cv::LINE_AA);
        const float v = values[static_cast<std::size_t>(r)];
        if (!std::isfinite(v))
            continue;
        const int length = static_cast<int>(std::lround(std::abs(v) * scale));
        const int x0 = v >= 0 ? zero : zero - length, x1 = v >= 0 ? zero + length : zero;
        if (x1 > x0)
            cv::rectangle(canvas, {x0, y + 3}, {x1, y + kRow - 4}, v >= 0 ? positive : below, cv::FILLED);
    }
    const int axis = kTop + rows * kRow + 2;
    cv::line(canvas, {zero, kTop - 2}, {zero, axis}, grey, 1);
    char scale_text[96];
    std::snprintf(scale_text, sizeof scale_text, "%s%.3g ... %.3g %s", negative ? "-" : "", negative ? most : 0.0f,
                  most, ascii(unit, 40).c_str());
    cv::putText(canvas, scale_text, {left, axis + 18}, font, 0.42, ink, 1, cv::LINE_AA);

    RgbImage out{kWidth, height, std::vector<std::uint8_t>(static_cast<std::size_t>(kWidth) * height * 3)};
    // Drawn with the colours as RGB triples: the canvas holds RGB, not OpenCV's BGR.
    std::copy(canvas.data, canvas.data + out.pixels.size(), out.pixels.begin());
    return out;
}

}  // namespace vqa
