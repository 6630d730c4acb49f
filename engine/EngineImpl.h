// What Engine's implementation files share (Engine.cpp: loading, preparing prompts and one
// answer; EngineBatch.cpp: several answers together; EngineExplain.cpp: what explains an
// answer): the state behind Engine and the types its pieces pass each other. Private to the
// engine: nothing outside engine/Engine*.cpp includes it.
#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <torch/torch.h>

#include "engine/Engine.h"
#include "engine/EngineTesting.h"
#include "engine/explain/AttentionMaps.h"
#include "engine/families/FamilyRuntime.h"
#include "engine/io/Checkpoint.h"
#include "engine/text/ChatFormat.h"
#include "engine/text/Tokenizer.h"
#include "models/VisionLanguageModel.h"
#include "models/base/Error.h"

namespace vqa {

using Clock = std::chrono::steady_clock;
inline double msSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// An image after preprocessing and vision encoding, kept per image key. The pixel values
// are dropped once encoded (a split image's tiles are tens of megabytes); the prompt text
// and layout stay.
struct EncodedImage {
    PreparedImage prepared;
    torch::Tensor features;  // [tokens, hidden] on the model's device
    std::vector<torch::Tensor> layers;  // DeepStack's per-layer features, [tokens, hidden] each
    std::uint64_t last_used = 0;
};

// How many encoded images the engine keeps; the least recently used go first.
constexpr std::size_t kMaxCachedImages = 16;

// An image's encoding depends on its key and on how it was prepared: the same picture at
// another detail is another encoding (and another prompt, so no KV prefix is shared).
// An image's encoding is kept under its key and the options the family's preparation uses.
inline std::string imageCacheKey(const FamilyRuntime& runtime, const std::string& key, const ImageOptions& options) {
    const ImageOptions used = runtime.imageOptionsUsed(options);
    if (used == ImageOptions{})
        return key;
    return key + "\x1f" + "tokens=" + std::to_string(used.max_image_tokens);
}

// A video's encoding is kept under its key alone (its frames do not follow the image detail).
inline std::string videoCacheKey(const VideoInput& video) {
    return "video\x1f" + (video.key.empty() ? video.path : video.key);
}

// The cache keys of a request's images, then of its videos.
inline std::vector<std::string> imageCacheKeys(const FamilyRuntime& runtime, const Request& request) {
    std::vector<std::string> keys;
    for (const auto& key : request.image_keys)
        keys.push_back(imageCacheKey(runtime, key, request.image_options));
    for (const auto& video : request.videos)
        keys.push_back(videoCacheKey(video));
    return keys;
}

// How many images and videos one question may carry: more would not fit any model's context
// at a useful detail, and a window or a script that sends more has made a mistake.
constexpr std::size_t kMaxImagesPerRequest = 16;
constexpr std::size_t kMaxVideosPerRequest = 4;

// One picture of a prompt, in the conversation's order: Request::images[image] or
// Request::videos[video] (the other is -1).
struct MediaRef {
    int image = -1;
    int video = -1;
};

// The test hook of EngineTesting.h (Engine.cpp).
testhooks::StageHook& stageHook();

// The prompt of one request as token ids, with where its image tokens are.
struct Prompt {
    std::vector<std::int64_t> ids;
    std::vector<std::int64_t> image_positions;
    std::vector<const EncodedImage*> images;  // its images and videos, in the prompt's order
    std::vector<MediaRef> sources;            // which of the request's each one is
    std::vector<std::string> media_keys;      // their cache keys, in the prompt's order
    // The family's rotary positions of `ids` ([3, T]), or undefined: see FamilyRuntime::positions.
    torch::Tensor rope_positions;
    // Those of positions [from, T), or undefined.
    torch::Tensor ropePositionsFrom(std::int64_t from) const {
        return rope_positions.defined() ? rope_positions.narrow(-1, from, rope_positions.size(-1) - from)
                                        : torch::Tensor();
    }
};

// Thrown inside the engine when the cancel flag is seen between stages.
struct Cancelled {};

// Attention of the last answer, kept for re-aggregation: one [layers, heads, image tokens]
// float16 tensor per token, up to a budget (about 256 MiB), so long answers stay bounded.
struct KeptAttention {
    static constexpr std::int64_t kBudgetBytes = 256ll << 20;
    std::vector<torch::Tensor> per_token;
    AttentionMapper mapper;
    std::int64_t bytes = 0;
    void clear() { *this = {}; }
    // The mean over tokens [first, last) of their rows, each first passed through `each`;
    // undefined when none of them is kept.
    template <typename Each>
    torch::Tensor meanOver(int first, int last, Each each) const {
        first = std::max(first, 0);
        last = std::min<int>(last, static_cast<int>(per_token.size()));
        torch::Tensor sum;
        for (int t = first; t < last; ++t) {
            auto v = each(per_token[static_cast<std::size_t>(t)]);
            sum = sum.defined() ? sum + v : v;
        }
        return sum.defined() ? sum / static_cast<double>(last - first) : sum;
    }
    void add(torch::Tensor packed) {
        const std::int64_t size = packed.numel() * 2;
        if (bytes + size > kBudgetBytes)
            return;
        bytes += size;
        per_token.push_back(std::move(packed));
    }
};

struct Engine::Impl {
    // Everything that belongs to one loaded model; replaced whole on a successful load.
    struct Loaded {
        ModelInfo info;
        std::shared_ptr<Checkpoint> checkpoint;  // while its files are in use
        std::unique_ptr<Tokenizer> tokenizer;
        std::unique_ptr<ChatFormat> chat_format;
        std::unique_ptr<FamilyRuntime> runtime;
        std::set<std::int64_t> stop_ids;
    };
    std::unique_ptr<Loaded> model;
    // Or a model on a server (connect()): then `model` is empty.
    std::optional<RemoteServer> remote;

