// One answer being decoded, token by token: its sampler, the ids it is conditioned on, its
// text so far. What a decode loop does with a step's logits, shared by the one-answer loop
// and the batched one (Engine.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include <torch/torch.h>

#include "engine/Types.h"
#include "engine/generation/Sampler.h"
#include "engine/text/StreamingDetokenizer.h"

namespace vqa {

class Tokenizer;

class Answer {
public:
    // `tokenizer` and `stop_ids` must outlive the answer. `prompt` holds the ids before the
    // answer (the repetition penalty sees them). At most `max_new` tokens.
    Answer(const Tokenizer& tokenizer, const GenerationParams& params, const std::set<std::int64_t>& stop_ids,
           const std::vector<std::int64_t>& prompt, std::int64_t max_new);

    // Chooses the next token from `logits` ([vocab], any shape that flattens to it) and adds
    // it: its event (index, id, the text it completes). Nullopt when it ends the answer
    // instead (result().stop becomes EndOfTurn).
    std::optional<TokenEvent> next(const torch::Tensor& logits);
    // True once max_new tokens were taken: no forward pass is needed for another.
    bool full() const { return static_cast<std::int64_t>(result_.token_ids.size()) >= max_new_; }

    // Ends the answer: the text held back for an incomplete character, as a last event (id -1),
    // or nullopt when there is none. Call once.
    std::optional<TokenEvent> finish();

    GenerationResult& result() { return result_; }

private:
    GenerationParams params_;
    const std::set<std::int64_t>& stop_ids_;
    Sampler sampler_;
    StreamingDetokenizer detok_;
    std::vector<std::int64_t> history_;
    std::int64_t max_new_;
    GenerationResult result_;
};

}  // namespace vqa
