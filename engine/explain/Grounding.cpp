#include "engine/explain/Grounding.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "engine/text/StreamingDetokenizer.h"
#include "engine/text/Tokenizer.h"
#include "engine/text/Utf8.h"

namespace vqa {
namespace {

constexpr std::string_view kRefStart = "<|object_ref_start|>";
constexpr std::string_view kRefEnd = "<|object_ref_end|>";
constexpr std::string_view kBoxStart = "<|box_start|>";
constexpr std::string_view kBoxEnd = "<|box_end|>";
// Qwen2-VL's boxes are on a 0-1000 scale of the image, whatever its size.
constexpr double kQwen2VlScale = 1000.0;
// One object naming one box is a few dozen bytes; longer ones (an object of lists of boxes)
// are looked into rather than parsed whole, which bounds the work on any text.
constexpr std::size_t kMaxObjectBytes = 4096;

// A box as the text writes it, before it is mapped onto the image.
struct Named {
    std::size_t begin = 0, end = 0; // bytes of the text
    std::string label;
    std::array<double, 4> c{}; // x1, y1, x2, y2 (a point: x, y, x, y)
    bool point = false;
    bool thousandths = false; // Qwen2-VL's 0-1000 scale; else the layout's box space
};

bool isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string trimmed(std::string_view s) {
    while (!s.empty() && isSpace(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && isSpace(s.back()))
        s.remove_suffix(1);
    return std::string(s);
}

// A number as JSON writes it, or as a string holding one ("12.5"); nothing else.
std::optional<double> coordinate(const nlohmann::json& v) {
    double d = 0;
    if (v.is_number()) {
        d = v.get<double>();
    } else if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        if (s.empty() || s.size() > 32)
            return std::nullopt;
        char* end = nullptr;
        d = std::strtod(s.c_str(), &end);
        if (end != s.c_str() + s.size())
            return std::nullopt;
    } else {
        return std::nullopt;
    }
    if (!std::isfinite(d))
        return std::nullopt;
    return d;
}

bool coordinates(const nlohmann::json& object, const char* key, std::size_t n, double* out) {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_array() || it->size() != n)
        return false;
    for (std::size_t i = 0; i < n; ++i) {
        const auto v = coordinate((*it)[i]);
        if (!v)
            return false;
        out[i] = *v;
    }
    return true;
}

// A box from one parsed JSON object: bbox_2d (or point_2d) and the label; other keys are
// ignored.
std::optional<Named> boxFromJson(const nlohmann::json& j) {
    if (!j.is_object())
        return std::nullopt;
    Named n;
    if (coordinates(j, "bbox_2d", 4, n.c.data())) {
    } else if (coordinates(j, "point_2d", 2, n.c.data())) {
        n.point = true;
        n.c[2] = n.c[0];
        n.c[3] = n.c[1];
    } else {
        return std::nullopt;
    }
    if (const auto it = j.find("label"); it != j.end()) {
        if (it->is_string())
            n.label = trimmed(it->get_ref<const std::string&>());
        else if (it->is_number())
            n.label = it->dump();
    }
    return n;
}

// JSON boxes. From each '{' outside an object already scanned, one string-aware pass finds
// the objects that close (an answer cut off mid-list still closes the objects before the
// cut); each is parsed with nlohmann::json (without exceptions), outermost first, and an
// object that is a box is taken whole, its insides not looked at again.
void scanJson(std::string_view text, std::vector<Named>& out) {
    std::size_t p = 0;
    std::vector<std::size_t> open;
    std::vector<std::pair<std::size_t, std::size_t>> objects;
    while ((p = text.find('{', p)) != std::string_view::npos) {
        open.clear();
        objects.clear();
        bool in_string = false, escaped = false;
        std::size_t q = p;
        for (; q < text.size(); ++q) {
            const char c = text[q];
            if (in_string) {
                if (escaped)
                    escaped = false;
                else if (c == '\\')
                    escaped = true;
                else if (c == '"')
                    in_string = false;
                continue;
            }
            if (c == '"') {
                in_string = true;
            } else if (c == '{') {
                open.push_back(q);
            } else if (c == '}') {
                objects.emplace_back(open.back(), q + 1);
                open.pop_back();
                if (open.empty())
                    break;
            }
        }
        std::sort(objects.begin(), objects.end());
        std::size_t taken_end = 0;
        for (const auto& [b, e] : objects) {
            if (b < taken_end || e - b > kMaxObjectBytes)
                continue;
            const std::string_view object = text.substr(b, e - b);
            if (object.find("_2d") == std::string_view::npos)
                continue;
            const auto j = nlohmann::json::parse(object, nullptr, /*allow_exceptions=*/false);
            if (j.is_discarded())
                continue;
            if (auto n = boxFromJson(j)) {
                n->begin = b;
                n->end = e;
                out.push_back(std::move(*n));
                taken_end = e;
            }
        }
        p = q < text.size() ? q + 1 : text.size();
    }
}

// The numbers of a box's text, "(x1,y1),(x2,y2)": each a run of digits with an optional sign
// and fraction; anything else between them separates them.
std::vector<double> numbersIn(std::string_view s) {
    std::vector<double> out;
    std::size_t i = 0;
    while (i < s.size()) {
        const bool sign =
            s[i] == '-' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]));
        if (!sign && !std::isdigit(static_cast<unsigned char>(s[i]))) {
            ++i;
            continue;
        }
        std::size_t j = i + (sign ? 1 : 0);
        while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.'))
            ++j;
        const std::string number(s.substr(i, std::min<std::size_t>(j - i, 32)));
        const double d = std::strtod(number.c_str(), nullptr);
        if (std::isfinite(d))
            out.push_back(d);
        i = j;
    }
    return out;
}

