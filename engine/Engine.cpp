#include "engine/Engine.h"
#include "engine/EngineImpl.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include <torch/torch.h>

#include "engine/CpuTuning.h"
#include "engine/Device.h"
#include "engine/EngineTesting.h"
#include "engine/LoadPlan.h"
#include "engine/explain/AttentionMaps.h"
#include "engine/explain/Grounding.h"
#include "engine/families/Families.h"
#include "engine/families/FamilyRuntime.h"
#include "engine/generation/Answer.h"
#include "engine/generation/PromptEmbedding.h"
#include "engine/io/Checkpoint.h"
#include "engine/io/ModelFolder.h"
#include "engine/io/AwqWeights.h"
#include "engine/io/ProgressWeights.h"
#include "engine/remote/OpenAiClient.h"
#include "engine/text/ChatFormat.h"
#include "engine/text/StreamingDetokenizer.h"
#include "engine/text/Tokenizer.h"
#include "engine/vision/ImageIO.h"
#include "engine/vision/VideoFile.h"
#include "models/Interrupt.h"
#include "models/base/Error.h"

namespace vqa {

namespace fs = std::filesystem;

namespace {

// The token ids that end an answer: generation_config.json's eos_token_id (one or a
// list), the tokenizer's EOS, and the chat format's end-of-turn token.
std::set<std::int64_t> stopIds(const ModelFolder& folder, const Tokenizer& tokenizer, const ChatFormat& format) {
    std::set<std::int64_t> ids;
    for (auto id : folder.eosTokenIds())
        ids.insert(id);
    for (auto id : stopTokenIds(format, tokenizer))
        ids.insert(id);
    return ids;
}

// The dtype a load plan names.
torch::ScalarType scalarType(const std::string& dtype) {
    return dtype == "float32" ? torch::kFloat32 : dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat16;
}

// The quantization a load plan names.
models::Quantization quantizationOf(const LoadPlan& plan) {
    models::Quantization q;
    models::parseQuantFormat(plan.quantization.empty() ? "none" : plan.quantization, q.linears);
    models::parseQuantFormat(plan.embedding_quantization.empty() ? "none" : plan.embedding_quantization,
                             q.embeddings);
    return q;
}

}  // namespace

RgbImage loadImageFile(const std::string& path) { return decodeImageFile(path); }

testhooks::StageHook& stageHook() {
    static testhooks::StageHook hook;
    return hook;
}

void testhooks::setStageHook(StageHook hook) { stageHook() = std::move(hook); }

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() = default;

// A function-try-block: running out of memory anywhere in a load becomes a message, and
// the model loaded before stays (it is replaced only at the end).
ModelInfo Engine::load(const std::string& model_dir, const LoadOptions& options,
                       const ProgressCallback& progress) try {
    auto report = [&](const std::string& stage, double fraction) {
        if (progress)
            progress({stage, fraction});
    };

    auto loaded = std::make_unique<Impl::Loaded>();
    // The plan reads config.json, generation_config.json and the weights' headers once, and
    // decides the family, device, dtype and whether the model fits, before any weight is read.
    report("reading configuration", 0.0);
    const LoadPlan plan = planLoad(model_dir, options);
    if (plan.refused())
        throw Error(model_dir + ": " + plan.memory.message);
    const Family& family = *plan.family;
    const torch::Device device = plan.device == "cuda" ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    const torch::ScalarType dtype = scalarType(plan.dtype);

    report("reading tokenizer", 0.05);
    loaded->tokenizer = loadTokenizer(model_dir);
    loaded->chat_format = chatFormatFor(*loaded->tokenizer);
    loaded->stop_ids = stopIds(*plan.folder, *loaded->tokenizer, *loaded->chat_format);
    if (options.threads > 0)
        torch::set_num_threads(options.threads);
    // On the CPU: the kernels this CPU runs a bfloat16 tower and a float32 prompt fastest with,
    // measured once per machine.
    if (device.is_cpu()) {
        static std::once_flag tuned;
        std::call_once(tuned, [] { tuneCpuKernels(); });
    }
    if (plan.tight())
        report("warning: " + plan.memory.message, 0.08);

    if (stageHook())
        stageHook()("load");
    loaded->checkpoint = plan.folder->checkpoint();
    report("building the model", 0.2);
    {
        // No autograd while loading, but not inference mode either: relevancy maps run
        // autograd through these weights later, which inference tensors would forbid.
        torch::NoGradGuard no_grad;
        // Progress as the tensors are taken: converting, fusing and quantizing them is the
        // load's long part (a 7B decoder quantizes for several seconds).
        const std::string stage = plan.quantization.empty() ? "building the model"
                                                            : "building the model (quantizing to " + plan.quantization + ")";
        // An AWQ checkpoint's linears answer for their float names (engine/io/AwqWeights.h).
        std::optional<AwqWeights> awq;
        if (plan.awq)
            awq.emplace(*loaded->checkpoint, *plan.awq, model_dir);
        const models::WeightSource& stored = awq ? static_cast<const models::WeightSource&>(*awq) : *loaded->checkpoint;
        ProgressWeights weights(stored, loaded->checkpoint->parameterCount(),
                                [&](double f) { report(stage, 0.2 + 0.7 * f); });
        FamilyLoadContext context{model_dir, plan.folder->config(), &weights, device, dtype, quantizationOf(plan),
                                  scalarType(plan.vision_dtype)};
        try {
            loaded->runtime = family.makeRuntime(context);
        } catch (const Error& e) {
            // The model code knows tensors, not files: say which folder they were missing from.
            const std::string message = e.what();
            if (message.find(model_dir) != std::string::npos)
                throw;
            throw Error(model_dir + ": " + message);
        }
    }

    ModelInfo& info = loaded->info;
    info.family = family.name;
    info.name = fs::path(model_dir).lexically_normal().filename().string();
    if (info.name.empty())
        info.name = fs::path(model_dir).lexically_normal().parent_path().filename().string();
    info.path = fs::absolute(model_dir).lexically_normal().string();
    info.parameters = loaded->runtime->model().parameterCount();
    info.dtype = plan.dtype;
    info.vision_dtype = plan.vision_dtype;
    info.quantization = plan.quantization;
    info.quantized_by = plan.awq ? "awq" : "";
    info.device = plan.device;
    info.weight_bytes = plan.memory.weight_bytes;
    info.reasons_first = loaded->chat_format->answersStartWithReasoning();
    // Weights converted on load no longer need the mapped files.
    // Quantized: the decoder's stored bytes were read once and released; populating the
    // mapping would bring them back.
    if (dtype != torch::kFloat32 || device.is_cuda() || !plan.quantization.empty() ||
        loaded->checkpoint->predominantDtype() != "F32") {
        loaded->checkpoint.reset();
    } else {
        // Used in place: map the weights now, as part of loading, rather than fault them in
        // one page at a time during the first answer. Not the token embeddings: a prompt
        // reads a few of their rows (a tied lm_head reads them all at its first step).
        report("reading the weights into memory", 0.95);
        loaded->checkpoint->populate([](const std::string& name) {
            const std::string embeddings = "embed_tokens.weight";
            return name.size() < embeddings.size() ||
                   name.compare(name.size() - embeddings.size(), embeddings.size(), embeddings) != 0;
        });
    }

    std::lock_guard lock(impl_->mutex);
    impl_->resetSession();
    impl_->model = std::move(loaded);
    impl_->remote.reset();
    {
        std::lock_guard info_lock(impl_->info_mutex);
        impl_->current_info = impl_->model->info;
    }
    // "fast" on a CPU whose prefill runs in float16: the decoder's float16 panels are packed
    // now rather than by the first question (100-400 ms on SmolVLM), and only now, once the
    // model before is gone, so that its panels do not take this one's share of their budget.
    // Not needed to answer: where memory runs short, the prefill packs them per product.
    if (plan.memory.prefill_panel_bytes > 0) {
        report("packing the decoder's weights for the fast prefill", 0.97);
        try {
            torch::NoGradGuard no_grad;
            impl_->model->runtime->model().packPrefillWeights();
        } catch (const std::exception& e) {
            report(std::string("warning: the fast prefill's float16 weights were not packed (") + e.what() +
                       "); each question packs them as it goes",
                   0.98);
        }
    }
    // On the GPU, decode steps are recorded once and replayed (CUDA graphs) when the plugin
    // is there; a step that cannot be recorded runs as before. Switched with the model, under
    // the lock, so an answer still running on the model before never sees the other setting.
    if (device.is_cuda()) {
        if (const std::string why = setCudaGraphs(true); !why.empty())
            report("CUDA graphs off (" + why + "): decoding launches every kernel", 0.99);
    } else {
        setCudaGraphs(false);
    }
    report("ready", 1.0);
    return impl_->model->info;
} catch (const c10::OutOfMemoryError& e) {
    throw Error("out of memory while loading '" + model_dir + "' (" + e.what_without_backtrace() +
                "); try the CPU, a smaller model or dtype bfloat16" + (hasModel() ? "; the model loaded before is still in use" : ""));
} catch (const std::bad_alloc&) {
    throw Error("out of memory while loading '" + model_dir + "'; try a smaller model or dtype bfloat16" +
                std::string(hasModel() ? "; the model loaded before is still in use" : ""));
}

namespace {

// What the window and the CLI are told about a model on a server.
ModelInfo remoteModelInfo(const RemoteServer& server) {
    ModelInfo info;
    info.family = "remote";
    info.name = server.model;
    info.path = remote::endpoint(server.base_url, "");
    info.device = "server";
    info.remote = true;
    info.remote_attention = server.sends_attention;
    return info;
}

}  // namespace

ModelInfo Engine::connect(const RemoteServer& server) {
    const RemoteServer resolved = remote::resolveModel(server); // the network, outside the lock
    std::lock_guard lock(impl_->mutex);
    impl_->resetSession();
    impl_->model.reset();
    impl_->remote = resolved;
    std::lock_guard info_lock(impl_->info_mutex);
    impl_->current_info = remoteModelInfo(resolved);
    return *impl_->current_info;
}

bool Engine::hasModel() const {
    std::lock_guard lock(impl_->info_mutex);
    return impl_->current_info.has_value();
}
ModelInfo Engine::modelInfo() const {
    std::lock_guard lock(impl_->info_mutex);
    return impl_->current_info.value_or(ModelInfo{});
}
int Engine::imageTokenCount(int width, int height, const ImageOptions& options) const {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->model || width <= 0 || height <= 0)
        return -1;
    try {
        return impl_->model->runtime->imageTokenCount(width, height, options);
    } catch (const std::exception&) {
        return -1;  // an image the processor refuses (200:1): asking about it says why
    }
}

