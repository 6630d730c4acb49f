// Where tests find their data: the shared SmolVLM fixtures (never copied into the
// repository) and the reference files the Python scripts write into the build folder.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace vqa::test {

// $VQA_FIXTURES, else ../shared/fixtures beside the checkout. Empty when absent.
inline std::filesystem::path fixturesDir() {
    if (const char* env = std::getenv("VQA_FIXTURES"); env && *env)
        return env;
    std::filesystem::path p = std::filesystem::path(VQA_SOURCE_DIR) / ".." / "shared" / "fixtures";
    return std::filesystem::exists(p) ? std::filesystem::weakly_canonical(p) : std::filesystem::path();
}

inline std::filesystem::path smolvlmFixture() {
    auto dir = fixturesDir();
    return dir.empty() ? dir : dir / "smolvlm-256m-instruct";
}

// Output folder of the reference script tests/reference/make_<name>.py.
inline std::filesystem::path referenceDir(const std::string& name) {
    return std::filesystem::path(VQA_BINARY_DIR) / "reference" / name;
}

}  // namespace vqa::test

// Skips the current GoogleTest test with a reason when a path is missing.
#define VQA_SKIP_UNLESS_EXISTS(path, why)                                                     \
    do {                                                                                      \
        if ((path).empty() || !std::filesystem::exists(path))                                 \
            GTEST_SKIP() << "missing " << (path).string() << ": " << (why);                   \
    } while (0)
