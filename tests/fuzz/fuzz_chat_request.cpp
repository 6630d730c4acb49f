// What `vqa serve` and the remote engine read from the network, on any bytes: the first byte
// picks the part. 0: a request body (JSON) through parseChatRequest, which may refuse it only
// with a ProtocolError, and whose Request must then be whole (an image for every image part,
// a user turn last). 1: a server's stream through the SSE parser, fed in pieces whose sizes
// come from the input, every event read as JSON and its attention grids (if any) checked.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/net/Base64.h"
#include "engine/remote/Sse.h"
#include "engine/serve/ChatProtocol.h"
#include "models/base/Error.h"

namespace {

void check(bool ok) {
    if (!ok)
        std::abort();
}

void request(const std::uint8_t* data, std::size_t size) {
    const auto body = nlohmann::json::parse(data, data + size, nullptr, false);
    if (body.is_discarded())
        return;
    vqa::serve::ProtocolLimits limits;
    limits.max_image_pixels = 1 << 20;
    limits.max_images = 4;
    try {
        const auto call = vqa::serve::parseChatRequest(body, limits);
        const auto& r = call.request;
        std::size_t image_parts = 0;
        for (const auto& turn : r.conversation)
            for (const auto& part : turn.content)
                image_parts += part.kind == vqa::ContentPart::Kind::Image;
        check(image_parts == r.images.size() && r.image_keys.size() == r.images.size());
        for (const auto& image : r.images)
            check(image && !image->empty() && image->pixels.size() == std::size_t(image->width) * image->height * 3 &&
                  std::int64_t(image->width) * image->height <= limits.max_image_pixels);
        check(!r.conversation.empty() && r.conversation.back().role == vqa::Role::User);
        check(r.generation.max_new_tokens >= 1 && r.generation.max_new_tokens <= limits.max_tokens);
    } catch (const vqa::serve::ProtocolError& e) {
        check(e.status >= 400 && e.status < 500);
    }
}

void stream(const std::uint8_t* data, std::size_t size) {
    if (size < 1)
        return;
    const std::size_t piece = 1 + data[0] % 17;
    vqa::remote::SseParser parser;
    auto on_event = [](const std::string& event) {
        const auto j = nlohmann::json::parse(event, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("vqa") || !j["vqa"].is_object() ||
            !j["vqa"].contains("attention"))
            return;
        try {
            for (const auto& g : vqa::serve::gridsFromJson(j["vqa"]["attention"]))
                check(g.rows > 0 && g.cols > 0 && g.values.size() == std::size_t(g.rows) * g.cols);
        } catch (const vqa::Error&) {
        }
    };
    const char* bytes = reinterpret_cast<const char*>(data + 1);
    for (std::size_t i = 0; i + 1 < size; i += piece)
        parser.feed(bytes + i, std::min(piece, size - 1 - i), on_event);
    check(parser.buffered() <= size);
    // What the client decodes from a data URL, and encodes back.
    if (const auto decoded = vqa::net::base64Decode(std::string_view(bytes, size - 1)))
        check(vqa::net::base64Encode(decoded->data(), decoded->size()) == std::string_view(bytes, size - 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1)
        return 0;
    if (data[0] % 2 == 0)
        request(data + 1, size - 1);
    else
        stream(data + 1, size - 1);
    return 0;
}
