#include "engine/generation/PromptEmbedding.h"

#include <string>

#include "models/base/Error.h"

namespace vqa {

namespace {

// The image positions at or after `from`, as rows counted from `from`, and which image token
// (feature row) each one is.
struct RowsFrom {
    std::vector<std::int64_t> rows, feature_index;
    RowsFrom(const std::vector<std::int64_t>& image_positions, std::int64_t from) {
        for (std::size_t k = 0; k < image_positions.size(); ++k)
            if (image_positions[k] >= from) {
                rows.push_back(image_positions[k] - from);
                feature_index.push_back(static_cast<std::int64_t>(k));
            }
    }
};

}  // namespace

std::vector<std::int64_t> imageTokenPositions(const std::vector<std::int64_t>& ids, std::int64_t image_token_id) {
    std::vector<std::int64_t> positions;
    for (std::size_t i = 0; i < ids.size(); ++i)
        if (ids[i] == image_token_id)
            positions.push_back(static_cast<std::int64_t>(i));
    return positions;
}

torch::Tensor embedPrompt(models::VisionLanguageModel& model, const std::vector<std::int64_t>& ids,
                          const std::vector<std::int64_t>& image_positions, const torch::Tensor& image_features,
                          std::int64_t from) {
    const auto length = static_cast<std::int64_t>(ids.size());
    if (from < 0 || from > length)
        throw Error("embedPrompt: position " + std::to_string(from) + " is outside a prompt of " +
                    std::to_string(length) + " tokens");
    const std::int64_t feature_rows =
        image_features.defined() && image_features.dim() > 0 ? image_features.numel() / image_features.size(-1) : 0;
    if (static_cast<std::int64_t>(image_positions.size()) != feature_rows)
        throw Error("the prompt has " + std::to_string(image_positions.size()) + " image tokens, but the images give " +
                    std::to_string(feature_rows) + " feature rows");
    const auto options = torch::TensorOptions().dtype(torch::kInt64);
    const auto tail = torch::tensor(std::vector<std::int64_t>(ids.begin() + from, ids.end()), options);
    torch::Tensor embeds = model.embedTokens(tail.to(model.device()));
    // The image positions in the part embedded here, and which feature row each one takes.
    const RowsFrom part(image_positions, from);
    if (part.rows.empty())
        return embeds;
    const auto features = image_features.reshape({-1, embeds.size(-1)})
                              .index_select(0, torch::tensor(part.feature_index, options).to(image_features.device()));
    return embeds.index_copy(0, torch::tensor(part.rows, options).to(embeds.device()),
                             features.to(embeds.device(), embeds.scalar_type()));
}

models::LayerAdditions promptAdditions(const std::vector<std::int64_t>& image_positions,
                                       const std::vector<torch::Tensor>& layers, std::int64_t from) {
    models::LayerAdditions additions;
    if (layers.empty())
        return additions;
    const RowsFrom part(image_positions, from);
    if (part.rows.empty())
        return additions;
    const auto options = torch::TensorOptions().dtype(torch::kInt64);
    additions.rows = torch::tensor(part.rows, options);
    for (const auto& layer : layers) {
        const auto flat = layer.reshape({-1, layer.size(-1)});
        if (flat.size(0) != static_cast<std::int64_t>(image_positions.size()))
            throw Error("the prompt has " + std::to_string(image_positions.size()) +
                        " image tokens, but the images' layer features have " + std::to_string(flat.size(0)) +
                        " rows");
        additions.per_layer.push_back(
            flat.index_select(0, torch::tensor(part.feature_index, options).to(flat.device())));
    }
    return additions;
}

torch::Tensor embedPrompt(models::VisionLanguageModel& model, const torch::Tensor& ids,
                          const torch::Tensor& image_features, std::int64_t from) {
    const auto flat = ids.to(torch::kCPU, torch::kInt64).contiguous().reshape({-1});
    const std::vector<std::int64_t> values(flat.data_ptr<std::int64_t>(), flat.data_ptr<std::int64_t>() + flat.numel());
    return embedPrompt(model, values, imageTokenPositions(values, model.imageTokenId()), image_features, from);
}

}  // namespace vqa
