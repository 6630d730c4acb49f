// Did an answer come from the image, and from which part of it? Counterfactual checks of an
// answer already given: the same answer, teacher-forced (Engine::scoreAnswer), under another
// input, compared token by token. Attention shows where the model looked; these show what
// the answer depended on.
//  - Reliance: each token's log-probability with the image minus without it, "without" being
//    the image replaced by its mean colour (every pixel the image's mean: the prompt, its
//    image tokens and the tiling unchanged, the content gone) or the question asked with no
//    image at all. Near 0: the word came from the language prior; large: from the image.
//  - Occlusion: the same with a rectangle of one image greyed; and a sweep that greys each
//    cell of a grid in turn, an importance map (Zeiler & Fergus 2014) to set beside the
//    attention map: how much the answer's log-probability falls when that cell is hidden.
// One extra forward pass per variant, never one per word. Torch-free: the CLI and the window
// include it.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/Types.h"

namespace vqa {

class Engine;

enum class ImageAblation {
    MeanColour,  // each image replaced by its mean colour
    NoImage,     // the question asked without its images
};
const char* ablationName(ImageAblation ablation);  // "mean colour image", "no image"

struct PixelRect {
    int x = 0, y = 0, width = 0, height = 0;
    bool empty() const { return width <= 0 || height <= 0; }
};

// `rect` clipped to a width x height image (empty when it misses it).
PixelRect clipRect(PixelRect rect, int width, int height);

// Every pixel the image's mean colour (per channel, rounded half up).
RgbImage meanColourImage(const RgbImage& image);
// The grey occluders are filled with: mid grey, as in the occlusion literature.
constexpr std::uint8_t kOcclusionGrey = 128;
// `image` with `rect` (clipped to it) filled with kOcclusionGrey. Throws vqa::Error when the
// rectangle misses the image.
RgbImage occludedImage(const RgbImage& image, PixelRect rect);

// The request with its images made neutral or left out (`ablation`), or with one image's
// rectangle occluded: the prompt otherwise as given, the changed images under keys of their own.
Request ablatedRequest(const Request& request, ImageAblation ablation);
Request occludedRequest(const Request& request, int image, PixelRect rect);

// Log-probabilities of an answer's tokens as given and under a change.
struct TokenScores {
    std::vector<float> original;
    std::vector<float> changed;
    // original - changed per token: > 0 where the change made the token less likely, i.e.
    // where the answer relied on what the change took away.
    std::vector<float> difference() const;
};

// Each returns nullopt when `cancel` was set. Throw vqa::Error as Engine::scoreAnswer does,
// and for an image index or rectangle that does not fit the request.
std::optional<TokenScores> imageReliance(Engine& engine, const Request& request, const std::vector<std::int32_t>& answer,
                                         ImageAblation ablation, const std::atomic<bool>* cancel = nullptr);
std::optional<TokenScores> occlusion(Engine& engine, const Request& request, const std::vector<std::int32_t>& answer,
                                     int image, PixelRect rect, const std::atomic<bool>* cancel = nullptr);

// The importance of each cell of a grid over one image: how much the summed log-probability
// of answer tokens [first, last) falls when that cell alone is greyed.
struct OcclusionMap {
    int image = 0;
    int rows = 0, cols = 0;
    std::vector<PixelRect> cells;  // rows x cols, row-major, tiling the image
    std::vector<float> drop;       // per cell; < 0 where hiding it made the tokens more likely
    float original = 0;            // the tokens' summed log-probability with nothing hidden
};
constexpr int kMaxOcclusionGrid = 16;  // 256 passes: a sweep's cost is bounded, whatever the image
// A grid x grid sweep (1 <= grid <= kMaxOcclusionGrid, each cell at least one pixel).
// `progress(done, total)` after each pass. Nullopt when cancelled.
std::optional<OcclusionMap> occlusionSweep(Engine& engine, const Request& request,
                                           const std::vector<std::int32_t>& answer, int image, int grid,
                                           int first, int last, const std::function<void(int, int)>& progress = {},
                                           const std::atomic<bool>* cancel = nullptr);
// The map as a grid over the whole image, for composeHeatmap and renderHeatmap: each cell's
// drop, negative drops as 0.
HeatmapGrid occlusionGrid(const OcclusionMap& map, const RgbImage& image);

// One of the checks above, as the window asks the engine's thread for it.
struct CounterfactualCheck {
    enum class Kind { Reliance, Occlusion, OcclusionMap } kind = Kind::Reliance;
    ImageAblation ablation = ImageAblation::MeanColour;  // Reliance
    int image = 0;                                       // Occlusion, OcclusionMap
    PixelRect rect;                                      // Occlusion
    int grid = 8;                                        // OcclusionMap: cells a side
};
struct CounterfactualResult {
    CounterfactualCheck check;
    TokenScores scores;  // Reliance, Occlusion
    OcclusionMap map;    // OcclusionMap (over the whole answer)
};
// Runs `check`; nullopt when cancelled. `progress(done, total)` after each pass.
std::optional<CounterfactualResult> runCounterfactual(Engine& engine, const Request& request,
                                                      const std::vector<std::int32_t>& answer,
                                                      const CounterfactualCheck& check,
                                                      const std::function<void(int, int)>& progress = {},
                                                      const std::atomic<bool>* cancel = nullptr);

}  // namespace vqa
