// Where each image token of the prompt looks in the original image: the image tokens come
// in blocks (one per tile, then the global view), each a grid_rows x grid_cols grid over a
// rectangle of the original image. This is what turns attention over image tokens back
// into a heatmap over the picture.
#pragma once

#include <vector>

namespace vqa {

// A block may have an empty rectangle: tokens that stand for the whole frame but no place in
// it (LLaVA's class token under the "full" strategy); they take part in the attention but
// draw nothing.
struct TokenBlock {
    int grid_rows = 0;
    int grid_cols = 0;
    double x = 0, y = 0, width = 0, height = 0;  // original-image pixels; may reach
                                                 // outside the image (padding)
    bool global_view = false;
    int frame = -1;     // a video's frame: its place among the frames the model saw
    double time_s = 0;  // and its time in the video
    int tokens() const { return grid_rows * grid_cols; }
};

struct ImageLayout {
    int image_width = 0;
    int image_height = 0;
    std::vector<TokenBlock> blocks;  // in the order of the image tokens in the prompt
    // The coordinate space in which the model names boxes on this image (bbox_2d JSON), mapped
    // linearly onto the whole original image: Qwen2.5-VL's are the resized image's pixels,
    // Qwen3-VL's 1000 x 1000.
    // 0 when the family has no frame of its own (Qwen2-VL's <|box_start|> boxes are always
    // on a 0-1000 scale).
    double box_space_width = 0, box_space_height = 0;
    // Which of the request's pictures this is (HeatmapGrid::image, ::video); the engine sets
    // them as it builds the prompt.
    int image = 0;
    int video = -1;
    int tokens() const {
        int n = 0;
        for (const auto& b : blocks)
            n += b.tokens();
        return n;
    }
};

}  // namespace vqa
