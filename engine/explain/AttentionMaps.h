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
    AttentionMapper(std::vector<ImageLayout> layouts, const ExplainParams& params);

    // Reduces the capture (default: mean over heads of the upper half of the layers) and
    // splits it into one grid per block of every image, in prompt order.
    std::vector<HeatmapGrid> grids(const models::AttentionCapture& capture) const;

    // The reduction alone: one value per image token, float32 on the CPU.
    torch::Tensor reduce(const models::AttentionCapture& capture) const;

private:
    std::vector<ImageLayout> layouts_;
    ExplainParams params_;
};

}  // namespace vqa
