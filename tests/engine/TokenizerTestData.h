// Shared loading of the reference files tests/reference/make_tokenizers.py and
// make_qwen2vl_text.py write.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/Types.h"
#include "tests/common/TestPaths.h"

namespace vqa::test {

inline std::filesystem::path tokenizerReference(const std::string& file) {
    return referenceDir("tokenizers") / file;
}

inline nlohmann::json readReferenceJson(const std::filesystem::path& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}

inline std::string showBytes(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7F) {
            out += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        }
    }
    return out;
}

// A conversation as the reference scripts write it (transformers' messages: role, and
// content parts of type "text" or "image").
inline Conversation toConversation(const nlohmann::json& messages) {
    Conversation conv;
    for (const auto& m : messages) {
        Turn turn;
        const std::string role = m["role"].get<std::string>();
        turn.role = role == "system" ? Role::System : role == "assistant" ? Role::Assistant : Role::User;
        for (const auto& part : m["content"]) {
            ContentPart p;
            if (part["type"].get<std::string>() == "image") {
                p.kind = ContentPart::Kind::Image;
            } else {
                p.kind = ContentPart::Kind::Text;
                p.text = part["text"];
            }
            turn.content.push_back(p);
        }
        conv.push_back(turn);
    }
    return conv;
}

}  // namespace vqa::test
