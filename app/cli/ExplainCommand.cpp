// `vqa explain`: answer a question and show where the model looked, as heatmap PNGs per
// word and for the whole answer (with the boxes the answer names drawn over it), plus a JSON
// file with the tokens, their raw grids and the boxes. On request, what the answer depended
// on (explain/ImageReliance): each word's reliance on the image, the words an occluded
// rectangle changed, and an occlusion map.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <tuple>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "app/cli/BoxesJson.h"
#include "app/cli/Command.h"
#include "app/cli/QuestionFiles.h"
#include "engine/Engine.h"
#include "models/base/Error.h"
#include "app/cli/StopOnSignal.h"
#include "engine/explain/BarChart.h"
#include "engine/explain/Grounding.h"
#include "engine/explain/Heatmap.h"
#include "engine/explain/ImageReliance.h"
#include "engine/vision/VideoFile.h"

namespace vqa::cli {
namespace {

struct ExplainOptions {
    std::string model, question, out, colormap = "turbo", source = "combined";
    std::vector<std::string> files;  // images and videos, in the order the question shows them
    LoadFlags load;
    int max_new_tokens = 64;
    ImageOptions images;
    float opacity = 0.55f;
    float contour = 10.0f;
    std::string layers; // "A:B", inclusive, 0-based; empty: the default range
    int head = -1;
    bool head_max = false, relevancy = false, ignore_eos = false, rollout = false;
    std::string reliance;  // "", "mean" or "none"
    std::string occlude;   // "X,Y,W,H" in image pixels
    int occlusion_map = 0; // grid cells a side; 0: none
};

PixelRect parseRect(const std::string& text) {
    PixelRect r;
    char tail = 0;
    if (std::sscanf(text.c_str(), "%d,%d,%d,%d%c", &r.x, &r.y, &r.width, &r.height, &tail) != 4 || r.empty())
        throw Error("--occlude wants X,Y,WIDTH,HEIGHT in the image's pixels (width and height above 0), not \"" +
                    text + "\"");
    return r;
}

// Per word, the sum of its tokens' values (a word's log-probability is its tokens' sum).
std::vector<float> perWord(const std::vector<float>& tokens, const std::vector<std::pair<int, int>>& spans) {
    std::vector<float> words;
    for (auto [first, last] : spans) {
        double sum = 0;
        for (int t = first; t < last && t < static_cast<int>(tokens.size()); ++t)
            sum += tokens[static_cast<std::size_t>(t)];
        words.push_back(static_cast<float>(sum));
    }
    return words;
}

nlohmann::json scoresJson(const TokenScores& scores) {
    nlohmann::json tokens = nlohmann::json::array();
    const auto difference = scores.difference();
    for (std::size_t i = 0; i < difference.size(); ++i)
        tokens.push_back({{"index", i},
                          {"log_prob", scores.original[i]},
                          {"log_prob_changed", scores.changed[i]},
                          {"difference", difference[i]}});
    return tokens;
}

// "\r" progress on a terminal, nothing otherwise.
void sweepProgress(int done, int total) {
    if (isatty(fileno(stderr)))
        std::fprintf(stderr, "\rocclusion map: pass %d of %d", done, total);
}

// "A:B" -> {A, B}; a single "A" is the layer A alone.
std::pair<int, int> parseLayerRange(const std::string& text) {
    auto colon = text.find(':');
    try {
        if (colon == std::string::npos)
            return {std::stoi(text), std::stoi(text)};
        return {std::stoi(text.substr(0, colon)), std::stoi(text.substr(colon + 1))};
    } catch (const std::exception&) {
        throw Error("--layers wants FIRST:LAST (0-based, inclusive), not \"" + text + "\"");
    }
}

nlohmann::json pictureJson(const PictureRef& p) {
    if (p.video >= 0)
        return {{"video", p.video}, {"frame", p.frame}, {"time_s", p.time_s}};
    return {{"image", p.image}};
}

nlohmann::json gridsJson(const std::vector<HeatmapGrid>& grids) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& g : grids) {
        nlohmann::json grid{{"rows", g.rows},
                            {"cols", g.cols},
                            {"rect", {g.x, g.y, g.width, g.height}},
                            {"global_view", g.global_view},
                            {"values", g.values}};
        grid.update(pictureJson(pictureOf(g)));
        out.push_back(std::move(grid));
    }
    return out;
}

