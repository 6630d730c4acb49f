// Picks the next token from logits: repetition penalty, banned words, then temperature, top-k
// and top-p (the order transformers applies them), or greedy argmax when temperature is 0.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "engine/Types.h"
#include "engine/generation/BannedWords.h"

namespace vqa {

class Sampler {
public:
    explicit Sampler(const GenerationParams& params, BannedWords banned = {});

    // logits: [vocab] (any float dtype, any device). `history` holds every token id the
    // penalty applies to (prompt and answer so far), as the reference does.
    std::int64_t next(const torch::Tensor& logits, const std::vector<std::int64_t>& history);

    // The same steps, exposed for tests: the processed scores before sampling.
    torch::Tensor process(const torch::Tensor& logits, const std::vector<std::int64_t>& history) const;

private:
    // process() with the banned tokens for this step already found.
    torch::Tensor process(const torch::Tensor& logits, const std::vector<std::int64_t>& history,
                          const std::vector<std::int64_t>& banned) const;

    GenerationParams params_;
    BannedWords banned_;
    torch::Generator generator_;
};

}  // namespace vqa