const Tokenizer* Engine::tokenizer() const { return impl_->model ? impl_->model->tokenizer.get() : nullptr; }

GenerationResult Engine::Impl::failure(const std::exception_ptr& error) {
    auto failed = [&](const std::string& message, bool refused = false) {
        // A failed step leaves the cache in an unknown state: start the next turn afresh.
        cache = {};
        cached_ids.clear();
        kept.clear();
        GenerationResult result;
        result.stop = StopReason::Error;
        result.error = message;
        result.refused = refused;
        return result;
    };
    // Running out of memory is reported, not fatal: what the request allocated is freed
    // with the stack, the model stays loaded, and a smaller request can follow.
    auto outOfMemory = [&](const std::string& detail) {
        const std::string device = model ? model->info.device : "cpu";
        return failed("out of " + std::string(device == "cuda" ? "GPU" : "CPU") + " memory while " + stage + " (" +
                      detail +
                      "); the model is still loaded: try a smaller image, a shorter conversation or "
                      "fewer new tokens" + (device == "cuda" ? ", or the CPU" : ""));
    };
    try {
        std::rethrow_exception(error);
    } catch (const c10::OutOfMemoryError& e) {
        return outOfMemory(e.what_without_backtrace());
    } catch (const std::bad_alloc& e) {
        return outOfMemory(std::string("allocation failed: ") + e.what());
    } catch (const c10::Error& e) {
        return failed(e.what_without_backtrace());
    } catch (const Error& e) {
        // The project's messages before the answer began are about what was asked.
        return failed(e.what(), !answering);
    } catch (const std::exception& e) {
        return failed(e.what());
    } catch (...) {
        return failed("an unknown error while " + std::string(stage));
    }
}

