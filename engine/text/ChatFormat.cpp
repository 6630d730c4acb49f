#include "engine/text/ChatFormat.h"

#include <algorithm>

namespace vqa {

const char* roleName(Role role) {
    switch (role) {
    case Role::System:
        return "system";
    case Role::User:
        return "user";
    case Role::Assistant:
        return "assistant";
    }
    return "user";
}

std::vector<TokenId> stopTokenIds(const ChatFormat& format, const Tokenizer& tokenizer) {
    std::vector<TokenId> ids;
    for (const auto& s : format.stopStrings())
        if (auto id = tokenizer.pieceToId(s))
            ids.push_back(*id);
    if (auto eos = tokenizer.specialTokens().eos)
        if (std::find(ids.begin(), ids.end(), *eos) == ids.end())
            ids.push_back(*eos);
    return ids;
}

}  // namespace vqa