bool onlySpace(std::string_view s) {
    return std::all_of(s.begin(), s.end(), isSpace);
}

// Qwen2-VL's boxes. A box takes the label of the reference right before it (white space
// between at most), and so do the boxes that follow that one directly (one reference, several
// boxes); its text range runs from that reference to its own end. A reference or a box that
// never ends (the answer stopped inside it) gives nothing.
void scanBoxTokens(std::string_view text, std::vector<Named>& out) {
    std::string label;
    std::size_t label_begin = 0, after_label = std::string_view::npos;
    std::size_t p = 0;
    while (p < text.size()) {
        const std::size_t ref = text.find(kRefStart, p);
        const std::size_t box = text.find(kBoxStart, p);
        if (ref == std::string_view::npos && box == std::string_view::npos)
            return;
        if (ref < box) {
            const std::size_t content = ref + kRefStart.size();
            const std::size_t end = text.find(kRefEnd, content);
            if (end == std::string_view::npos)
                return;
            label = trimmed(text.substr(content, end - content));
            label_begin = ref;
            after_label = end + kRefEnd.size();
            p = after_label;
            continue;
        }
        const std::size_t content = box + kBoxStart.size();
        const std::size_t end = text.find(kBoxEnd, content);
        if (end == std::string_view::npos)
            return;
        const bool labelled = after_label != std::string_view::npos && after_label <= box &&
                              onlySpace(text.substr(after_label, box - after_label));
        const std::vector<double> numbers = numbersIn(text.substr(content, end - content));
        p = end + kBoxEnd.size();
        if (labelled)
            after_label = p; // a next box right after this one has the same reference
        else
            after_label = std::string_view::npos;
        if (numbers.empty() || numbers.size() % 4 != 0)
            continue;
        for (std::size_t k = 0; k + 3 < numbers.size(); k += 4) {
            Named n;
            n.begin = labelled ? label_begin : box;
            n.end = p;
            n.label = labelled ? utf8::toValid(label) : std::string();
            n.c = {numbers[k], numbers[k + 1], numbers[k + 2], numbers[k + 3]};
            n.thousandths = true;
            out.push_back(std::move(n));
        }
    }
}

int clampedInt(std::size_t v) {
    return static_cast<int>(std::min<std::size_t>(v, 0x7fffffff));
}

} // namespace

