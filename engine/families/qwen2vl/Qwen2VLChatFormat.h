// The chat templates of the Qwen-VL checkpoints (Qwen2-VL, Qwen2.5-VL and Qwen3-VL):
//   <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n   (Qwen2-VL and 2.5: when the
//   first turn is not a system turn; Qwen3-VL writes none)
//   <|im_start|>{role}\n{text | <|vision_start|><|image_pad|><|vision_end|>}...<|im_end|>\n  per
//   turn
//   <|im_start|>assistant\n   for the generation prompt.
// A thinking model's template (Qwen3-VL-*-Thinking) opens the answer with "<think>\n" and
// renders earlier answers without their reasoning (what follows their last </think>).
// The image placeholder is <|image_pad|>; the runtime expands it into one <|image_pad|> per
// merged patch, between the <|vision_start|> and <|vision_end|> the format writes.
#pragma once

#include <memory>
#include <string_view>

#include "engine/text/ChatFormat.h"

namespace vqa {

// The format when `chat_template` (Jinja source) is a Qwen-VL one, else nullptr.
std::unique_ptr<ChatFormat> qwen2VLChatFormat(std::string_view chat_template);

} // namespace vqa