GenerationResult Engine::Impl::generateRemote(const Request& request, const TokenCallback& on_token,
                                              const std::atomic<bool>* cancel) {
    // The API has no words, only token ids; and no way to continue an answer.
    if (!request.generation.banned_words.empty())
        throw Error("words to avoid need a local model; a server's chat API cannot take them");
    if (!request.generation.answer_start.empty())
        throw Error("starting the answer with given words needs a local model; a server's chat API "
                    "cannot continue an answer");
    answering = true;  // what goes wrong from here on is the server's or the connection's
    return remote::streamChat(*remote, request, on_token, cancel);
}

GenerationResult Engine::generate(const Request& request, const TokenCallback& on_token,
                                  const std::atomic<bool>* cancel, const ProgressCallback& progress) {
    std::lock_guard lock(impl_->mutex);
    impl_->beginRequest();
    try {
        // A model on a server: the same reporting of what escapes (a failed PNG encoding,
        // memory), nothing else of the local path.
        if (impl_->remote)
            return impl_->generateRemote(request, on_token, cancel);
        return impl_->generate(request, on_token, cancel, progress);
    } catch (...) {
        return impl_->failure(std::current_exception());
    }
}

const EncodedImage& Engine::Impl::encodeImage(const Request& request, std::size_t index,
                                              Timings& timings, const ProgressCallback& progress) {
    const std::string key = imageCacheKey(*model->runtime, request.image_keys.at(index), request.image_options);
    if (auto it = images.find(key); it != images.end()) {
        it->second.last_used = ++image_uses;
        return it->second;
    }
    const auto& image = request.images.at(index);
    if (!image || image->empty())
        throw Error("image " + std::to_string(index + 1) + " of the conversation is empty");
    if (image->pixels.size() != static_cast<std::size_t>(image->width) * image->height * 3)
        throw Error("image " + std::to_string(index + 1) + " of the conversation is damaged: " +
                    std::to_string(image->width) + "x" + std::to_string(image->height) + " pixels but " +
                    std::to_string(image->pixels.size()) + " bytes");
    if (progress)
        progress({"preparing the image", -1});
    enterStage("encode", "preparing and encoding the image");
    const auto start = Clock::now();
    PreparedImage prepared = model->runtime->prepareImage(*image, request.image_options);
    timings.preprocess_ms += msSince(start);
    // An image's tiles go through the tower together.
    return encodePrepared(key, std::move(prepared), timings, progress, 0);
}

