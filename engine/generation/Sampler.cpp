#include "engine/generation/Sampler.h"

#include <ATen/CPUGeneratorImpl.h>

namespace vqa {

Sampler::Sampler(const GenerationParams& params, BannedWords banned)
    : params_(params), banned_(std::move(banned)), generator_(at::make_generator<at::CPUGeneratorImpl>(params.seed)) {}

torch::Tensor Sampler::process(const torch::Tensor& logits, const std::vector<std::int64_t>& history) const {
    return process(logits, history, banned_.empty() ? std::vector<std::int64_t>{} : banned_.bannedNext(history));
}

torch::Tensor Sampler::process(const torch::Tensor& logits, const std::vector<std::int64_t>& history,
                               const std::vector<std::int64_t>& banned) const {
    torch::Tensor scores = logits.to(torch::kCPU, torch::kFloat32).flatten().clone();
    if (params_.repetition_penalty != 1.0f && !history.empty()) {
        auto ids = torch::tensor(history, torch::kInt64);
        auto seen = scores.index_select(0, ids);
        // Positive scores are divided, negative multiplied: both make the token less likely.
        seen = torch::where(seen > 0, seen / params_.repetition_penalty, seen * params_.repetition_penalty);
        scores.index_put_({ids}, seen);
    }
    const float neg_inf = -std::numeric_limits<float>::infinity();
    if (!banned.empty())
        scores.index_fill_(0, torch::tensor(banned, torch::kInt64), neg_inf);
    if (params_.temperature <= 0.0f)
        return scores;
    scores = scores / params_.temperature;
    const auto vocab = scores.size(0);
    if (params_.top_k > 0 && params_.top_k < vocab) {
        auto kth = std::get<0>(scores.topk(params_.top_k)).index({-1});
        scores.masked_fill_(scores < kth, neg_inf);
    }
    if (params_.top_p < 1.0f) {
        auto [sorted, order] = scores.sort(/*dim=*/0, /*descending=*/false);
        auto cumulative = sorted.softmax(0).cumsum(0);
        // Drop the low tail whose mass is at most 1 - top_p; always keep the best token.
        auto remove = cumulative <= (1.0f - params_.top_p);
        remove.index_put_({-1}, false);
        scores.index_put_({order.masked_select(remove)}, neg_inf);
    }
    return scores;
}

std::int64_t Sampler::next(const torch::Tensor& logits, const std::vector<std::int64_t>& history) {
    // Plain greedy needs no copy of the logits: the first maximum, as argmax gives it.
    const std::vector<std::int64_t> banned =
        banned_.empty() ? std::vector<std::int64_t>{} : banned_.bannedNext(history);
    if (params_.temperature <= 0.0f && params_.repetition_penalty == 1.0f && banned.empty())
        return logits.flatten().argmax().item<std::int64_t>();
    torch::Tensor scores = process(logits, history, banned);
    if (params_.temperature <= 0.0f)
        return scores.argmax().item<std::int64_t>();
    auto probs = scores.softmax(0);
    return torch::multinomial(probs, 1, /*replacement=*/false, generator_).item<std::int64_t>();
}

}  // namespace vqa
