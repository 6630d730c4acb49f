// Turns captured attention rows (per layer: [heads, image tokens]) into heatmap grids over
// the original image, one per token block (tile or global view).
#pragma once

#include <vector>

#include <torch/torch.h>

#include "engine/Types.h"
#include "engine/explain/ImageLayout.h"
#include "models/VisionLanguageModel.h"

namespace vqa {

class AttentionMapper {
public:
    AttentionMapper() = default;
    explicit AttentionMapper(std::vector<ImageLayout> layouts) : layouts_(std::move(layouts)) {}

    // One step's capture as [layers, heads, image tokens] on the CPU; float16 keeps it
    // compact for storage, float32 keeps it exact.
    static torch::Tensor pack(const models::AttentionCapture& capture, torch::ScalarType dtype);

    // Reduces a packed capture to one value per image token (float32, CPU): the layers
    // and heads ExplainParams names; by default the mean over heads of the upper half of
    // the layers (in SmolVLM the lower layers spread attention evenly over the image,
    // the upper ones pick out the regions the answer is about).
    static torch::Tensor reduce(const torch::Tensor& packed, const ExplainParams& params);

    // Splits per-image-token values into one grid per block of every image, in prompt order.
    std::vector<HeatmapGrid> split(const torch::Tensor& values) const;

private:
    std::vector<ImageLayout> layouts_;
};

}  // namespace vqa
