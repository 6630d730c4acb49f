// The chat template of Idefics3 / SmolVLM checkpoints:
//   <|im_start|>{Role}{':' if first part is an image else ': '}{text | <image>...}<end_of_utterance>\n
//   ... then "Assistant:" for the generation prompt.
#pragma once

#include <memory>
#include <string_view>

#include "engine/text/ChatFormat.h"

namespace vqa {

// The format when `chat_template` (Jinja source) is SmolVLM's, else nullptr.
std::unique_ptr<ChatFormat> smolVlmChatFormat(std::string_view chat_template);

}  // namespace vqa
