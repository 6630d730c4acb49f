// `vqa embed --model DIR [IMAGE...] [--text TEXT...] [--batch N] [--json]`: the vectors a dual
// encoder (CLIP, SigLIP) gives images and texts, one JSON line each, for use elsewhere; the
// time spent on them (decoding, preprocessing and the towers, not the model's load) goes to
// stderr, or into the summary line with --timing-only (what tests/bench/dual_throughput.py reads).
#include <chrono>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "app/cli/Command.h"
#include "engine/retrieval/DualEncoder.h"
#include "engine/vision/ImageIO.h"

namespace vqa::cli {
namespace {

struct EmbedOptions {
    std::string model;
    std::vector<std::string> images;
    std::vector<std::string> texts;
    int batch = 8;
    int threads = 0;
    bool timing_only = false;
};

int runEmbed(const EmbedOptions& o) {
    if (o.images.empty() && o.texts.empty())
        throw Error("give images, or texts with --text, to embed");
    auto encoder = retrieval::DualEncoder::load(o.model, o.threads);
    const int d = encoder->dim();
    auto print = [&](const std::string& key, const std::string& what, const float* v) {
        if (o.timing_only)
            return;
        std::cout << nlohmann::json{{key, what}, {"vector", std::vector<float>(v, v + d)}}.dump() << "\n";
    };
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    for (std::size_t first = 0; first < o.images.size(); first += static_cast<std::size_t>(o.batch)) {
        std::vector<RgbImage> batch;
        const std::size_t end = std::min(o.images.size(), first + static_cast<std::size_t>(o.batch));
        for (std::size_t i = first; i < end; ++i)
            batch.push_back(decodeImageFile(o.images[i]));
        const auto vectors = encoder->embedImages(batch);
        for (std::size_t i = first; i < end; ++i)
            print("image", o.images[i], vectors.data() + (i - first) * d);
    }
    const double image_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const auto text_start = Clock::now();
    const auto vectors = encoder->embedTexts(o.texts);
    for (std::size_t i = 0; i < o.texts.size(); ++i)
        print("text", o.texts[i], vectors.data() + i * d);
    const double text_seconds = std::chrono::duration<double>(Clock::now() - text_start).count();
    nlohmann::json summary{{"model", encoder->modelId()}, {"dim", d},
                           {"images", o.images.size()}, {"image_seconds", image_seconds},
                           {"texts", o.texts.size()}, {"text_seconds", text_seconds}};
    if (o.timing_only)
        std::cout << summary.dump() << "\n";
    else
        std::cerr << "vqa: " << summary.dump() << "\n";
    return 0;
}

void setupEmbed(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<EmbedOptions>();
    auto* cmd = app.add_subcommand("embed", "Vectors of images and texts from a CLIP or SigLIP model, as JSON lines");
    cmd->add_option("--model", o->model, "The dual encoder's folder (CLIP or SigLIP)")->required();
    cmd->add_option("images", o->images, "Image files");
    cmd->add_option("--text", o->texts, "Texts to embed (repeat the option or give several)");
    cmd->add_option("--batch", o->batch, "Images run through the image tower together")->check(CLI::Range(1, 256));
    cmd->add_option("--threads", o->threads, "CPU threads (0: all)")->check(CLI::NonNegativeNumber);
    cmd->add_flag("--timing-only", o->timing_only, "Print only the summary with the time taken, as JSON");
    cmd->callback([o, &exit_code] { guarded(exit_code, [&] { return runEmbed(*o); }); });
}

VQA_CLI_COMMAND("embed", setupEmbed);

}  // namespace
}  // namespace vqa::cli