// A picture the answer's attention may lie on: an image of the question, or a frame of one of
// its videos that the model saw.
struct Picture {
    PictureRef ref;
    std::shared_ptr<const RgbImage> pixels;
};

// The picture with the largest share of `grids`' attention (the first when none has any).
const Picture& mostLookedAt(const std::vector<Picture>& pictures, const std::vector<HeatmapGrid>& grids) {
    const Picture* best = &pictures.front();
    double most = -1;
    for (const auto& share : pictureShares(grids))
        for (const auto& p : pictures)
            if (p.ref == share.picture && share.share > most) {
                most = share.share;
                best = &p;
            }
    return *best;
}

// A file name piece from a word: letters and digits only, short.
std::string slug(const std::string& word) {
    std::string s;
    for (unsigned char c : word)
        if (std::isalnum(c))
            s += static_cast<char>(std::tolower(c));
    return s.substr(0, 24);
}


int run(const ExplainOptions& o) {
    namespace fs = std::filesystem;
    try {
        HeatmapSource source = o.source == "tiles" ? HeatmapSource::Tiles
                               : o.source == "global" ? HeatmapSource::Global : HeatmapSource::Combined;
        RenderOptions render;
        render.colormap = colormapFromName(o.colormap);
        render.opacity = o.opacity;
        render.contour_top_percent = o.contour;

        const QuestionFiles files = QuestionFiles::read(o.files);
        Request request = files.request(o.question);
        const std::vector<std::string>& image_paths = files.image_paths;
        // What needs one image (the checks by hiding a part of it) takes the first.
        const std::shared_ptr<const RgbImage> image = request.images.empty() ? nullptr : request.images.front();
        if (!image && (!o.reliance.empty() || !o.occlude.empty() || o.occlusion_map > 0 || o.rollout))
            throw Error("--reliance, --occlude, --occlusion-map and --rollout need an image in the question");

        Engine engine;
        engine.load(o.model, o.load.options());
        request.image_options = o.images;
        request.generation.max_new_tokens = o.max_new_tokens;
        request.generation.ignore_eos = o.ignore_eos;
        request.explain.capture_attention = true;
        if (!o.layers.empty())
            std::tie(request.explain.layer_begin, request.explain.layer_end) = parseLayerRange(o.layers);
        request.explain.head = o.head;
        request.explain.head_max = o.head_max;

        using Clock = std::chrono::steady_clock;
        auto secondsSince = [](Clock::time_point t) {
            return std::chrono::duration<double>(Clock::now() - t).count();
        };
        nlohmann::json seconds;  // what each part took, kept in explain.json
        auto started = Clock::now();
        std::vector<std::string> texts;
        std::vector<std::int32_t> ids;
        std::vector<std::vector<HeatmapGrid>> grids;
        auto result = engine.generate(request, [&](const TokenEvent& e) {
            std::cout << e.text << std::flush;
            if (e.id < 0) {  // trailing text flushed at the end belongs to the last token
                if (!texts.empty())
                    texts.back() += e.text;
                return;
            }
            texts.push_back(e.text);
            ids.push_back(e.id);
            grids.push_back(e.attention);
        });
        std::cout << "\n";
        if (result.stop == StopReason::Error)
            throw Error(result.error);
        seconds["answer"] = secondsSince(started);

        fs::create_directories(o.out);
        std::ofstream(fs::path(o.out) / "answer.txt") << result.text << "\n";
        // The pictures: the images, then the frames of each video the model saw.
        std::vector<Picture> pictures;
        for (std::size_t i = 0; i < request.images.size(); ++i)
            pictures.push_back({{static_cast<int>(i), -1, -1, 0}, request.images[i]});
        nlohmann::json videos_json = nlohmann::json::array();
        for (const auto& v : result.video_frames) {
            const std::string& path = request.videos.at(static_cast<std::size_t>(v.video)).path;
            auto frames = VideoFile::open(path, path).frames(v.indices);
            for (std::size_t k = 0; k < frames.size(); ++k)
                pictures.push_back({{-1, v.video, static_cast<int>(k), v.times_s[k]},
                                    std::make_shared<const RgbImage>(std::move(frames[k]))});
            videos_json.push_back({{"path", path}, {"duration_s", v.duration_s}, {"frames", v.indices},
                                   {"times_s", v.times_s}});
        }
        if (pictures.empty())
            throw Error("the question holds no image or video to explain");
        auto picture = [&](const std::vector<HeatmapGrid>& g, const Picture& on) {
            // At the window's resolution, so its overlay and these PNGs are the same pixels.
            const RgbImage& pixels = *on.pixels;
            auto map = composeHeatmap(gridsOn(g, on.ref), pixels.width, pixels.height, source, kHeatmapMaxSide);
            return renderHeatmap(pixels, map, render);
        };
        // A word's map is drawn on the picture it looked at most.
        auto save = [&](const std::vector<HeatmapGrid>& g, const std::string& name) {
            const Picture& on = mostLookedAt(pictures, g);
            writePng(picture(g, on), (fs::path(o.out) / name).string());
            return pictureJson(on.ref);
        };
        nlohmann::json images_json = nlohmann::json::array();
        for (std::size_t i = 0; i < request.images.size(); ++i)
            images_json.push_back({{"path", image_paths[i]},
                                   {"width", request.images[i]->width},
                                   {"height", request.images[i]->height}});
        nlohmann::json doc{{"question", o.question},
                           {"answer", result.text},
                           {"images", images_json},
                           {"videos", videos_json},
                           {"reduction", describeReduction(request.explain)},
                           {"boxes", boxesJson(result.boxes, result.text)},
                           {"tokens", nlohmann::json::array()},
                           {"words", nlohmann::json::array()}};
        if (image)  // the first image, as explain.json has always named it
            doc["image"] = images_json.front();
        for (std::size_t i = 0; i < texts.size(); ++i)
            doc["tokens"].push_back({{"index", i}, {"id", ids[i]}, {"text", texts[i]}, {"grids", gridsJson(grids[i])}});
        int n = 0;
        for (auto [first, last] : wordSpans(texts)) {
            std::string word;
            for (int t = first; t < last; ++t)
                word += texts[t];
            char name[64];
            std::snprintf(name, sizeof name, "word-%03d-%s.png", n, slug(word).c_str());
            const auto word_grids = averageGrids(grids, first, last);
            nlohmann::json entry{{"text", word}, {"tokens", {first, last}}, {"png", name}};
            entry["on"] = save(word_grids, name);
            if (pictures.size() > 1) {  // how its attention divides among the pictures
                entry["pictures"] = nlohmann::json::array();
                for (const auto& share : pictureShares(word_grids)) {
                    auto p = pictureJson(share.picture);
                    p["share"] = share.share;
                    entry["pictures"].push_back(p);
                }
            }
            if (o.relevancy) {
                // Gradient-weighted relevancy of the word's first token (one forward and
                // backward pass each).
                auto relevancy = engine.relevancy(request, ids, first);
                std::snprintf(name, sizeof name, "relevancy-%03d-%s.png", n, slug(word).c_str());
                save(relevancy, name);
                entry["relevancy_png"] = name;
                entry["relevancy_grids"] = gridsJson(relevancy);
            }
            doc["words"].push_back(entry);
            ++n;
        }
        // The whole answer's map, with the boxes the answer names drawn over it (on the first
        // image; on the frame it looked at most when there is none); and a video's per frame.
        const auto answer_grids = averageGrids(grids, 0, static_cast<int>(grids.size()));
        if (!grids.empty() || !result.boxes.empty()) {
            const Picture& on = image ? pictures.front() : mostLookedAt(pictures, answer_grids);
            RgbImage answer = grids.empty() ? *on.pixels : picture(answer_grids, on);
            drawGroundingBoxes(answer, result.boxes);
            writePng(answer, (fs::path(o.out) / "answer.png").string());
        }
        for (const auto& p : pictures) {
            if (p.ref.video < 0 || grids.empty())
                continue;
            char name[64];
            std::snprintf(name, sizeof name, "video%d-frame%03d.png", p.ref.video, p.ref.frame);
            writePng(picture(answer_grids, p), (fs::path(o.out) / name).string());
            auto& v = doc["videos"][static_cast<std::size_t>(p.ref.video)];
            double share = 0;
            for (const auto& s : pictureShares(answer_grids))
                if (s.picture == p.ref)
                    share = s.share;
            v["frame_pngs"].push_back(name);
            v["answer_share"].push_back(share);
        }
        std::vector<std::string> words;
        for (const auto& w : doc["words"])
            words.push_back(w["text"].get<std::string>());
        const auto spans = wordSpans(texts);
        StopOnSignal stop_on_signal;  // Ctrl+C stops the passes below, keeping what is written
        auto stopped = [] { return Error("stopped before the explanations were complete"); };
        if (o.rollout) {
            // Each word's attention (and the whole answer's) carried through the vision tower's
            // attention rollout onto its patches: one tower pass per image for all of them.
            started = Clock::now();
            std::vector<std::pair<int, int>> ranges = spans;
            ranges.emplace_back(0, static_cast<int>(ids.size()));
            const auto maps = engine.rolloutGrids(request, ranges, request.explain);
            for (std::size_t w = 0; w < spans.size(); ++w) {
                char name[64];
                std::snprintf(name, sizeof name, "rollout-%03zu-%s.png", w, slug(words[w]).c_str());
                save(maps[w], name);
                doc["words"][w]["rollout_png"] = name;
            }
            save(maps.back(), "rollout-answer.png");
            doc["rollout"] = {{"method", "attention rollout through the vision tower (Abnar & Zuidema 2020: heads "
                                         "averaged, 0.5 A + 0.5 I, rows renormalised) applied to the answer's "
                                         "attention over the image tokens, " + describeReduction(request.explain)},
                              {"answer_png", "rollout-answer.png"}};
            seconds["rollout"] = secondsSince(started);
        }
        if (!o.reliance.empty()) {
            // Two teacher-forced passes over the answer: as asked, and with the image neutral.
            started = Clock::now();
            const ImageAblation ablation = o.reliance == "none" ? ImageAblation::NoImage : ImageAblation::MeanColour;
            const auto scores = imageReliance(engine, request, ids, ablation, &stopRequested());
            if (!scores)
                throw stopped();
            const auto word_values = perWord(scores->difference(), spans);
            doc["reliance"] = {{"method", std::string("log p(token | image) - log p(token | ") + ablationName(ablation) + ")"},
                               {"tokens", scoresJson(*scores)}};
            for (std::size_t w = 0; w < word_values.size(); ++w)
                doc["words"][w]["reliance"] = word_values[w];
            writePng(renderWordBars(words, word_values, "How much each word relied on the image (vs " +
                                                            std::string(ablationName(ablation)) + ")",
                                    "nats"),
                     (fs::path(o.out) / "reliance.png").string());
            seconds["reliance"] = secondsSince(started);
        }
        if (!o.occlude.empty()) {
            started = Clock::now();
            const PixelRect asked = parseRect(o.occlude), rect = clipRect(asked, image->width, image->height);
            const auto scores = occlusion(engine, request, ids, 0, asked, &stopRequested());
            if (!scores)
                throw stopped();
            const auto word_values = perWord(scores->difference(), spans);
            doc["occlusion"] = {{"rect", {rect.x, rect.y, rect.width, rect.height}},
                                {"fill", "grey " + std::to_string(kOcclusionGrey)},
                                {"tokens", scoresJson(*scores)}};
            for (std::size_t w = 0; w < word_values.size(); ++w)
                doc["words"][w]["occlusion_drop"] = word_values[w];
            writePng(renderWordBars(words, word_values, "How much hiding the rectangle lowered each word", "nats"),
                     (fs::path(o.out) / "occlusion.png").string());
            writePng(occludedImage(*image, rect), (fs::path(o.out) / "occluded-image.png").string());
            // The words that fell most, on the terminal.
            std::vector<std::size_t> order(word_values.size());
            for (std::size_t w = 0; w < order.size(); ++w)
                order[w] = w;
            std::sort(order.begin(), order.end(), [&](auto a, auto b) { return word_values[a] > word_values[b]; });
            std::cerr << "hiding " << rect.x << "," << rect.y << " " << rect.width << "x" << rect.height
                      << " lowered most:";
            for (std::size_t k = 0; k < std::min<std::size_t>(5, order.size()); ++k)
                std::cerr << " \"" << words[order[k]] << "\" (" << word_values[order[k]] << ")";
            std::cerr << "\n";
            seconds["occlusion"] = secondsSince(started);
        }
        if (o.occlusion_map > 0) {
            started = Clock::now();
            const auto map = occlusionSweep(engine, request, ids, 0, o.occlusion_map, 0, static_cast<int>(ids.size()),
                                            sweepProgress, &stopRequested());
            if (isatty(fileno(stderr)))
                std::fputs("\n", stderr);
            if (!map)
                throw stopped();
            nlohmann::json cells = nlohmann::json::array();
            for (const auto& c : map->cells)
                cells.push_back({c.x, c.y, c.width, c.height});
            doc["occlusion_map"] = {{"method", "fall in the answer's log-probability when each cell is greyed"},
                                    {"fill", "grey " + std::to_string(kOcclusionGrey)},
                                    {"rows", map->rows},
                                    {"cols", map->cols},
                                    {"answer_log_prob", map->original},
                                    {"cells", cells},
                                    {"drop", map->drop}};
            auto heat = composeHeatmap({occlusionGrid(*map, *image)}, image->width, image->height,
                                       HeatmapSource::Global, kHeatmapMaxSide);
            writePng(renderHeatmap(*image, heat, render), (fs::path(o.out) / "occlusion-map.png").string());
            seconds["occlusion_map"] = secondsSince(started);
        }
        doc["seconds"] = seconds;
        std::ofstream(fs::path(o.out) / "explain.json") << doc.dump(1) << "\n";
        std::cerr << "wrote " << n << " word heatmaps, answer.png and explain.json to " << o.out;
        if (!result.boxes.empty())
            std::cerr << " (" << result.boxes.size() << " boxes named, drawn in answer.png)";
        std::cerr << "\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "vqa: " << e.what() << "\n";
        return 1;
    }
}

