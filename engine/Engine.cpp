#include "engine/Engine.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "engine/Device.h"
#include "engine/Error.h"
#include "engine/explain/AttentionMaps.h"
#include "engine/families/FamilyRuntime.h"
#include "engine/generation/Sampler.h"
#include "engine/io/Checkpoint.h"
#include "engine/io/ModelConfig.h"
#include "engine/text/ChatFormat.h"
#include "engine/text/StreamingDetokenizer.h"
#include "engine/text/Tokenizer.h"
#include "engine/vision/ImageIO.h"

namespace vqa {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double msSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

nlohmann::json readJsonFile(const fs::path& path) {
    std::ifstream in(path);
    if (!in)
        throw Error(path.string() + ": cannot be read");
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw Error(path.string() + ": is not valid JSON (" + e.what() + ")");
    }
}

// The token ids that end an answer: generation_config.json's eos_token_id (one or a
// list), the tokenizer's EOS, and the chat format's end-of-turn token.
std::set<std::int64_t> stopIds(const fs::path& dir, const Tokenizer& tokenizer, const ChatFormat& format) {
    std::set<std::int64_t> ids;
    auto add = [&](const nlohmann::json& v) {
        if (v.is_number_integer())
            ids.insert(v.get<std::int64_t>());
        else if (v.is_array())
            for (const auto& x : v)
                if (x.is_number_integer())
                    ids.insert(x.get<std::int64_t>());
    };
    if (fs::exists(dir / "generation_config.json")) {
        auto gen = readJsonFile(dir / "generation_config.json");
        if (gen.contains("eos_token_id"))
            add(gen["eos_token_id"]);
    }
    if (tokenizer.specialTokens().eos)
        ids.insert(*tokenizer.specialTokens().eos);
    for (const auto& text : format.stopStrings())
        if (auto id = tokenizer.pieceToId(text))
            ids.insert(*id);
    return ids;
}

std::string dtypeName(torch::ScalarType t) {
    switch (t) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    default: return c10::toString(t);
    }
}

// An image after preprocessing and vision encoding, kept per image key.
struct EncodedImage {
    PreparedImage prepared;
    torch::Tensor features;  // [tokens, hidden] on the model's device
};

}  // namespace

RgbImage loadImageFile(const std::string& path) { return decodeImageFile(path); }

struct Engine::Impl {
    // Everything that belongs to one loaded model; replaced whole on a successful load.
    struct Loaded {
        ModelInfo info;
        std::unique_ptr<Checkpoint> checkpoint;
        std::unique_ptr<Tokenizer> tokenizer;
        std::unique_ptr<ChatFormat> chat_format;
        std::unique_ptr<FamilyRuntime> runtime;
        std::set<std::int64_t> stop_ids;
    };
    std::unique_ptr<Loaded> model;

    // The conversation state kept between turns: what the KV cache holds, so a follow-up
    // question reuses the prefix instead of prefilling the image again.
    models::KvCache cache;
    std::vector<std::int64_t> cached_ids;
    std::vector<std::string> cached_image_keys;
    std::map<std::string, EncodedImage> images;

    std::mutex mutex;

    void resetSession() {
        cache = {};
        cached_ids.clear();
        cached_image_keys.clear();
        images.clear();
    }

    GenerationResult generate(const Request& request, const TokenCallback& on_token,
                              const std::atomic<bool>* cancel, const ProgressCallback& progress);
    const EncodedImage& encodeImage(const Request& request, std::size_t index, Timings& timings,
                                    const ProgressCallback& progress);
};

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() = default;