const EncodedImage& Engine::Impl::encodeVideo(const Request& request, std::size_t index, Timings& timings,
                                              const ProgressCallback& progress, const std::atomic<bool>* cancel) {
    const VideoInput& input = request.videos.at(index);
    const std::string key = videoCacheKey(input);
    if (auto it = images.find(key); it != images.end()) {
        it->second.last_used = ++image_uses;
        return it->second;
    }
    if (progress)
        progress({"reading the video", -1});
    enterStage("encode", "reading and encoding the video");
    const auto start = Clock::now();
    VideoFile video = VideoFile::open(input.path, std::filesystem::path(input.path).filename().string());
    const std::vector<std::int64_t> indices = model->runtime->videoFrameIndices(video.info());
    std::vector<RgbImage> frames = video.frames(indices, [cancel] { return cancel && cancel->load(); });
    if (frames.empty() && !indices.empty())
        throw Cancelled{};
    PreparedImage prepared = model->runtime->prepareVideo(frames, video.info(), indices);
    timings.preprocess_ms += msSince(start);
    // Frames a few at a time: the tower's attention over 64 frames at once would take gigabytes.
    return encodePrepared(key, std::move(prepared), timings, progress, 8);
}

const EncodedImage& Engine::Impl::encodePrepared(const std::string& key, PreparedImage prepared, Timings& timings,
                                                 const ProgressCallback& progress, std::int64_t chunk) {
    const bool video = !prepared.frames.indices.empty();
    const auto start = Clock::now();
    auto& net = model->runtime->model();
    const std::int64_t n = prepared.pixel_values.size(0);
    if (chunk <= 0)
        chunk = n;
    std::vector<torch::Tensor> tokens;
    std::vector<std::vector<torch::Tensor>> layers;
    for (std::int64_t first = 0; first < n; first += chunk) {
        const std::int64_t count = std::min(chunk, n - first);
        if (progress)  // a fraction when the tower takes several passes, else busy
            progress({video ? "encoding the video" : "encoding the image",
                      chunk < n ? static_cast<double>(first) / static_cast<double>(n) : -1.0});
        auto pixels = prepared.pixel_values.narrow(0, first, count).to(net.device(), net.dtype());
        torch::Tensor mask = prepared.pixel_attention_mask;
        if (mask.defined())
            mask = mask.narrow(0, first, count).to(net.device());
        auto features = net.encodeImageFeatures(pixels, mask);
        tokens.push_back(features.tokens.reshape({-1, features.tokens.size(-1)}));
        layers.resize(features.layers.size());
        for (std::size_t l = 0; l < features.layers.size(); ++l)
            layers[l].push_back(features.layers[l].reshape({-1, features.layers[l].size(-1)}));
    }
    EncodedImage encoded;
    encoded.features = tokens.size() == 1 ? tokens.front() : torch::cat(tokens, 0);
    for (auto& level : layers)
        encoded.layers.push_back(level.size() == 1 ? level.front() : torch::cat(level, 0));
    prepared.pixel_values = torch::Tensor();
    prepared.pixel_attention_mask = torch::Tensor();
    encoded.prepared = std::move(prepared);
    encoded.last_used = ++image_uses;
    timings.encode_ms += msSince(start);
    return images.insert_or_assign(key, std::move(encoded)).first->second;
}

