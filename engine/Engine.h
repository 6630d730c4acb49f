// The engine's front door, used by the CLI, the Qt worker and tests. Synchronous: it runs
// on the caller's thread (the worker puts it on a QThread). Free of LibTorch and Qt.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/Types.h"

namespace vqa {

class Tokenizer;

// Decodes an image file into RGB (EXIF orientation applied), refusing files that are not
// images or that declare more pixels than the engine accepts. Throws vqa::Error.
RgbImage loadImageFile(const std::string& path);

using ProgressCallback = std::function<void(const Progress&)>;
using TokenCallback = std::function<void(const TokenEvent&)>;

class Engine {
public:
    Engine();
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Loads the model folder (config.json, *.safetensors, tokenizer and processor files).
    // On failure throws vqa::Error and keeps the model loaded before, if any.
    ModelInfo load(const std::string& model_dir, const LoadOptions& options = {},
                   const ProgressCallback& progress = {});
    // Answers with a model on an OpenAI-compatible server instead (engine/remote/): checks
    // the server lists the model (or settles on its only one) and forgets the local model.
    // generate() then streams from the server; what needs the model's internals (relevancy,
    // logits, prompt tokens) says so. A later load() goes back to a local model. Throws
    // vqa::Error, keeping what was in use before, when the server cannot be used.
    ModelInfo connect(const RemoteServer& server);
    bool hasModel() const;
    ModelInfo modelInfo() const;
    const Tokenizer* tokenizer() const;

    // Answers the request's last user turn, streaming tokens through on_token. Checks
    // `cancel` at every step. Errors are reported in the result (stop == Error).
    GenerationResult generate(const Request& request, const TokenCallback& on_token = {},
                              const std::atomic<bool>* cancel = nullptr,
                              const ProgressCallback& progress = {});

    // Answers several independent requests together (captioning a folder): each is prepared
    // and read on its own, then their answers are decoded as one batch, a step for all of them
    // at once, which reads the model's weights once per step instead of once per answer.
    // `on_done(i, result)` is called as request i's answer ends, in the order they end; the
    // results are returned in the requests' order. Nothing is streamed, no attention kept, and
    // the conversation's cached prefix is left alone. A request that fails (an image that
    // cannot be encoded) fails alone; `cancel` stops them all (stop == Cancelled). With a
    // model on a server, the requests are answered one after the other.
    std::vector<GenerationResult> generateBatch(
        const std::vector<Request>& requests,
        const std::function<void(std::size_t, const GenerationResult&)>& on_done = {},
        const std::atomic<bool>* cancel = nullptr);

    // Preprocesses and encodes an image ahead of a question about it (the window does this
    // when an image is shown, while the user types), so that question starts at its
    // prefill. Keyed like Request::image_keys and prepared with `options` as the question's
    // Request::image_options will be; the engine keeps the most recent encodings.
    // False when no model is loaded, the image cannot be encoded (a question about it then
    // reports why), or `abandon` (checked between encoder layers) said to stop.
    // With `timings`, what the encoding took: encode_ms (0 when it was encoded before) and
    // image_tokens.
    bool prepareImage(const std::shared_ptr<const RgbImage>& image, const std::string& key,
                      const ImageOptions& options = {}, const std::function<bool()>& abandon = {},
                      Timings* timings = nullptr);

    // The image tokens a width x height image makes with the loaded model under `options`,
    // without preparing it (the window's image detail shows it); -1 with no model, a model on
    // a server, or a family that cannot tell.
    int imageTokenCount(int width, int height, const ImageOptions& options = {}) const;

    // The model's next-token logits at every position of `ids`, text alone, in one pass from an
    // empty cache (teacher forcing): [ids.size() * vocab] row-major, vocab set. For comparing
    // one precision with another (`vqa logits`, tests/bench/run_bench.py). Throws vqa::Error
    // without a model, or for an empty sequence or an id outside the vocabulary.
    std::vector<float> sequenceLogits(const std::vector<std::int32_t>& ids, std::int64_t& vocab);

    // The log-probability (natural log, float32) of each token of `answer_ids` given the
    // request's prompt and the answer's tokens before it: teacher forcing, one pass over the
    // prompt and one over the answer. What explanations compare: the same answer scored with
    // the image made neutral, occluded, or left out (explain/ImageReliance.h). Images encoded
    // only for this are not kept, and the conversation's cached prefix is left alone.
    // Nullopt when `cancel` was set (checked between layers); throws vqa::Error without a
    // local model, for an id outside the vocabulary, or a sequence longer than the context.
    std::optional<std::vector<float>> scoreAnswer(const Request& request, const std::vector<std::int32_t>& answer_ids,
                                                  const std::atomic<bool>* cancel = nullptr);

    // The logits behind scoreAnswer: [answer_ids.size() * vocab] row-major, vocab set, row i
    // predicting answer_ids[i] after the request's prompt (its images included) and the ids
    // before it. For comparing one precision with another where the image matters (`vqa logits
    // --image`: the "fast" precision changes the vision tower, and the prefill of 16 tokens or more). Throws vqa::Error as
    // scoreAnswer does, and for an empty answer.
    std::vector<float> answerLogits(const Request& request, const std::vector<std::int32_t>& answer_ids,
                                    std::int64_t& vocab);

    // The token ids of the prompt generate() would run for this request (image tokens
    // expanded), for inspection and tests.
    std::vector<std::int32_t> promptTokens(const Request& request);

    // Heatmap grids for tokens [first, last) of the last answer, reduced anew with `params`
    // (layer range, head) from the attention kept from that answer. Empty when it was
    // generated without capture, or when the tokens were past the kept budget.
    std::vector<HeatmapGrid> attentionGrids(int first, int last, const ExplainParams& params);

    // Every layer's and head's map of tokens [first, last) of the last answer (the mean over
    // those tokens), layer by layer, from the attention kept from that answer: what the
    // window's layer x head explorer draws. Empty when there is none.
    std::vector<HeadMap> headMaps(int first, int last);

    // Attention rollout maps (Abnar & Zuidema 2020) of the last answer: for each range
    // [first, last) of its tokens, their attention over the image tokens (reduced with
    // `params`, as attentionGrids) carried through the vision tower's attention rollout back
    // to the tower's input patches, as grids at patch resolution. One tower pass per image of
    // `request` (the request that produced the answer). Throws vqa::Error for a family whose
    // tower does not expose its attention (Idefics3 and LLaVA do) or without kept attention.
    std::vector<std::vector<HeatmapGrid>> rolloutGrids(const Request& request,
                                                       const std::vector<std::pair<int, int>>& ranges,
                                                       const ExplainParams& params);

    // Relevancy of answer token `index` (gradient-weighted attention, computed with
    // autograd over one forward pass) for the request that produced `answer_ids`.
    // Throws vqa::Error on bad arguments.
    std::vector<HeatmapGrid> relevancy(const Request& request, const std::vector<std::int32_t>& answer_ids,
                                       int index);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vqa
