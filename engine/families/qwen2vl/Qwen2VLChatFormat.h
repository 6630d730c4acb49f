// The chat template of Qwen2-VL and Qwen2.5-VL checkpoints (the same text in both):
//   <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n   (when the first turn is not a
//   system turn)
//   <|im_start|>{role}\n{text | <|vision_start|><|image_pad|><|vision_end|>}...<|im_end|>\n  per
//   turn
//   <|im_start|>assistant\n   for the generation prompt.
// The image placeholder is <|image_pad|>; the runtime expands it into one <|image_pad|> per
// merged patch, between the <|vision_start|> and <|vision_end|> the format writes.
#pragma once

#include <memory>
#include <string_view>

#include "engine/text/ChatFormat.h"

namespace vqa {

// The format when `chat_template` (Jinja source) is Qwen2-VL's or Qwen2.5-VL's, else nullptr.
std::unique_ptr<ChatFormat> qwen2VLChatFormat(std::string_view chat_template);

} // namespace vqa