void setupExplain(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<ExplainOptions>();
    auto* cmd = app.add_subcommand("explain", "Answer a question and write heatmaps of where the model looked");
    cmd->add_option("--model,-m", o->model, "Model folder")->required();
    const FilesThenQuestion positionals;
    positionals.add(cmd, "Image and video files, in the order the question shows them (a video's answer is mapped on "
                         "each frame the model saw: videoV-frameNNN.png)");
    cmd->add_option("--out,-o", o->out, "Folder for answer.txt, the PNGs and explain.json")->required();
    addLoadFlags(cmd, o->load);
    cmd->add_option("--max-new-tokens", o->max_new_tokens, "Most tokens to generate")->check(CLI::PositiveNumber);
    cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating past the end of the answer (for timing)");
    cmd->add_option("--max-image-tokens", o->images.max_image_tokens, kMaxImageTokensHelp)
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--colormap", o->colormap, "turbo, viridis, jet or gray");
    cmd->add_option("--source", o->source, "tiles, global or combined")
        ->check(CLI::IsMember({"tiles", "global", "combined"}));
    cmd->add_option("--opacity", o->opacity, "Heatmap opacity")->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--contour", o->contour, "Outline the hottest N% (0: off)")->check(CLI::Range(0.0, 100.0));
    cmd->add_option("--layers", o->layers, "Decoder layers to average, FIRST:LAST (default: the upper half)");
    cmd->add_option("--head", o->head, "One attention head (default: all heads)")->check(CLI::NonNegativeNumber);
    cmd->add_flag("--head-max", o->head_max, "Max over heads instead of the mean");
    cmd->add_flag("--relevancy", o->relevancy,
                  "Also write gradient-weighted relevancy maps per word (slower: autograd per word)");
    cmd->add_flag("--rollout", o->rollout,
                  "Also carry each word's attention through the vision tower's attention rollout onto its patches "
                  "(SmolVLM, LLaVA): rollout-NNN-word.png, rollout-answer.png");
    cmd->add_option("--reliance", o->reliance,
                    "Also score how much each word relied on the image: against the image made its mean colour "
                    "(mean) or the question without it (none); writes reliance.png")
        ->check(CLI::IsMember({"mean", "none"}));
    cmd->add_option("--occlude", o->occlude,
                    "Also score the answer with the rectangle X,Y,W,H (image pixels) greyed: which words fell; "
                    "writes occlusion.png and occluded-image.png");
    cmd->add_option("--occlusion-map", o->occlusion_map,
                    "Also grey each cell of an N x N grid in turn (N up to 16; N*N + 1 passes) and map how much the "
                    "answer fell: occlusion-map.png")
        ->check(CLI::Range(1, kMaxOcclusionGrid));
    cmd->callback([o, positionals, &exit_code] {
        exit_code = positionals.split(o->files, o->question) ? run(*o) : 2;
    });
}

VQA_CLI_COMMAND("explain", setupExplain);

}  // namespace
}  // namespace vqa::cli
