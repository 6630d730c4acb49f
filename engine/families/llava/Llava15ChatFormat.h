// The chat template of LLaVA-1.5 checkpoints (llava-hf): "USER: <image>\n... ASSISTANT: ..."
// with every image of a turn first, then each text followed by a space; system turns have no
// role prefix.
#pragma once

#include <memory>
#include <string_view>

#include "engine/text/ChatFormat.h"

namespace vqa {

// The format when `chat_template` (Jinja source) is LLaVA-1.5's, else nullptr.
std::unique_ptr<ChatFormat> llava15ChatFormat(std::string_view chat_template);

}  // namespace vqa
