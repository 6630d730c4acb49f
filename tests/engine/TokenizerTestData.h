// Shared loading of the reference files tests/reference/make_tokenizers.py writes.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

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

}  // namespace vqa::test
