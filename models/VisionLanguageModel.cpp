#include "models/VisionLanguageModel.h"

#include "models/base/Error.h"

namespace vqa::models {

torch::Tensor mergeImageFeatures(const torch::Tensor& embeds, const torch::Tensor& ids,
                                 const torch::Tensor& features, std::int64_t image_token_id) {
    const auto hidden = embeds.size(-1);
    auto rows = torch::nonzero(ids.to(embeds.device()).eq(image_token_id)).flatten();
    auto flat = features.reshape({-1, hidden});
    if (rows.size(0) != flat.size(0))
        throw Error("the prompt has " + std::to_string(rows.size(0)) +
                    " image tokens, but the images give " + std::to_string(flat.size(0)) +
                    " feature rows");
    if (rows.size(0) == 0)
        return embeds;
    return embeds.index_copy(0, rows, flat.to(embeds.device(), embeds.scalar_type()));
}

} // namespace vqa::models