std::vector<MediaRef> Engine::Impl::mediaOrder(const Request& request) const {
    const FamilyRuntime& runtime = *model->runtime;
    std::vector<MediaRef> order;
    std::size_t image_parts = 0, video_parts = 0;
    for (const auto& turn : request.conversation)
        for (const auto& part : turn.content) {
            if (part.kind == ContentPart::Kind::Image)
                order.push_back({static_cast<int>(image_parts++), -1});
            else if (part.kind == ContentPart::Kind::Video)
                order.push_back({-1, static_cast<int>(video_parts++)});
        }
    if (image_parts != request.images.size() || request.image_keys.size() != request.images.size())
        throw Error("the conversation refers to " + std::to_string(image_parts) + " image(s) but " +
                    std::to_string(request.images.size()) + " were given");
    if (video_parts != request.videos.size())
        throw Error("the conversation refers to " + std::to_string(video_parts) + " video(s) but " +
                    std::to_string(request.videos.size()) + " were given");
    if (image_parts > kMaxImagesPerRequest)
        throw Error("the conversation holds " + std::to_string(image_parts) + " images; at most " +
                    std::to_string(kMaxImagesPerRequest) +
                    " go into one question: ask about fewer at a time, or start a new conversation");
    if (video_parts > kMaxVideosPerRequest)
        throw Error("the conversation holds " + std::to_string(video_parts) + " videos; at most " +
                    std::to_string(kMaxVideosPerRequest) + " go into one question");
    if (video_parts > 0 && runtime.videoPlaceholder().empty())
        throw Error("this model (" + runtime.family() +
                    ") takes no videos; SmolVLM2 (for example SmolVLM2-256M-Video-Instruct) does");
    return order;
}

std::vector<VideoFrames> Engine::Impl::videoFramesOf(const Prompt& prompt) {
    std::vector<VideoFrames> out;
    for (std::size_t i = 0; i < prompt.images.size(); ++i)
        if (prompt.sources[i].video >= 0) {
            VideoFrames frames = prompt.images[i]->prepared.frames;
            frames.video = prompt.sources[i].video;
            out.push_back(std::move(frames));
        }
    return out;
}

void Engine::Impl::trimImages(const std::vector<std::string>& keep) {
    while (images.size() > kMaxCachedImages) {
        auto oldest = images.end();
        for (auto it = images.begin(); it != images.end(); ++it)
            if (std::find(keep.begin(), keep.end(), it->first) == keep.end() &&
                (oldest == images.end() || it->second.last_used < oldest->second.last_used))
                oldest = it;
        if (oldest == images.end())
            return;  // every cached image is in use by this request
        images.erase(oldest);
    }
}

bool Engine::prepareImage(const std::shared_ptr<const RgbImage>& image, const std::string& key,
                          const ImageOptions& options, const std::function<bool()>& abandon, Timings* timings_out) {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->model || !image || key.empty())
        return false;
    Request request;
    request.images = {image};
    request.image_keys = {key};
    request.image_options = options;
    const std::vector<std::string> keys = imageCacheKeys(*impl_->model->runtime, request);
    models::InterruptScope interrupt([&abandon] {
        if (abandon && abandon())
            throw Cancelled{};
    });
    try {
        torch::InferenceMode inference;
        impl_->trimImages(keys);
        Timings timings;
        const EncodedImage& encoded = impl_->encodeImage(request, 0, timings, {});
        impl_->trimImages(keys);
        if (timings_out) {
            *timings_out = timings;
            timings_out->image_tokens = static_cast<int>(encoded.features.size(0));
        }
        return true;
    } catch (const Cancelled&) {
        return false;  // nothing kept: a half-encoded image is not in the cache
    } catch (const std::exception&) {
        return false;  // the question about this image will report it
    }
}