ModelInfo Engine::load(const std::string& model_dir, const LoadOptions& options,
                       const ProgressCallback& progress) {
    if (!fs::is_directory(model_dir))
        throw Error("model folder '" + model_dir + "' does not exist or is not a folder");
    const fs::path dir(model_dir);
    if (!fs::exists(dir / "config.json"))
        throw Error("model folder '" + model_dir + "' has no config.json; a model folder holds "
                    "config.json, *.safetensors and the tokenizer files of a Hugging Face model");
    auto report = [&](const std::string& stage, double fraction) {
        if (progress)
            progress({stage, fraction});
    };

    auto loaded = std::make_unique<Impl::Loaded>();
    report("reading configuration", 0.0);
    nlohmann::json config = readModelConfig(model_dir);
    const std::string family = detectFamily(config, (dir / "config.json").string());

    report("reading tokenizer", 0.05);
    loaded->tokenizer = loadTokenizer(model_dir);
    loaded->chat_format = chatFormatFor(model_dir, *loaded->tokenizer);
    loaded->stop_ids = stopIds(dir, *loaded->tokenizer, *loaded->chat_format);

    torch::Device device = torch::kCPU;
    if (options.device == DevicePreference::Cuda) {
        if (!cudaAvailable())
            throw Error("the CUDA device was asked for, but " + cudaUnavailableReason() +
                        "; choose 'auto' or 'cpu'");
        device = torch::Device(torch::kCUDA, 0);
    } else if (options.device == DevicePreference::Auto && cudaAvailable()) {
        device = torch::Device(torch::kCUDA, 0);
    }
    torch::ScalarType dtype = device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
    if (options.dtype == "float32")
        dtype = torch::kFloat32;
    else if (options.dtype == "bfloat16")
        dtype = torch::kBFloat16;
    else if (options.dtype == "float16")
        dtype = torch::kFloat16;
    else if (options.dtype != "auto" && !options.dtype.empty())
        throw Error("unknown dtype '" + options.dtype + "'; choose auto, float32, bfloat16 or float16");
    if (options.threads > 0)
        torch::set_num_threads(options.threads);

    report("mapping weights", 0.1);
    loaded->checkpoint = Checkpoint::open(model_dir);
    report("building the model", 0.2);
    {
        torch::InferenceMode guard;
        FamilyLoadContext context{model_dir, config, loaded->checkpoint.get(), device, dtype};
        loaded->runtime = makeFamilyRuntime(family, context);
    }

    ModelInfo& info = loaded->info;
    info.family = family;
    info.name = fs::path(model_dir).lexically_normal().filename().string();
    if (info.name.empty())
        info.name = fs::path(model_dir).lexically_normal().parent_path().filename().string();
    info.path = fs::absolute(dir).lexically_normal().string();
    info.parameters = loaded->runtime->model().parameterCount();
    info.dtype = dtypeName(dtype);
    info.device = device.is_cuda() ? "cuda" : "cpu";
    info.weight_bytes = static_cast<std::int64_t>(loaded->checkpoint->byteSize());
    // Weights converted on load no longer need the mapped files.
    if (dtype != torch::kFloat32 || device.is_cuda() || loaded->checkpoint->predominantDtype() != "F32")
        loaded->checkpoint.reset();

    std::lock_guard lock(impl_->mutex);
    impl_->resetSession();
    impl_->model = std::move(loaded);
    report("ready", 1.0);
    return impl_->model->info;
}

bool Engine::hasModel() const { return impl_->model != nullptr; }
ModelInfo Engine::modelInfo() const { return impl_->model ? impl_->model->info : ModelInfo{}; }
const Tokenizer* Engine::tokenizer() const { return impl_->model ? impl_->model->tokenizer.get() : nullptr; }

GenerationResult Engine::generate(const Request& request, const TokenCallback& on_token,
                                  const std::atomic<bool>* cancel, const ProgressCallback& progress) {
    std::lock_guard lock(impl_->mutex);
    try {
        return impl_->generate(request, on_token, cancel, progress);
    } catch (const std::exception& e) {
        // A failed step leaves the cache in an unknown state: start the next turn afresh.
        impl_->cache = {};
        impl_->cached_ids.clear();
        GenerationResult result;
        result.stop = StopReason::Error;
        result.error = e.what();
        return result;
    }
}

const EncodedImage& Engine::Impl::encodeImage(const Request& request, std::size_t index,
                                              Timings& timings, const ProgressCallback& progress) {
    const std::string& key = request.image_keys.at(index);
    if (auto it = images.find(key); it != images.end())
        return it->second;
    const auto& image = request.images.at(index);
    if (!image || image->empty())
        throw Error("image " + std::to_string(index + 1) + " of the conversation is empty");
    if (progress)
        progress({"preparing the image", -1});
    auto start = Clock::now();
    EncodedImage encoded;
    encoded.prepared = model->runtime->prepareImage(*image);
    timings.preprocess_ms += msSince(start);

    if (progress)
        progress({"encoding the image", -1});
    start = Clock::now();
    auto& net = model->runtime->model();
    auto pixels = encoded.prepared.pixel_values.to(net.device(), net.dtype());
    torch::Tensor mask = encoded.prepared.pixel_attention_mask;
    if (mask.defined())
        mask = mask.to(net.device());
    auto features = net.encodeImages(pixels, mask);
    encoded.features = features.reshape({-1, features.size(-1)});
    timings.encode_ms += msSince(start);
    return images.emplace(key, std::move(encoded)).first->second;
}

