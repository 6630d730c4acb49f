#include "engine/retrieval/DualEncoder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "engine/families/llava/ClipImageProcessor.h"
#include "engine/hub/Checksum.h"
#include "engine/io/Checkpoint.h"
#include "engine/io/ModelFolder.h"
#include "engine/retrieval/DualEncoderConfig.h"
#include "engine/text/Tokenizer.h"
#include "engine/text/Utf8.h"
#include "models/ClipDual.h"
#include "models/SiglipDual.h"
#include "models/base/Error.h"

namespace vqa::retrieval {

namespace fs = std::filesystem;

struct DualEncoder::Impl {
    std::string folder;
    std::string family;
    std::string model_id;
    models::DualEncoderConfig config;
    std::unique_ptr<Tokenizer> tokenizer;
    std::unique_ptr<ClipImageProcessor> processor;
    std::shared_ptr<Checkpoint> checkpoint;
    std::unique_ptr<models::DualEncoderModel> model;
    TokenId pad_id = 0;
    // Special tokens the tokenizer puts after a text (CLIP's and SigLIP's end token: 1; a
    // Gemma-style tokenizer: 0); truncation keeps them.
    std::size_t suffix_specials = 0;
    // SigLIP 2 (a SigLIP network with Gemma's tokenizer) was trained on lower-cased texts, which
    // its tokenizer does not lower-case; its model card asks the caller to (Python's str.lower()).
    bool lower_case = false;