Prompt Engine::Impl::buildPrompt(const Request& request, Timings& timings, const std::atomic<bool>* cancel,
                                 const ProgressCallback& progress) {
    auto& runtime = *model->runtime;
    const std::vector<MediaRef> order = mediaOrder(request);

    if (const int trained = runtime.imagesTrainedWith();
        progress && trained > 0 && request.images.size() > static_cast<std::size_t>(trained))
        progress({"warning: this model (" + runtime.family() + ") was trained with " +
                      (trained == 1 ? std::string("one image") : std::to_string(trained) + " images") +
                      " per conversation; its answers about " + std::to_string(request.images.size()) +
                      " are unreliable (SmolVLM, SmolVLM2 and Qwen2.5-VL take several)",
                  -1});

    Prompt prompt;
    trimImages(imageCacheKeys(runtime, request));
    for (const MediaRef& m : order) {
        const bool video = m.video >= 0;
        const auto index = static_cast<std::size_t>(video ? m.video : m.image);
        prompt.images.push_back(video ? &encodeVideo(request, index, timings, progress, cancel)
                                      : &encodeImage(request, index, timings, progress));
        prompt.sources.push_back(m);
        prompt.media_keys.push_back(video ? videoCacheKey(request.videos[index])
                                          : imageCacheKey(runtime, request.image_keys[index], request.image_options));
        timings.image_tokens += static_cast<int>(prompt.images.back()->features.size(0));
        if (cancel && cancel->load())
            throw Cancelled{};
    }

    // The chat format writes a placeholder per image; each becomes the image's tokens.
    std::string rendered;
    if (const std::string& start = request.generation.answer_start; start.empty()) {
        rendered = model->chat_format->render(request.conversation, /*add_generation_prompt=*/true);
    } else {
        // An answer already begun, as transformers' continue_final_message renders it: the
        // conversation with that answer as its last turn, cut after the answer's text.
        Conversation begun = request.conversation;
        begun.push_back({Role::Assistant, {{ContentPart::Kind::Text, start}}});
        rendered = model->chat_format->render(begun, /*add_generation_prompt=*/false);
        const auto at = rendered.rfind(start);
        if (at == std::string::npos)
            throw Error("the chat format does not write an answer's text as given; it cannot start the answer");
        rendered.resize(at + start.size());
    }
    // Each image's and video's placeholder, in the conversation's order, becomes its tokens.
    const std::string image_mark = runtime.imagePlaceholder(), video_mark = runtime.videoPlaceholder();
    std::string text;
    std::size_t pos = 0, next = 0;
    while (true) {
        const std::size_t image_hit = rendered.find(image_mark, pos);
        const std::size_t video_hit = video_mark.empty() ? std::string::npos : rendered.find(video_mark, pos);
        const std::size_t hit = std::min(image_hit, video_hit);
        if (hit == std::string::npos)
            break;
        const bool is_video = hit == video_hit;
        const std::string& mark = is_video ? video_mark : image_mark;
        if (next >= prompt.images.size() || (prompt.sources[next].video >= 0) != is_video)
            throw Error("the text holds '" + mark + "', which stands for " + (is_video ? "a video" : "an image") +
                        " here; remove it from the question");
        text.append(rendered, pos, hit - pos);
        text += prompt.images[next++]->prepared.prompt_text;
        pos = hit + mark.size();
    }
    text.append(rendered, pos);

    const std::vector<TokenId> ids = model->tokenizer->encode(text, /*add_special_tokens=*/true);
    prompt.ids.assign(ids.begin(), ids.end());
    prompt.image_positions = imageTokenPositions(prompt.ids, runtime.model().imageTokenId());
    std::int64_t feature_rows = 0;
    for (const auto* e : prompt.images)
        feature_rows += e->features.size(0);
    if (static_cast<std::int64_t>(prompt.image_positions.size()) != feature_rows)
        throw Error("the prompt has " + std::to_string(prompt.image_positions.size()) +
                    " image tokens but its images give " + std::to_string(feature_rows) +
                    " features; is the tokenizer the model's own?");
    std::vector<const PreparedImage*> prepared;
    for (const auto* e : prompt.images)
        prepared.push_back(&e->prepared);
    prompt.rope_positions = runtime.positions(prompt.ids, prepared);
    return prompt;
}

torch::Tensor Engine::Impl::embed(const Prompt& prompt, std::int64_t from) const {
    std::vector<torch::Tensor> features;
    for (const auto* e : prompt.images)
        features.push_back(e->features);
    return embedPrompt(model->runtime->model(), prompt.ids, prompt.image_positions,
                       features.empty() ? torch::Tensor() : torch::cat(features, 0), from);
}

