// A small chart of one number per word, for the explanations the CLI writes (how much each
// word relied on the image, how much an occlusion lowered it): a row per word, its label on
// the left, a bar right of the zero line for positive values and left of it for negative
// ones, the scale shared by all rows. Plain types in the interface (OpenCV draws it).
#pragma once

#include <string>
#include <vector>

#include "engine/Types.h"

namespace vqa {

// `labels` and `values` of the same length (throws vqa::Error otherwise). Labels are drawn in
// ASCII (other characters as '?'); `title` above the rows, `unit` under the axis.
RgbImage renderWordBars(const std::vector<std::string>& labels, const std::vector<float>& values,
                        const std::string& title, const std::string& unit);

}  // namespace vqa