    std::vector<TokenId> ids(const std::string& text) const;
    static std::vector<float> normalizedRows(const torch::Tensor& features);
};

namespace {

// What identifies the vectors a folder's model makes, cheaply: its config and processor
// settings, and each weight file's size with its first and last MiB (the header and the data
// at both ends), so that other weights under the same name give another id.
// SigLIP 2's checkpoints (google/siglip2-*-patch16-224 and the other fixed-resolution ones)
// are SigLIP networks whose tokenizer_config.json names Gemma's tokenizer; their conversion
// wrote do_lower_case true, which transformers' GemmaTokenizer does not apply. Absent, the
// texts are lower-cased all the same (the model was trained so); false turns it off.
bool lowerCasesTexts(const std::string& folder) {
    const auto path = fs::path(folder) / "tokenizer_config.json";
    if (!fs::exists(path))
        return false;
    nlohmann::json config;
    try {
        config = nlohmann::json::parse(std::ifstream(path));
    } catch (const nlohmann::json::exception&) {
        return false;  // the tokenizer's loader has said what is wrong with it already
    }
    if (!config.is_object() || !config.contains("tokenizer_class") || !config["tokenizer_class"].is_string())
        return false;
    const auto cls = config["tokenizer_class"].get<std::string>();
    if (cls != "GemmaTokenizer" && cls != "GemmaTokenizerFast")
        return false;
    const auto it = config.find("do_lower_case");
    return it == config.end() || !it->is_boolean() || it->get<bool>();
}

std::string fingerprint(const std::string& folder, const Checkpoint& checkpoint) {
    std::string bytes;
    auto add_file = [&](const fs::path& path, bool whole) {
        std::ifstream in(path, std::ios::binary);
        if (!in)
            return;
        const auto size = fs::file_size(path);
        bytes += path.filename().string() + ":" + std::to_string(size) + ";";
        constexpr std::uintmax_t kEdge = 1u << 20;
        auto read = [&](std::uintmax_t from, std::uintmax_t count) {
            std::string chunk(count, '\0');
            in.seekg(static_cast<std::streamoff>(from));
            in.read(chunk.data(), static_cast<std::streamsize>(count));
            bytes += chunk.substr(0, static_cast<std::size_t>(in.gcount()));
            in.clear();
        };
        if (whole || size <= 2 * kEdge) {
            read(0, size);
        } else {
            read(0, kEdge);
            read(size - kEdge, kEdge);
        }
    };
    for (const char* name : {"config.json", "preprocessor_config.json", "processor_config.json"})
        add_file(fs::path(folder) / name, true);
    for (const auto& file : checkpoint.files())
        add_file(file, false);
    return hub::sha256Bytes(bytes.data(), bytes.size()).substr(0, 16);
}

} // namespace

std::vector<TokenId> DualEncoder::Impl::ids(const std::string& text) const {
    const int max_len = config.text.max_position_embeddings;
    std::vector<TokenId> out = tokenizer->encode(lower_case ? utf8::lowercase(text) : text, /*add_special_tokens=*/true);
    if (out.empty())
        throw Error(folder + ": the tokenizer gives no tokens for the text; the text tower needs at least one");
    // Truncation as the reference tokenizer's truncation=True does it: the text is cut, the
    // special tokens it adds stay (the end-of-text token last).
    if (static_cast<int>(out.size()) > max_len) {
        const std::vector<TokenId> suffix(out.end() - static_cast<std::ptrdiff_t>(suffix_specials), out.end());
        out.resize(static_cast<std::size_t>(max_len) - suffix.size());
        out.insert(out.end(), suffix.begin(), suffix.end());
    }
    // SigLIP was trained on texts padded to max_length; it pools at the last position.
    if (config.family == models::DualEncoderConfig::Family::Siglip)
        out.resize(static_cast<std::size_t>(max_len), pad_id);
    return out;
}

std::vector<float> DualEncoder::Impl::normalizedRows(const torch::Tensor& features) {
    auto f = features.to(torch::kFloat32);
    f = f / f.norm(2, -1, true);
    f = f.contiguous();
    return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
}

DualEncoder::DualEncoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DualEncoder::~DualEncoder() = default;

std::unique_ptr<DualEncoder> DualEncoder::load(const std::string& folder, int threads) {
    if (threads > 0)
        torch::set_num_threads(threads);
    auto impl = std::make_unique<Impl>();
    impl->folder = folder;
    ModelFolder model_folder(folder);
    impl->config = parseDualEncoderConfig(model_folder.config(), model_folder.configPath());
    const bool siglip = impl->config.family == models::DualEncoderConfig::Family::Siglip;
    impl->family = siglip ? "siglip" : "clip";
    impl->processor = std::make_unique<ClipImageProcessor>(siglip ? ClipProcessorConfig::loadSiglip(folder)
                                                                  : ClipProcessorConfig::loadClip(folder));
    const auto& p = impl->processor->config();
    const int side = impl->config.vision.image_size;
    const int out_h = p.do_center_crop ? p.crop_height : (p.shortest_edge ? -1 : p.resize_height);
    const int out_w = p.do_center_crop ? p.crop_width : (p.shortest_edge ? -1 : p.resize_width);
    if (out_h != side || out_w != side)
        throw Error(folder + ": the image processor makes images that are not the vision tower's " + std::to_string(side) +
                    " x " + std::to_string(side) + " pixels");
    impl->tokenizer = loadTokenizer(folder);
    {
        const auto probe = impl->tokenizer->encode("x", true);
        for (auto it = probe.rbegin(); it != probe.rend() && impl->tokenizer->isSpecial(*it); ++it)
            ++impl->suffix_specials;
        if (impl->suffix_specials >= static_cast<std::size_t>(impl->config.text.max_position_embeddings))
            throw Error(folder + ": the tokenizer adds more special tokens than the text tower reads");
    }
    impl->lower_case = siglip && lowerCasesTexts(folder);
    const auto& special = impl->tokenizer->specialTokens();
    if (siglip) {
        if (!special.pad)
            throw Error(folder + ": the tokenizer names no padding token; SigLIP pads its texts");
        impl->pad_id = *special.pad;
    }
    impl->checkpoint = model_folder.checkpoint();
    impl->model_id = impl->family + "-" + fingerprint(folder, *impl->checkpoint);
    {
        torch::NoGradGuard no_grad;
        models::WeightLoader weights(*impl->checkpoint, torch::kCPU, torch::kFloat32);
        try {
            if (siglip)
                impl->model = std::make_unique<models::SiglipDual>(impl->config, weights);
            else
                impl->model = std::make_unique<models::ClipDual>(impl->config, weights);
        } catch (const Error& e) {
            throw Error(folder + ": " + e.what());
        }
    }
    return std::unique_ptr<DualEncoder>(new DualEncoder(std::move(impl)));
}

std::string DualEncoder::modelId() const { return impl_->model_id; }
int DualEncoder::dim() const { return impl_->model->dim(); }
const std::string& DualEncoder::family() const { return impl_->family; }
const std::string& DualEncoder::folder() const { return impl_->folder; }
float DualEncoder::logitScale() const { return static_cast<float>(impl_->model->logitScale()); }
float DualEncoder::logitBias() const { return static_cast<float>(impl_->model->logitBias()); }

std::vector<std::int32_t> DualEncoder::textIds(const std::string& text) const { return impl_->ids(text); }

std::vector<float> DualEncoder::embedImages(const std::vector<RgbImage>& images) const {
    if (images.empty())
        return {};
    torch::InferenceMode inference;
    std::vector<torch::Tensor> pixels;
    pixels.reserve(images.size());
    for (const auto& image : images)
        pixels.push_back(impl_->processor->process(image).pixel_values);
    return Impl::normalizedRows(impl_->model->imageFeatures(torch::cat(pixels, 0)));
}

std::vector<float> DualEncoder::embedTexts(const std::vector<std::string>& texts) const {
    if (texts.empty())
        return {};
    torch::InferenceMode inference;
    // CLIP's texts differ in length and its attention is causal, so each is run alone (padding
    // would not change the pooled token, but there is nothing to gain); SigLIP's are all
    // padded to the same length and run together.
    const bool together = impl_->family == "siglip";
    std::vector<torch::Tensor> rows;
    std::vector<torch::Tensor> features;
    for (const auto& text : texts) {
        const auto ids = impl_->ids(text);
        auto row = torch::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), torch::kInt64).unsqueeze(0);
        if (together)
            rows.push_back(row);
        else
            features.push_back(impl_->model->textFeatures(row));
    }
    if (together)
        features.push_back(impl_->model->textFeatures(torch::cat(rows, 0)));
    return Impl::normalizedRows(torch::cat(features, 0));
}