models::LayerAdditions Engine::Impl::additions(const Prompt& prompt, std::int64_t from) const {
    // Level l of every image, in the prompt's order.
    std::vector<torch::Tensor> layers;
    for (std::size_t l = 0; !prompt.images.empty() && l < prompt.images.front()->layers.size(); ++l) {
        std::vector<torch::Tensor> level;
        for (const auto* e : prompt.images) {
            if (e->layers.size() != prompt.images.front()->layers.size())
                throw Error("the conversation's images were encoded with different numbers of layer features");
            level.push_back(e->layers[l]);
        }
        layers.push_back(torch::cat(level, 0));
    }
    return promptAdditions(prompt.image_positions, layers, from);
}

AttentionMapper Engine::Impl::mapperFor(const Prompt& prompt) const {
    std::vector<ImageLayout> layouts;
    for (std::size_t i = 0; i < prompt.images.size(); ++i) {
        layouts.push_back(prompt.images[i]->prepared.layout);
        layouts.back().image = prompt.sources[i].image;
        layouts.back().video = prompt.sources[i].video;
    }
    return AttentionMapper(std::move(layouts));
}

void Engine::Impl::ensureCapacity(std::int64_t needed, std::int64_t keep) {
    if (cache.capacity() >= needed) {
        cache.truncate(keep);
        return;
    }
    // Grow in steps of 512 positions, keeping what the prefix already holds.
    auto& net = model->runtime->model();
    const std::int64_t capacity = std::min<std::int64_t>(model->runtime->contextLength(), (needed + 511) / 512 * 512);
    models::KvCache grown = net.newCache(capacity);
    for (std::size_t l = 0; l < grown.keys.size() && keep > 0; ++l) {
        grown.keys[l].narrow(1, 0, keep).copy_(cache.keys[l].narrow(1, 0, keep));
        grown.values[l].narrow(1, 0, keep).copy_(cache.values[l].narrow(1, 0, keep));
    }
    grown.length = keep;
    cache = std::move(grown);
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
    auto& net = model->runtime->model();
    const auto& params = request.generation;
    auto cancelled = [&] { return cancel && cancel->load(); };
    kept.clear();
    // The vision encoder and the decoder check between layers, so a cancel stops an image
    // encoding or a long prefill within a layer's time, not only between tokens.
    models::InterruptScope interrupt([cancel] {
        if (cancel && cancel->load())
            throw Cancelled{};
    });

    Prompt prompt;
    try {
        prompt = buildPrompt(request, timings, cancel, progress);
    } catch (const Cancelled&) {
        result.stop = StopReason::Cancelled;
        return result;
    }
    const auto& ids = prompt.ids;
    const auto prompt_len = static_cast<std::int64_t>(ids.size());
    timings.prompt_tokens = static_cast<int>(prompt_len);
    const std::int64_t context = model->runtime->contextLength();
    if (prompt_len + 1 > context)
        throw Error("the conversation is " + std::to_string(prompt_len) + " tokens long, more than the model's context of " +
                    std::to_string(context) + " tokens; start a new conversation");
    const std::int64_t max_new = std::min<std::int64_t>(params.max_new_tokens, context - prompt_len);

    // Reuse the KV prefix of earlier turns about the same images; prefill at least one token.
    // A turn that adds an image or a video keeps the prefix before the new one's tokens.
    std::int64_t keep = 0;
    const std::vector<std::string>& media_keys = prompt.media_keys;
    const bool same_start = cached_image_keys.size() <= media_keys.size() &&
                            std::equal(cached_image_keys.begin(), cached_image_keys.end(), media_keys.begin());
    if (same_start && cache.capacity() > 0) {
        std::int64_t n = std::min<std::int64_t>(static_cast<std::int64_t>(cached_ids.size()), prompt_len - 1);
        if (cached_image_keys.size() < media_keys.size()) {
            std::int64_t offset = 0;  // the first image token of the first picture the cache has not seen
            for (std::size_t i = 0; i < cached_image_keys.size(); ++i)
                offset += prompt.images[i]->features.size(0);
            if (offset < static_cast<std::int64_t>(prompt.image_positions.size()))
                n = std::min(n, prompt.image_positions[static_cast<std::size_t>(offset)]);
        }
        while (keep < n && cached_ids[keep] == ids[keep])
            ++keep;
    }
    ensureCapacity(prompt_len + max_new, keep);
    timings.cached_tokens = static_cast<int>(keep);
    cached_image_keys = media_keys;
    cached_ids.assign(ids.begin(), ids.begin() + keep);

    if (progress)
        progress({"reading the prompt", -1});
    auto start = Clock::now();
    models::AttentionCapture capture;
    const bool explain = request.explain.capture_attention && !prompt.image_positions.empty();
    if (explain) {
        capture.positions = torch::tensor(prompt.image_positions, torch::kInt64).to(net.device());
        kept.mapper = mapperFor(prompt);
    }
    models::AttentionCapture* capture_ptr = explain ? &capture : nullptr;
    enterStage("prefill", "reading the prompt");
    torch::Tensor logits;
    try {
        const models::LayerAdditions layer_additions = additions(prompt, keep);
        logits = net.forward(embed(prompt, keep), cache, /*all_logits=*/false, capture_ptr,
                             prompt.ropePositionsFrom(keep), &layer_additions);
    } catch (const Cancelled&) {
        // The cache still holds the kept prefix (a forward pass commits its length last).
        result.stop = StopReason::Cancelled;
        return result;
    }
    cached_ids.insert(cached_ids.end(), ids.begin() + keep, ids.end());
    timings.prefill_ms = msSince(start);

    Answer answer(*model->tokenizer, params, model->stop_ids, ids, max_new);
    auto next_t = torch::empty({1}, torch::kInt64);
    auto decode_start = Clock::now();
    enterStage("decode", "generating the answer");
    while (!answer.full()) {
        if (cancelled()) {
            answer.result().stop = StopReason::Cancelled;
            break;
        }
        const bool first = answer.result().token_ids.empty();
        std::optional<TokenEvent> event = answer.next(logits);
        if (first) {
            timings.first_token_ms = msSince(submitted);
            decode_start = Clock::now();
        }
        if (!event)
            break;
        if (explain) {
            // The attention that chose this token: the last query's row of the step before.
            auto exact = AttentionMapper::pack(capture, torch::kFloat32);
            event->attention = kept.mapper.split(AttentionMapper::reduce(exact, request.explain));
            kept.add(exact.to(torch::kFloat16));
        }
        if (on_token)
            on_token(*event);
        if (answer.full())
            break;  // the last token needs no forward pass
        next_t.fill_(static_cast<std::int64_t>(event->id));
        try {
            logits = net.forward(net.embedTokens(next_t.to(net.device())), cache, false, capture_ptr);
        } catch (const Cancelled&) {
            answer.result().stop = StopReason::Cancelled;
            break;
        }
        cached_ids.push_back(event->id);
    }
    if (auto tail = answer.finish(); tail && on_token)
        on_token(*tail);
    timings.new_tokens = static_cast<int>(answer.result().token_ids.size());
    timings.decode_ms = msSince(decode_start);
    answer.result().timings = timings;
    result = std::move(answer.result());
    // The boxes the answer names, on the prompt's last image (explain/Grounding.h).
    for (std::size_t i = prompt.images.size(); i-- > 0;)
        if (prompt.sources[i].image >= 0) {
            result.boxes = groundAnswer(*model->tokenizer, result.token_ids, prompt.images[i]->prepared.layout,
                                        prompt.sources[i].image);
            break;
        }
    result.video_frames = videoFramesOf(prompt);
    return result;
}

std::vector<std::int32_t> Engine::promptTokens(const Request& request) {
    std::lock_guard lock(impl_->mutex);
    impl_->requireLocal("listing the prompt's tokens");
    torch::InferenceMode inference;
    Timings timings;
    Prompt prompt = impl_->buildPrompt(request, timings, nullptr, {});
    return {prompt.ids.begin(), prompt.ids.end()};
}

std::vector<float> Engine::sequenceLogits(const std::vector<std::int32_t>& ids, std::int64_t& vocab) {
    std::lock_guard lock(impl_->mutex);
    impl_->requireLocal("scoring logits");
    if (ids.empty())
        throw Error("no token ids to score");
    torch::InferenceMode inference;
    auto& net = impl_->model->runtime->model();
    auto t = torch::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), torch::kInt64);
    torch::Tensor embeds;
    try {
        embeds = net.embedTokens(t);
    } catch (const c10::Error&) {
        throw Error("a token id is outside the model's vocabulary");
    }
    auto cache = net.newCache(static_cast<std::int64_t>(ids.size()));
    auto logits = net.forward(embeds, cache, /*all_logits=*/true).to(torch::kCPU, torch::kFloat32).contiguous();
    vocab = logits.size(1);
    return {logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel()};
}

}  // namespace vqa
