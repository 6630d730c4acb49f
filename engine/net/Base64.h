// Base64 (RFC 4648, standard alphabet, padded), for images in `data:` URLs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vqa::net {

std::string base64Encode(const std::uint8_t* data, std::size_t size);
// nullopt for anything but whole, correctly padded, canonical base64 (whitespace is not
// skipped; the bits padding leaves over must be zero).
std::optional<std::vector<std::uint8_t>> base64Decode(std::string_view text);

}  // namespace vqa::net