GenerationResult Engine::Impl::generate(const Request& request, const TokenCallback& on_token,
                                        const std::atomic<bool>* cancel, const ProgressCallback& progress) {
    GenerationResult result;
    if (!model) {
        result.stop = StopReason::Error;
        result.error = "no model is loaded: open a model folder first";
        return result;
    }
    const auto submitted = Clock::now();
    Timings& timings = result.timings;
    torch::InferenceMode inference;
    auto& runtime = *model->runtime;
    auto& net = runtime.model();
    const auto& params = request.generation;
    auto cancelled = [&] { return cancel && cancel->load(); };

    // 1. The prompt, with each image placeholder expanded into the model's image tokens.
    std::size_t image_parts = 0;
    for (const auto& turn : request.conversation)
        for (const auto& part : turn.content)
            image_parts += part.kind == ContentPart::Kind::Image;
    if (image_parts != request.images.size() || request.image_keys.size() != request.images.size())
        throw Error("the conversation refers to " + std::to_string(image_parts) + " image(s) but " +
                    std::to_string(request.images.size()) + " were given");
    std::string prompt = model->chat_format->render(request.conversation, /*add_generation_prompt=*/true);
    std::vector<const EncodedImage*> encoded;
    for (std::size_t i = 0; i < request.images.size(); ++i) {
        encoded.push_back(&encodeImage(request, i, timings, progress));
        if (cancelled()) {
            result.stop = StopReason::Cancelled;
            return result;
        }
    }
    {
        const std::string placeholder = runtime.imagePlaceholder();
        std::string expanded;
        std::size_t pos = 0, next_image = 0;
        while (true) {
            std::size_t hit = prompt.find(placeholder, pos);
            if (hit == std::string::npos)
                break;
            if (next_image >= encoded.size())
                throw Error("the prompt has more image placeholders than images; remove '" + placeholder +
                            "' from the text");
            expanded.append(prompt, pos, hit - pos);
            expanded += encoded[next_image++]->prepared.prompt_text;
            pos = hit + placeholder.size();
        }
        expanded.append(prompt, pos);
        prompt = std::move(expanded);
    }

    // 2. Tokens, and where the image tokens are.
    std::vector<TokenId> ids32 = model->tokenizer->encode(prompt, /*add_special_tokens=*/true);
    std::vector<std::int64_t> ids(ids32.begin(), ids32.end());
    const std::int64_t image_token = net.imageTokenId();
    std::vector<std::int64_t> image_positions;
    for (std::size_t i = 0; i < ids.size(); ++i)
        if (ids[i] == image_token)
            image_positions.push_back(static_cast<std::int64_t>(i));
    std::int64_t feature_rows = 0;
    for (const auto* e : encoded)
        feature_rows += e->features.size(0);
    if (static_cast<std::int64_t>(image_positions.size()) != feature_rows)
        throw Error("the prompt has " + std::to_string(image_positions.size()) + " image tokens but the images give " +
                    std::to_string(feature_rows) + " features");
    timings.prompt_tokens = static_cast<int>(ids.size());

    const std::int64_t context = runtime.contextLength();
    if (static_cast<std::int64_t>(ids.size()) + 1 > context)
        throw Error("the conversation is " + std::to_string(ids.size()) + " tokens long, more than the model's context of " +
                    std::to_string(context) + " tokens; start a new conversation");
    const std::int64_t max_new = std::min<std::int64_t>(params.max_new_tokens, context - static_cast<std::int64_t>(ids.size()));

    // 3. Reuse the KV prefix of earlier turns about the same images.
    std::int64_t keep = 0;
    if (cached_image_keys == request.image_keys && cache.capacity() > 0) {
        const std::size_t n = std::min(cached_ids.size(), ids.size() - 1);
        while (static_cast<std::size_t>(keep) < n && cached_ids[keep] == ids[keep])
            ++keep;
    }
    const std::int64_t needed = static_cast<std::int64_t>(ids.size()) + max_new;
    if (cache.capacity() < needed) {
        // Grow in steps of 512 positions, keeping what the prefix already holds.
        const std::int64_t capacity = std::min<std::int64_t>(context, (needed + 511) / 512 * 512);
        models::KvCache grown = net.newCache(capacity);
        for (std::size_t l = 0; l < grown.keys.size() && keep > 0; ++l) {
            grown.keys[l].narrow(1, 0, keep).copy_(cache.keys[l].narrow(1, 0, keep));
            grown.values[l].narrow(1, 0, keep).copy_(cache.values[l].narrow(1, 0, keep));
        }
        grown.length = keep;
        cache = std::move(grown);
    }
    cache.truncate(keep);
    cached_image_keys = request.image_keys;
    cached_ids.assign(ids.begin(), ids.begin() + keep);

    // 4. Prefill the new part of the prompt, image features at the image tokens.
    if (progress)
        progress({"reading the prompt", -1});
    auto start = Clock::now();
    auto options = torch::TensorOptions().dtype(torch::kInt64);
    auto suffix = torch::tensor(std::vector<std::int64_t>(ids.begin() + keep, ids.end()), options).to(net.device());
    torch::Tensor embeds = net.embedTokens(suffix);
    {
        std::vector<std::int64_t> rows, feature_index;
        for (std::size_t k = 0; k < image_positions.size(); ++k)
            if (image_positions[k] >= keep) {
                rows.push_back(image_positions[k] - keep);
                feature_index.push_back(static_cast<std::int64_t>(k));
            }
        if (!rows.empty()) {
            std::vector<torch::Tensor> parts;
            for (const auto* e : encoded)
                parts.push_back(e->features);
            auto features = torch::cat(parts, 0);
            auto row_t = torch::tensor(rows, options).to(net.device());
            auto idx_t = torch::tensor(feature_index, options).to(net.device());
            embeds.index_copy_(0, row_t, features.index_select(0, idx_t).to(embeds.scalar_type()));
        }
    }
    AttentionCapture capture;
    AttentionMapper mapper;
    const bool explain = request.explain.capture_attention && !image_positions.empty();
    if (explain) {
        capture.positions = torch::tensor(image_positions, options).to(net.device());
        std::vector<ImageLayout> layouts;
        for (const auto* e : encoded)
            layouts.push_back(e->prepared.layout);
        mapper = AttentionMapper(std::move(layouts), request.explain);
    }
    torch::Tensor logits = net.forward(embeds, cache, /*all_logits=*/false, explain ? &capture : nullptr);
    cached_ids.insert(cached_ids.end(), ids.begin() + keep, ids.end());
    timings.prefill_ms = msSince(start);

    // 5. Decode.
    Sampler sampler(params);
    StreamingDetokenizer detok(*model->tokenizer);
    std::vector<std::int64_t> history = ids;
    history.reserve(ids.size() + max_new);
    auto decode_start = Clock::now();
    result.stop = StopReason::MaxTokens;
    for (std::int64_t step = 0; step < max_new; ++step) {
        if (cancelled()) {
            result.stop = StopReason::Cancelled;
            break;
        }
        const std::int64_t next = sampler.next(logits.reshape({-1}), history);
        if (step == 0) {
            timings.first_token_ms = msSince(submitted);
            decode_start = Clock::now();
        }
        const bool stop = !params.ignore_eos && model->stop_ids.count(next);
        if (stop) {
            result.stop = StopReason::EndOfTurn;
            break;
        }
        history.push_back(next);
        result.token_ids.push_back(static_cast<std::int32_t>(next));
        TokenEvent event;
        event.index = static_cast<int>(step);
        event.id = static_cast<std::int32_t>(next);
        event.text = detok.push(static_cast<TokenId>(next));
        if (explain)
            event.attention = mapper.grids(capture);
        result.text += event.text;
        if (on_token)
            on_token(event);
        if (step + 1 == max_new)
            break;  // the last token needs no forward pass
        auto next_t = torch::full({1}, next, options).to(net.device());
        logits = net.forward(net.embedTokens(next_t), cache, false, explain ? &capture : nullptr);
        cached_ids.push_back(next);
    }
    std::string tail = detok.finish();
    if (!tail.empty()) {
        result.text += tail;
        if (on_token) {
            TokenEvent event;
            event.index = static_cast<int>(result.token_ids.size());
            event.id = -1;
            event.text = tail;
            on_token(event);
        }
    }
    timings.new_tokens = static_cast<int>(result.token_ids.size());
    timings.decode_ms = msSince(decode_start);
    return result;
}

}  // namespace vqa