std::vector<GroundingBox> parseGroundingBoxes(std::string_view text, const ImageLayout& layout,
                                              int image) {
    std::vector<GroundingBox> boxes;
    const double width = layout.image_width, height = layout.image_height;
    if (width <= 0 || height <= 0)
        return boxes;
    std::vector<Named> named;
    if (layout.box_space_width > 0 && layout.box_space_height > 0)
        scanJson(text, named);
    scanBoxTokens(text, named);
    std::stable_sort(named.begin(), named.end(),
                     [](const Named& a, const Named& b) { return a.begin < b.begin; });
    for (const Named& n : named) {
        const double sx = width / (n.thousandths ? kQwen2VlScale : layout.box_space_width);
        const double sy = height / (n.thousandths ? kQwen2VlScale : layout.box_space_height);
        double x1 = n.c[0] * sx, y1 = n.c[1] * sy, x2 = n.c[2] * sx, y2 = n.c[3] * sy;
        if (!std::isfinite(x1) || !std::isfinite(y1) || !std::isfinite(x2) || !std::isfinite(y2))
            continue;
        if (x1 > x2)
            std::swap(x1, x2);
        if (y1 > y2)
            std::swap(y1, y2);
        GroundingBox b;
        b.image = image;
        b.label = n.label;
        b.point = n.point;
        b.clipped = x1 < 0 || y1 < 0 || x2 > width || y2 > height;
        b.x1 = std::clamp(x1, 0.0, width);
        b.y1 = std::clamp(y1, 0.0, height);
        b.x2 = std::clamp(x2, 0.0, width);
        b.y2 = std::clamp(y2, 0.0, height);
        b.text_begin = clampedInt(n.begin);
        b.text_end = clampedInt(n.end);
        boxes.push_back(std::move(b));
    }
    return boxes;
}

std::vector<GroundingBox> groundAnswer(const Tokenizer& tokenizer,
                                       const std::vector<std::int32_t>& answer_ids,
                                       const ImageLayout& layout, int image) {
    if (answer_ids.empty() || layout.image_width <= 0 || layout.image_height <= 0)
        return {};
    if ((layout.box_space_width <= 0 || layout.box_space_height <= 0) &&
        !tokenizer.tokenId(kBoxStart))
        return {};
    // Each token's byte range in the text with the special tokens (what the parser reads) and
    // in the text without them (what the user reads), decoded as the engine streams it.
    StreamingDetokenizer raw(tokenizer, /*skip_special_tokens=*/false);
    StreamingDetokenizer clean(tokenizer, /*skip_special_tokens=*/true);
    const std::size_t n = answer_ids.size();
    std::string raw_text, clean_text;
    std::vector<std::size_t> raw_end(n), clean_end(n);
    for (std::size_t i = 0; i < n; ++i) {
        raw_text += raw.push(answer_ids[i]);
        clean_text += clean.push(answer_ids[i]);
        raw_end[i] = raw_text.size();
        clean_end[i] = clean_text.size();
    }
    raw_text += raw.finish(); // held-back bytes belong to the last token, as in the engine
    clean_text += clean.finish();
    raw_end[n - 1] = raw_text.size();
    clean_end[n - 1] = clean_text.size();
    auto start = [](const std::vector<std::size_t>& ends, std::size_t i) {
        return i == 0 ? 0 : ends[i - 1];
    };

    std::vector<GroundingBox> boxes = parseGroundingBoxes(raw_text, layout, image);
    for (GroundingBox& b : boxes) {
        const auto begin = static_cast<std::size_t>(b.text_begin),
                   end = static_cast<std::size_t>(b.text_end);
        // The first token that holds a byte of the range, and the last.
        const std::size_t first =
            std::upper_bound(raw_end.begin(), raw_end.end(), begin) - raw_end.begin();
        std::size_t last = first;
        while (last + 1 < n && start(raw_end, last + 1) < end)
            ++last;
        const std::size_t f = std::min(first, n - 1), l = std::min(std::max(last, f), n - 1);
        b.token_begin = static_cast<int>(f);
        b.token_end = static_cast<int>(l + 1);
        b.text_begin = clampedInt(start(clean_end, f));
        b.text_end = clampedInt(clean_end[l]);
    }
    return boxes;
}

