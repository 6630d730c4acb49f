// Several independent answers decoded together (Engine::generateBatch): each request prepared
// and read on its own into a cache of its own, then one decode step for all the answers still
// going, through VisionLanguageModel::stepBatch.
#include "engine/EngineImpl.h"

#include "engine/explain/Grounding.h"
#include "engine/generation/Answer.h"
#include "models/Interrupt.h"

namespace vqa {

std::vector<GenerationResult> Engine::generateBatch(
    const std::vector<Request>& requests, const std::function<void(std::size_t, const GenerationResult&)>& on_done,
    const std::atomic<bool>* cancel) {
    std::lock_guard lock(impl_->mutex);
    impl_->beginRequest();
    if (!impl_->remote)
        return impl_->generateBatch(requests, on_done, cancel);
    // A server answers one request at a time.
    std::vector<GenerationResult> results(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
        if (cancel && cancel->load()) {
            results[i].stop = StopReason::Cancelled;
        } else {
            try {
                results[i] = impl_->generateRemote(requests[i], {}, cancel);
            } catch (...) {
                results[i] = impl_->failure(std::current_exception());
            }
        }
        if (on_done)
            on_done(i, results[i]);
    }
    return results;
}

std::vector<GenerationResult> Engine::Impl::generateBatch(
    const std::vector<Request>& requests, const std::function<void(std::size_t, const GenerationResult&)>& on_done,
    const std::atomic<bool>* cancel) {
    std::vector<GenerationResult> results(requests.size());
    auto finish = [&](std::size_t i, GenerationResult result) {
        results[i] = std::move(result);
        if (on_done)
            on_done(i, results[i]);
    };
    if (!model) {
        for (std::size_t i = 0; i < requests.size(); ++i)
            finish(i, failure(std::make_exception_ptr(Error("no model is loaded: open a model folder first"))));
        return results;
    }
    const auto submitted = Clock::now();
    torch::InferenceMode inference;
    auto& net = model->runtime->model();
    auto cancelled = [&] { return cancel && cancel->load(); };
    models::InterruptScope interrupt([cancel] {
        if (cancel && cancel->load())
            throw Cancelled{};
    });
    auto stopped = [](Timings timings = {}) {
        GenerationResult result;
        result.stop = StopReason::Cancelled;
        result.timings = timings;
        return result;
    };

    // Each request read on its own into its own cache, sized for its prompt and answer.
    struct Sequence {
        std::size_t index;
        models::KvCache cache;
        std::unique_ptr<Answer> answer;
        torch::Tensor logits;  // the next token's
        Timings timings;
        Clock::time_point decode_start;
        ImageLayout layout;  // of the prompt's last image, for the boxes an answer names
        int images = 0;
    };
    std::vector<Sequence> active;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        if (cancelled()) {
            finish(i, stopped());
            continue;
        }
        Sequence sequence{i, {}, nullptr, {}, {}, {}, {}, 0};
        try {
            Timings& timings = sequence.timings;
            Prompt prompt = buildPrompt(requests[i], timings, cancel, {});
            const auto prompt_len = static_cast<std::int64_t>(prompt.ids.size());
            const std::int64_t context = model->runtime->contextLength();
            if (prompt_len + 1 > context)
                throw Error("the prompt is " + std::to_string(prompt_len) +
                            " tokens long, more than the model's context of " + std::to_string(context) + " tokens");
            const std::int64_t max_new =
                std::min<std::int64_t>(requests[i].generation.max_new_tokens, context - prompt_len);
            timings.prompt_tokens = static_cast<int>(prompt_len);
            enterStage("prefill", "reading the prompt");
            const auto start = Clock::now();
            sequence.cache = net.newCache(prompt_len + std::max<std::int64_t>(max_new, 1));
            const models::LayerAdditions layer_additions = additions(prompt, 0);
            sequence.logits = net.forward(embed(prompt, 0), sequence.cache, /*all_logits=*/false, nullptr,
                                          prompt.ropePositionsFrom(0), &layer_additions);
            timings.prefill_ms = msSince(start);
            sequence.answer = std::make_unique<Answer>(*model->tokenizer, requests[i].generation, model->stop_ids,
                                                       prompt.ids, max_new);
            for (std::size_t m = prompt.images.size(); m-- > 0;)
                if (prompt.sources[m].image >= 0) {  // boxes are named on the last image
                    sequence.layout = prompt.images[m]->prepared.layout;
                    sequence.images = prompt.sources[m].image + 1;
                    break;
                }
            sequence.decode_start = Clock::now();
            active.push_back(std::move(sequence));
        } catch (const Cancelled&) {
            finish(i, stopped(sequence.timings));
        } catch (...) {
            finish(i, failure(std::current_exception()));
        }
    }

    // Decoding, a step for every answer still going; an answer that ends leaves the batch.
    auto end = [&](Sequence& sequence, std::optional<StopReason> stop = {}) {
        Answer& answer = *sequence.answer;
        answer.finish();
        GenerationResult& result = answer.result();
        if (stop)
            result.stop = *stop;
        sequence.timings.new_tokens = static_cast<int>(result.token_ids.size());
        sequence.timings.decode_ms = msSince(sequence.decode_start);
        result.timings = sequence.timings;
        if (sequence.images > 0)
            result.boxes = groundAnswer(*model->tokenizer, result.token_ids, sequence.layout, sequence.images - 1);
        finish(sequence.index, std::move(result));
    };
    std::exception_ptr error;  // what stopped the decoding, if anything
    bool interrupted = false;
    try {
        enterStage("decode", "generating the answers");
    } catch (...) {
        error = std::current_exception();
    }
    while (!active.empty() && !error) {
        if (cancelled()) {
            interrupted = true;
            break;
        }
        // Each answer takes its token; those that end leave the batch.
        std::vector<std::int64_t> next;
        std::vector<Sequence> going;
        for (auto& sequence : active) {
            const bool first = sequence.answer->result().token_ids.empty();
            const std::optional<TokenEvent> event = sequence.answer->next(sequence.logits);
            if (first) {
                sequence.timings.first_token_ms = msSince(submitted);
                sequence.decode_start = Clock::now();
            }
            if (!event || sequence.answer->full()) {
                end(sequence);
                continue;
            }
            next.push_back(event->id);
            going.push_back(std::move(sequence));
        }
        active = std::move(going);
        if (active.empty())
            break;
        std::vector<models::KvCache*> caches;
        for (auto& sequence : active)
            caches.push_back(&sequence.cache);
        try {
            const auto logits =
                net.stepBatch(net.embedTokens(torch::tensor(next, torch::kInt64).to(net.device())), caches);
            for (std::size_t b = 0; b < active.size(); ++b)
                active[b].logits = logits[static_cast<std::int64_t>(b)];
        } catch (const Cancelled&) {
            interrupted = true;
            break;
        } catch (...) {
            error = std::current_exception();
        }
    }
    for (auto& sequence : active) {
        if (error)
            finish(sequence.index, failure(error));
        else if (interrupted)
            end(sequence, StopReason::Cancelled);
    }
    return results;
}

}  // namespace vqa
