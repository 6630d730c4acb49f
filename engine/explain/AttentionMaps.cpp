#include "engine/explain/AttentionMaps.h"

#include "engine/Error.h"

namespace vqa {

AttentionMapper::AttentionMapper(std::vector<ImageLayout> layouts, const ExplainParams& params)
    : layouts_(std::move(layouts)), params_(params) {}

torch::Tensor AttentionMapper::reduce(const models::AttentionCapture& capture) const {
    const int layers = static_cast<int>(capture.rows.size());
    if (layers == 0)
        return {};
    // The upper half of the layers: in SmolVLM the lower layers spread attention evenly
    // over the image, the upper ones pick out the regions the answer is about.
    const int first = layers / 2;
    std::vector<torch::Tensor> picked(capture.rows.begin() + first, capture.rows.end());
    auto stacked = torch::stack(picked).to(torch::kCPU, torch::kFloat32);  // [L, H, N]
    return stacked.mean(/*dim=*/{0, 1});
}

std::vector<HeatmapGrid> AttentionMapper::grids(const models::AttentionCapture& capture) const {
    std::vector<HeatmapGrid> out;
    torch::Tensor values = reduce(capture);
    if (!values.defined())
        return out;
    const float* data = values.data_ptr<float>();
    std::int64_t offset = 0;
    for (const auto& layout : layouts_) {
        for (const auto& block : layout.blocks) {
            if (offset + block.tokens() > values.size(0))
                throw Error("attention capture has fewer image tokens than the image layout");
            HeatmapGrid grid;
            grid.rows = block.grid_rows;
            grid.cols = block.grid_cols;
            grid.values.assign(data + offset, data + offset + block.tokens());
            grid.x = block.x;
            grid.y = block.y;
            grid.width = block.width;
            grid.height = block.height;
            grid.global_view = block.global_view;
            out.push_back(std::move(grid));
            offset += block.tokens();
        }
    }
    return out;
}

}  // namespace vqa
