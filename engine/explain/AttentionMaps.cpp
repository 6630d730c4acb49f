#include "engine/explain/AttentionMaps.h"

#include "models/base/Error.h"

namespace vqa {

torch::Tensor AttentionMapper::pack(const models::AttentionCapture& capture, torch::ScalarType dtype) {
    if (capture.rows.empty())
        return {};
    return torch::stack(capture.rows).to(torch::kCPU, dtype);
}

torch::Tensor AttentionMapper::reduce(const torch::Tensor& packed, const ExplainParams& params) {
    if (!packed.defined() || packed.dim() != 3)
        return {};
    const auto layers = packed.size(0);
    const auto heads = packed.size(1);
    std::int64_t first = params.layer_begin >= 0 ? params.layer_begin : layers / 2;
    std::int64_t last = params.layer_end >= 0 ? params.layer_end : layers - 1;
    if (first >= layers || last >= layers || first > last)
        throw Error("the layer range " + std::to_string(first) + "-" + std::to_string(last) +
                    " is outside the model's layers 0-" + std::to_string(layers - 1));
    if (params.head >= heads)
        throw Error("head " + std::to_string(params.head) + " is outside the model's heads 0-" +
                    std::to_string(heads - 1));
    auto x = packed.narrow(0, first, last - first + 1).to(torch::kFloat32);  // [L, H, N]
    if (params.head >= 0)
        x = x.select(1, params.head);
    else if (params.head_max)
        x = std::get<0>(x.max(1));
    else
        x = x.mean(1);
    return x.mean(0).contiguous();
}

std::vector<HeatmapGrid> AttentionMapper::split(const torch::Tensor& values) const {
    std::vector<HeatmapGrid> out;
    if (!values.defined())
        return out;
    auto v = values.to(torch::kCPU, torch::kFloat32).contiguous();
    const float* data = v.data_ptr<float>();
    std::int64_t offset = 0;
    for (const auto& layout : layouts_) {
        for (const auto& block : layout.blocks) {
            if (offset + block.tokens() > v.numel())
                throw Error("the attention has fewer image tokens than the image layout");
            HeatmapGrid grid;
            grid.rows = block.grid_rows;
            grid.cols = block.grid_cols;
            grid.values.assign(data + offset, data + offset + block.tokens());
            grid.x = block.x;
            grid.y = block.y;
            grid.width = block.width;
            grid.height = block.height;
            grid.global_view = block.global_view;
            grid.image = layout.video >= 0 ? -1 : layout.image;
            grid.video = layout.video;
            grid.frame = block.frame;
            grid.time_s = block.time_s;
            out.push_back(std::move(grid));
            offset += block.tokens();
        }
    }
    return out;
}

}  // namespace vqa
