#include "engine/generation/Answer.h"

#include "engine/generation/BannedWords.h"
#include "engine/text/Tokenizer.h"

namespace vqa {

Answer::Answer(const Tokenizer& tokenizer, const GenerationParams& params, const std::set<std::int64_t>& stop_ids,
               const std::vector<std::int64_t>& prompt, std::int64_t max_new)
    : params_(params), stop_ids_(stop_ids),
      sampler_(params, BannedWords(tokenizer, params.banned_words)),
      // Special tokens (an <image> a small model may emit) are not part of the answer's text.
      detok_(tokenizer, /*skip_special_tokens=*/true), history_(prompt), max_new_(max_new) {
    history_.reserve(prompt.size() + static_cast<std::size_t>(std::max<std::int64_t>(max_new, 0)));
    result_.stop = StopReason::MaxTokens;
}

std::optional<TokenEvent> Answer::next(const torch::Tensor& logits) {
    const std::int64_t id = sampler_.next(logits.reshape({-1}), history_);
    if (!params_.ignore_eos && stop_ids_.count(id)) {
        result_.stop = StopReason::EndOfTurn;
        return std::nullopt;
    }
    history_.push_back(id);
    TokenEvent event;
    event.index = static_cast<int>(result_.token_ids.size());
    event.id = static_cast<std::int32_t>(id);
    event.text = detok_.push(static_cast<TokenId>(id));
    result_.token_ids.push_back(event.id);
    result_.text += event.text;
    return event;
}

std::optional<TokenEvent> Answer::finish() {
    std::string tail = detok_.finish();
    if (tail.empty())
        return std::nullopt;
    result_.text += tail;
    TokenEvent event;
    event.index = static_cast<int>(result_.token_ids.size());
    event.id = -1;
    event.text = std::move(tail);
    return event;
}

}  // namespace vqa