std::vector<float> DualEncoder::labelScores(const std::vector<float>& image_vector,
                                            const std::vector<std::string>& labels) const {
    const int d = dim();
    if (static_cast<int>(image_vector.size()) != d)
        throw Error("the image vector has " + std::to_string(image_vector.size()) + " values; this model's have " +
                    std::to_string(d));
    if (labels.empty())
        return {};
    const auto text = embedTexts(labels);
    std::vector<double> logits(labels.size());
    for (std::size_t i = 0; i < labels.size(); ++i) {
        double dot = 0;
        for (int k = 0; k < d; ++k)
            dot += static_cast<double>(text[i * d + k]) * image_vector[k];
        logits[i] = impl_->model->logitScale() * dot + impl_->model->logitBias();
    }
    std::vector<float> scores(labels.size());
    if (impl_->family == "siglip") {
        for (std::size_t i = 0; i < logits.size(); ++i)
            scores[i] = static_cast<float>(1.0 / (1.0 + std::exp(-logits[i])));
    } else {
        const double top = *std::max_element(logits.begin(), logits.end());
        double sum = 0;
        for (double l : logits)
            sum += std::exp(l - top);
        for (std::size_t i = 0; i < logits.size(); ++i)
            scores[i] = static_cast<float>(std::exp(logits[i] - top) / sum);
    }
    return scores;
}

} // namespace vqa::retrieval
