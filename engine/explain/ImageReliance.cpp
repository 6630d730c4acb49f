#include "engine/explain/ImageReliance.h"

#include <algorithm>
#include <cmath>

#include "engine/Engine.h"
#include "models/base/Error.h"

namespace vqa {

const char* ablationName(ImageAblation ablation) {
    return ablation == ImageAblation::MeanColour ? "mean colour image" : "no image";
}

PixelRect clipRect(PixelRect r, int width, int height) {
    const long x0 = std::max<long>(r.x, 0), y0 = std::max<long>(r.y, 0);
    const long x1 = std::min<long>(static_cast<long>(r.x) + std::max(r.width, 0), width);
    const long y1 = std::min<long>(static_cast<long>(r.y) + std::max(r.height, 0), height);
    if (x1 <= x0 || y1 <= y0)
        return {};
    return {static_cast<int>(x0), static_cast<int>(y0), static_cast<int>(x1 - x0), static_cast<int>(y1 - y0)};
}

RgbImage meanColourImage(const RgbImage& image) {
    const std::size_t pixels = static_cast<std::size_t>(image.width) * image.height;
    if (image.empty() || image.pixels.size() != pixels * 3)
        throw Error("the image is empty or damaged");
    double sum[3] = {0, 0, 0};
    for (std::size_t i = 0; i < pixels; ++i)
        for (int c = 0; c < 3; ++c)
            sum[c] += image.pixels[i * 3 + c];
    std::uint8_t mean[3];
    for (int c = 0; c < 3; ++c)
        mean[c] = static_cast<std::uint8_t>(std::floor(sum[c] / static_cast<double>(pixels) + 0.5));
    RgbImage out{image.width, image.height, std::vector<std::uint8_t>(pixels * 3)};
    for (std::size_t i = 0; i < pixels; ++i)
        std::copy(mean, mean + 3, out.pixels.begin() + static_cast<std::ptrdiff_t>(i * 3));
    return out;
}

RgbImage occludedImage(const RgbImage& image, PixelRect rect) {
    const PixelRect r = clipRect(rect, image.width, image.height);
    if (r.empty())
        throw Error("the rectangle " + std::to_string(rect.x) + "," + std::to_string(rect.y) + " " +
                    std::to_string(rect.width) + "x" + std::to_string(rect.height) + " lies outside the " +
                    std::to_string(image.width) + "x" + std::to_string(image.height) + " image");
    RgbImage out = image;
    for (int y = r.y; y < r.y + r.height; ++y) {
        auto row = out.pixels.begin() + (static_cast<std::ptrdiff_t>(y) * image.width + r.x) * 3;
        std::fill(row, row + static_cast<std::ptrdiff_t>(r.width) * 3, kOcclusionGrey);
    }
    return out;
}

namespace {

const RgbImage& imageOf(const Request& request, int index) {
    if (index < 0 || index >= static_cast<int>(request.images.size()) || !request.images[index])
        throw Error("the conversation has no image " + std::to_string(index + 1));
    return *request.images[static_cast<std::size_t>(index)];
}

std::string rectText(PixelRect r) {
    return std::to_string(r.x) + "," + std::to_string(r.y) + "," + std::to_string(r.width) + "," +
           std::to_string(r.height);
}

// Both passes: the request as given, then changed.
std::optional<TokenScores> compare(Engine& engine, const Request& request, const Request& changed,
                                   const std::vector<std::int32_t>& answer, const std::atomic<bool>* cancel) {
    auto original = engine.scoreAnswer(request, answer, cancel);
    if (!original)
        return std::nullopt;
    auto other = engine.scoreAnswer(changed, answer, cancel);
    if (!other)
        return std::nullopt;
    return TokenScores{std::move(*original), std::move(*other)};
}

}  // namespace

Request ablatedRequest(const Request& request, ImageAblation ablation) {
    Request out = request;
    if (ablation == ImageAblation::NoImage) {
        out.images.clear();
        out.image_keys.clear();
        for (auto& turn : out.conversation)
            turn.content.erase(std::remove_if(turn.content.begin(), turn.content.end(),
                                              [](const ContentPart& p) { return p.kind == ContentPart::Kind::Image; }),
                               turn.content.end());
        return out;
    }
    for (std::size_t i = 0; i < out.images.size(); ++i) {
        out.images[i] = std::make_shared<const RgbImage>(meanColourImage(imageOf(request, static_cast<int>(i))));
        out.image_keys[i] = request.image_keys.at(i) + "#mean-colour";
    }
    return out;
}

Request occludedRequest(const Request& request, int image, PixelRect rect) {
    const RgbImage& original = imageOf(request, image);
    Request out = request;
    const PixelRect clipped = clipRect(rect, original.width, original.height);
    out.images[static_cast<std::size_t>(image)] = std::make_shared<const RgbImage>(occludedImage(original, rect));
    out.image_keys.at(static_cast<std::size_t>(image)) += "#occluded:" + rectText(clipped);
    return out;
}

std::vector<float> TokenScores::difference() const {
    std::vector<float> d(std::min(original.size(), changed.size()));
    for (std::size_t i = 0; i < d.size(); ++i)
        d[i] = original[i] - changed[i];
    return d;
}

std::optional<TokenScores> imageReliance(Engine& engine, const Request& request, const std::vector<std::int32_t>& answer,
                                         ImageAblation ablation, const std::atomic<bool>* cancel) {
    if (request.images.empty())
        throw Error("the conversation has no image to take away");
    return compare(engine, request, ablatedRequest(request, ablation), answer, cancel);
}

std::optional<TokenScores> occlusion(Engine& engine, const Request& request, const std::vector<std::int32_t>& answer,
                                     int image, PixelRect rect, const std::atomic<bool>* cancel) {
    return compare(engine, request, occludedRequest(request, image, rect), answer, cancel);
}

std::optional<OcclusionMap> occlusionSweep(Engine& engine, const Request& request,
                                           const std::vector<std::int32_t>& answer, int image, int grid, int first,
                                           int last, const std::function<void(int, int)>& progress,
                                           const std::atomic<bool>* cancel) {
    const RgbImage& original = imageOf(request, image);
    if (grid < 1 || grid > kMaxOcclusionGrid)
        throw Error("an occlusion grid is 1 to " + std::to_string(kMaxOcclusionGrid) + " cells a side (" +
                    std::to_string(kMaxOcclusionGrid * kMaxOcclusionGrid) + " passes at most), not " +
                    std::to_string(grid));
    if (grid > original.width || grid > original.height)
        throw Error("a " + std::to_string(grid) + "x" + std::to_string(grid) + " grid does not fit the " +
                    std::to_string(original.width) + "x" + std::to_string(original.height) + " image");
    const int n = static_cast<int>(answer.size());
    first = std::clamp(first, 0, n);
    last = std::clamp(last, first, n);
    if (first == last)
        throw Error("the occlusion sweep needs at least one answer token to score");
    auto summed = [&](const std::vector<float>& scores) {
        double s = 0;
        for (int t = first; t < last; ++t)
            s += scores[static_cast<std::size_t>(t)];
        return static_cast<float>(s);
    };
    OcclusionMap map;
    map.image = image;
    map.rows = map.cols = grid;
    const int total = grid * grid + 1;
    auto base = engine.scoreAnswer(request, answer, cancel);
    if (!base)
        return std::nullopt;
    map.original = summed(*base);
    if (progress)
        progress(1, total);
    for (int r = 0; r < grid; ++r) {
        for (int c = 0; c < grid; ++c) {
            // Cell edges at i * size / grid: the cells tile the image exactly.
            const int x0 = static_cast<int>(static_cast<long>(c) * original.width / grid);
            const int x1 = static_cast<int>(static_cast<long>(c + 1) * original.width / grid);
            const int y0 = static_cast<int>(static_cast<long>(r) * original.height / grid);
            const int y1 = static_cast<int>(static_cast<long>(r + 1) * original.height / grid);
            const PixelRect cell{x0, y0, x1 - x0, y1 - y0};
            auto scores = engine.scoreAnswer(occludedRequest(request, image, cell), answer, cancel);
            if (!scores)
                return std::nullopt;
            map.cells.push_back(cell);
            map.drop.push_back(map.original - summed(*scores));
            if (progress)
                progress(static_cast<int>(map.cells.size()) + 1, total);
        }
    }
    return map;
}

HeatmapGrid occlusionGrid(const OcclusionMap& map, const RgbImage& image) {
    HeatmapGrid g;
    g.rows = map.rows;
    g.cols = map.cols;
    g.x = 0;
    g.y = 0;
    g.width = image.width;
    g.height = image.height;
    g.global_view = true;
    for (float d : map.drop)
        g.values.push_back(std::max(d, 0.0f));
    return g;
}

std::optional<CounterfactualResult> runCounterfactual(Engine& engine, const Request& request,
                                                      const std::vector<std::int32_t>& answer,
                                                      const CounterfactualCheck& check,
                                                      const std::function<void(int, int)>& progress,
                                                      const std::atomic<bool>* cancel) {
    CounterfactualResult result;
    result.check = check;
    std::optional<TokenScores> scores;
    switch (check.kind) {
    case CounterfactualCheck::Kind::Reliance:
        scores = imageReliance(engine, request, answer, check.ablation, cancel);
        break;
    case CounterfactualCheck::Kind::Occlusion:
        scores = occlusion(engine, request, answer, check.image, check.rect, cancel);
        break;
    case CounterfactualCheck::Kind::OcclusionMap: {
        auto map = occlusionSweep(engine, request, answer, check.image, check.grid, 0, static_cast<int>(answer.size()),
                                  progress, cancel);
        if (!map)
            return std::nullopt;
        result.map = std::move(*map);
        return result;
    }
    }
    if (!scores)
        return std::nullopt;
    if (progress)
        progress(2, 2);
    result.scores = std::move(*scores);
    return result;
}

}  // namespace vqa
