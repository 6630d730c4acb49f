#include "models/VisionLanguageModel.h"

#include "models/base/Error.h"

namespace vqa::models {

torch::Tensor VisionLanguageModel::stepBatch(const torch::Tensor& embeds, const std::vector<KvCache*>& caches) {
    if (embeds.dim() != 2 || embeds.size(0) != static_cast<std::int64_t>(caches.size()))
        throw Error("a batched step needs one embedding row per cache");
    std::vector<torch::Tensor> logits;
    for (std::size_t b = 0; b < caches.size(); ++b)
        logits.push_back(forward(embeds.narrow(0, static_cast<std::int64_t>(b), 1), *caches[b], false));
    return torch::cat(logits, 0);
}

} // namespace vqa::models
