// The boxes an answer names (grounding), as `vqa ask --json` and `vqa explain` report them:
// in the original image's pixels, with the answer's text and tokens that named each.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/Types.h"
#include "engine/text/Utf8.h"

namespace vqa::cli {

inline nlohmann::json boxesJson(const std::vector<GroundingBox>& boxes, const std::string& answer) {
    nlohmann::json out = nlohmann::json::array();
    for (const GroundingBox& b : boxes) {
        const auto begin = static_cast<std::size_t>(b.text_begin);
        const auto end = static_cast<std::size_t>(b.text_end);
        const std::string named =
            begin <= end && end <= answer.size() ? answer.substr(begin, end - begin) : "";
        out.push_back({{"image", b.image},
                       {"label", b.label},
                       {"box", {b.x1, b.y1, b.x2, b.y2}}, // x1, y1, x2, y2
                       {"point", b.point},
                       {"clipped", b.clipped},
                       {"tokens", {b.token_begin, b.token_end}},
                       {"text_bytes", {b.text_begin, b.text_end}},
                       {"named_by", utf8::toValid(named)}});
    }
    return out;
}

} // namespace vqa::cli
