// Token ids read from tokenizer files. An id must be an integer in the range a vocabulary
// can have: a float, a string or an id in the billions is a damaged file, not a big
// vocabulary (and the tables sized by the largest id would not fit in memory).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "models/base/Error.h"
#include "engine/text/Tokenizer.h"

namespace vqa {

// 16.7 million: far above any real vocabulary (the largest are about 260 thousand).
inline constexpr std::int64_t kTokenIdLimit = std::int64_t(1) << 24;

// v as a token id; otherwise throws vqa::Error "<where()>: ..." (where() is only called then).
template <typename Where> TokenId tokenIdFrom(const nlohmann::json& v, Where&& where) {
    if (!v.is_number_integer())
        throw Error(where() + ": a token id must be an integer, but it is " + v.dump());
    const auto id = v.get<std::int64_t>();
    if (v.is_number_unsigned() ? v.get<std::uint64_t>() >= std::uint64_t(kTokenIdLimit)
                               : (id < 0 || id >= kTokenIdLimit))
        throw Error(where() + ": token id " + v.dump() + " is outside 0 to " +
                    std::to_string(kTokenIdLimit - 1));
    return static_cast<TokenId>(id);
}

}  // namespace vqa
