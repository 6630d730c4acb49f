// What the windows that show a folder as a grid of pictures share (File > Caption a Folder,
// Tools > Search Images): small pictures decoded off the GUI thread, a placeholder until they
// come, and counts written with their noun.
#pragma once

#include <QIcon>
#include <QImage>
#include <QString>

namespace vqa::ui {

// "1 image", "3 images" (the windows have no translations yet).
QString countOf(int n, const QString& one, const QString& many);

// A faint square of `side` pixels that stands for a picture still being decoded.
QIcon placeholderIcon(int side);

// The image at `path` at most `side` pixels on its longer edge, decoded at that size where the
// format allows (JPEG), turned as its EXIF says. Null when it cannot be read or holds more than
// 100 megapixels (the windows report such files themselves). Safe on any thread.
QImage thumbnail(const QString& path, int side);

} // namespace vqa::ui