std::array<std::uint8_t, 3> groundingBoxColor(int index) {
    // Distinct, saturated colours that stand out on photos and documents alike.
    static constexpr std::array<std::array<std::uint8_t, 3>, 8> palette = {{{230, 25, 75},
                                                                            {60, 180, 75},
                                                                            {0, 130, 200},
                                                                            {245, 130, 48},
                                                                            {145, 30, 180},
                                                                            {70, 220, 220},
                                                                            {240, 50, 230},
                                                                            {255, 225, 25}}};
    const int n = static_cast<int>(palette.size());
    return palette[static_cast<std::size_t>(((index % n) + n) % n)];
}

std::array<std::uint8_t, 3> groundingCaptionColor(int index) {
    const auto c = groundingBoxColor(index);
    const double luma = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
    return luma > 150 ? std::array<std::uint8_t, 3>{0, 0, 0}
                      : std::array<std::uint8_t, 3>{255, 255, 255};
}

std::string groundingBoxCaption(const GroundingBox& box, int index) {
    if (!box.label.empty())
        return box.label;
    std::string caption = "box ";
    caption += std::to_string(index + 1);
    return caption;
}

void drawGroundingBoxes(RgbImage& image, const std::vector<GroundingBox>& boxes) {
    if (image.empty() || boxes.empty())
        return;
    cv::Mat canvas(image.height, image.width, CV_8UC3, image.pixels.data());
    const int side = std::max(image.width, image.height);
    const int thickness = std::max(2, static_cast<int>(std::lround(side / 320.0)));
    const double font_scale = std::max(0.4, side / 1200.0);
    const int font = cv::FONT_HERSHEY_SIMPLEX;
    const int font_thickness = std::max(1, thickness / 2);
    for (std::size_t i = 0; i < boxes.size(); ++i) {
        const GroundingBox& b = boxes[i];
        const int index = static_cast<int>(i);
        const auto rgb = groundingBoxColor(index);
        const auto text_rgb = groundingCaptionColor(index);
        const cv::Scalar color(rgb[0], rgb[1], rgb[2]),
            text_color(text_rgb[0], text_rgb[1], text_rgb[2]);
        const int x1 = static_cast<int>(std::floor(b.x1)), y1 = static_cast<int>(std::floor(b.y1));
        const int x2 = std::max(x1, static_cast<int>(std::ceil(b.x2)) - 1);
        const int y2 = std::max(y1, static_cast<int>(std::ceil(b.y2)) - 1);
        if (b.point) {
            const int r = 3 * thickness;
            cv::circle(canvas, {x1, y1}, r + thickness, cv::Scalar(255, 255, 255), cv::FILLED,
                       cv::LINE_AA);
            cv::circle(canvas, {x1, y1}, r, color, cv::FILLED, cv::LINE_AA);
        } else {
            cv::rectangle(canvas, {x1, y1}, {x2, y2}, color, thickness, cv::LINE_8);
        }
        const std::string label = groundingBoxCaption(b, index);
        char number[16];
        std::snprintf(number, sizeof number, "#%d", index + 1);
        const bool ascii =
            std::all_of(label.begin(), label.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
        const std::string caption = ascii ? label : std::string(number);
        int baseline = 0;
        const cv::Size size = cv::getTextSize(caption, font, font_scale, font_thickness, &baseline);
        const int pad = std::max(2, thickness);
        const int tag_h = size.height + baseline + 2 * pad, tag_w = size.width + 2 * pad;
        // Above the box where there is room, else inside it along its top edge.
        const int tag_y =
            y1 - tag_h >= 0 ? y1 - tag_h : std::min(y1, std::max(0, image.height - tag_h));
        const int tag_x = std::clamp(x1, 0, std::max(0, image.width - tag_w));
        cv::rectangle(canvas, cv::Rect(tag_x, tag_y, tag_w, tag_h), color, cv::FILLED);
        cv::putText(canvas, caption, {tag_x + pad, tag_y + pad + size.height}, font, font_scale,
                    text_color, font_thickness, cv::LINE_AA);
    }
}

} // namespace vqa