    // Throws for what only a local model can do.
    void requireLocal(const char* what) const {
        if (remote)
            throw Error(std::string(what) + " needs the model's internals, which a server does not send: open a local "
                        "model (or use a VQA Studio server) for it");
        if (!model)
            throw Error("no model is loaded: open a model folder first");
    }

    // The conversation state kept between turns: what the KV cache holds, so a follow-up
    // question reuses the prefix instead of prefilling the image again.
    models::KvCache cache;
    std::vector<std::int64_t> cached_ids;
    std::vector<std::string> cached_image_keys;  // Prompt::media_keys of the cached prefix
    std::map<std::string, EncodedImage> images;
    std::uint64_t image_uses = 0;
    KeptAttention kept;

    std::mutex mutex;
    // What hasModel() and modelInfo() answer, under a lock of its own: `mutex` is held for a
    // whole answer, and those two are asked from other threads meanwhile (the server, the
    // window's worker) without waiting for it. Set with the model, under both locks.
    mutable std::mutex info_mutex;
    std::optional<ModelInfo> current_info;
    // What the current request is doing, for messages (out of memory "while ...").
    const char* stage = "";
    // Whether the current request has been taken as asked and is being answered (its prefill
    // started, or a server was asked): an Error before that is the request's (refused).
    bool answering = false;

    void beginRequest() {
        stage = "preparing the request";
        answering = false;
    }

    void enterStage(const char* name, const char* description) {
        stage = description;
        answering = answering || std::string_view(name) == "prefill" || std::string_view(name) == "decode";
        if (stageHook())
            stageHook()(name);
    }

    void resetSession() {
        cache = {};
        cached_ids.clear();
        cached_image_keys.clear();
        images.clear();
        kept.clear();
    }

    GenerationResult generate(const Request& request, const TokenCallback& on_token,
                              const std::atomic<bool>* cancel, const ProgressCallback& progress);
    std::vector<GenerationResult> generateBatch(const std::vector<Request>& requests,
                                                const std::function<void(std::size_t, const GenerationResult&)>& on_done,
                                                const std::atomic<bool>* cancel);
    GenerationResult generateRemote(const Request& request, const TokenCallback& on_token,
                                    const std::atomic<bool>* cancel);
    // What escaped a request (`error`, a current exception) as its result: stop == Error and a
    // message, running out of memory said as such. The conversation's cache is dropped.
    GenerationResult failure(const std::exception_ptr& error);
    const EncodedImage& encodeImage(const Request& request, std::size_t index, Timings& timings,
                                    const ProgressCallback& progress);
    // A video read from its file at the frames the family samples, prepared and encoded.
    const EncodedImage& encodeVideo(const Request& request, std::size_t index, Timings& timings,
                                    const ProgressCallback& progress, const std::atomic<bool>* cancel);
    // Through the vision tower, kept under `key`: `chunk` tiles or frames at a time.
    const EncodedImage& encodePrepared(const std::string& key, PreparedImage prepared, Timings& timings,
                                       const ProgressCallback& progress, std::int64_t chunk);
    // The request's images and videos in the order its conversation names them; throws when
    // the counts disagree or pass the limits, or the family takes none of a kind.
    std::vector<MediaRef> mediaOrder(const Request& request) const;
    // What the request's videos showed the model (GenerationResult::video_frames).
    static std::vector<VideoFrames> videoFramesOf(const Prompt& prompt);
    // Forgets the least recently used encodings beyond kMaxCachedImages, except `keep`'s
    // (the request about to use them); called before a request takes pointers into the map.
    void trimImages(const std::vector<std::string>& keep);
    Prompt buildPrompt(const Request& request, Timings& timings, const std::atomic<bool>* cancel,
                       const ProgressCallback& progress);
    torch::Tensor embed(const Prompt& prompt, std::int64_t from) const;
    // The images' per-layer features (DeepStack) for positions [from, T) of the prompt.
    models::LayerAdditions additions(const Prompt& prompt, std::int64_t from) const;
    AttentionMapper mapperFor(const Prompt& prompt) const;
    void ensureCapacity(std::int64_t needed, std::int64_t keep);
};

}  // namespace vqa
