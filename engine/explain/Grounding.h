// Grounding: the boxes an answer names, read from its text and mapped onto the original image.
// Two syntaxes, as the Qwen models write them:
//   Qwen2.5-VL  JSON, usually in a ```json fence: a list of {"bbox_2d": [x1, y1, x2, y2],
//               "label": "..."} (or one such object; `point_2d: [x, y]` for points), in the
//               image's own coordinate space (ImageLayout::box_space_*: the resized image's
//               pixels);
//   Qwen2-VL    <|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>
//               on a 0-1000 scale of the image (a box without a reference has no label).
// The parser is tolerant: an answer cut off mid-JSON (the token limit, a stop) gives the boxes
// that were complete before the cut, garbage gives none; it never throws. Drawing: the window
// (ui/ImageCanvas) and the CLI (drawGroundingBoxes, into answer.png) share the colours and
// captions below, so a box is the same colour in both.
// Plain C++ types in the interface (no OpenCV, no LibTorch), so the CLI and the UI can use it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/Types.h"
#include "engine/explain/ImageLayout.h"

namespace vqa {

class Tokenizer;

// The boxes `text` names, in original-image pixels of `layout` (image_width x image_height),
// in the order of the text; `image` is written into each. JSON boxes count only when the
// layout has a box space; <|box_start|> boxes always (0-1000). Reversed corners are put in
// order; a box that reaches outside the image is clamped to it and marked `clipped`. The text
// range is bytes of `text`; the token range is left at 0 (groundAnswer fills it). Labels are
// valid UTF-8 (bad bytes become U+FFFD).
std::vector<GroundingBox> parseGroundingBoxes(std::string_view text, const ImageLayout& layout,
                                              int image = 0);

// The boxes of a generated answer, from its token ids: the text is decoded once with the
// special tokens kept (Qwen2-VL's <|box_start|> and friends are special, and the answer the
// user reads drops them) for the parser, and once without them (GenerationResult::text), and
// each box's range is given in tokens and in bytes of the latter. Empty, at no cost, for a
// model whose layout has no box space and whose vocabulary has no <|box_start|>.
std::vector<GroundingBox> groundAnswer(const Tokenizer& tokenizer,
                                       const std::vector<std::int32_t>& answer_ids,
                                       const ImageLayout& layout, int image);

// Drawing, shared by the window and the CLI: the colour of the box at `index` (RGB; a
// qualitative palette, cycling), the colour its caption is written in over that colour (black
// or white, whichever reads better), and the caption: the label, or "box N" (N = index + 1).
std::array<std::uint8_t, 3> groundingBoxColor(int index);
std::array<std::uint8_t, 3> groundingCaptionColor(int index);
std::string groundingBoxCaption(const GroundingBox& box, int index);

// Draws the boxes (original-image pixels) into `image`, as the CLI's answer.png shows them:
// an outline per box (a dot for a point), its caption in a filled tag above it (inside it at
// the top edge of the image). OpenCV's fonts have ASCII only: a caption with other characters
// is written as "#N" (N = index + 1, the box's place in explain.json).
void drawGroundingBoxes(RgbImage& image, const std::vector<GroundingBox>& boxes);

} // namespace vqa
