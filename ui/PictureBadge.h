// How a conversation's picture looks in the chat: its thumbnail, a "▶" corner for a video, a
// frame when it is the picture on the canvas, and, while a word is shown, a bar along its foot
// for the word's share of attention on it (ExplanationController's PictureShare).
#pragma once

#include <QImage>

#include "ui/ChatMessage.h"

namespace vqa::ui {

// `share` < 0: no bar. Side: the thumbnail's longer side in pixels.
QImage pictureBadge(const MessagePicture& picture, float share, bool chosen, int side = 64);

}  // namespace vqa::ui
