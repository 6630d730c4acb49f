// The grounding parser (engine/explain/Grounding.h) on any text, over a few image layouts:
// it must not crash or throw, and every box must lie on the image with its corners in order,
// name a range of the text, carry a valid UTF-8 label and come in the order of the text.
// The boxes are then drawn into a small image (the CLI's answer.png drawing).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/explain/Grounding.h"
#include "engine/text/Utf8.h"

namespace {

void check(bool ok) {
    if (!ok)
        std::abort();
}

vqa::ImageLayout layout(int width, int height, double box_width, double box_height) {
    vqa::ImageLayout l;
    l.image_width = width;
    l.image_height = height;
    l.box_space_width = box_width;
    l.box_space_height = box_height;
    return l;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    for (const auto& l :
         {layout(64, 48, 56, 42), layout(1, 5000, 28, 4984), layout(640, 480, 0, 0)}) {
        const auto boxes = vqa::parseGroundingBoxes(text, l, 0);
        int previous = 0;
        for (const auto& b : boxes) {
            check(b.x1 >= 0 && b.x1 <= b.x2 && b.x2 <= l.image_width);
            check(b.y1 >= 0 && b.y1 <= b.y2 && b.y2 <= l.image_height);
            check(!b.point || (b.x1 == b.x2 && b.y1 == b.y2));
            check(b.text_begin >= previous && b.text_begin < b.text_end &&
                  static_cast<std::size_t>(b.text_end) <= text.size());
            previous = b.text_begin;
            check(vqa::utf8::isValid(b.label));
            check(!nlohmann::json(b.label).dump().empty());
        }
        if (l.image_width == 64) {
            vqa::RgbImage image;
            image.width = 64;
            image.height = 48;
            image.pixels.assign(64 * 48 * 3, 0);
            vqa::drawGroundingBoxes(image, boxes);
            check(image.pixels.size() == 64 * 48 * 3);
        }
    }
    return 0;
}
