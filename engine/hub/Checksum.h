// Checksums the Hub publishes for its files: SHA-256 for files stored with Git LFS, the
// git blob id (SHA-1 of "blob <size>\0" + content) for the others.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace vqa::hub {

// Called with the bytes hashed so far; return false to stop (the result is then empty).
using HashProgress = std::function<bool(std::uint64_t bytes_done)>;

// Lower-case hex digests. Throw vqa::Error when the file cannot be read.
std::string sha256File(const std::filesystem::path& path, const HashProgress& progress = {});
std::string gitBlobIdFile(const std::filesystem::path& path, const HashProgress& progress = {});
std::string sha256Bytes(const void* data, std::size_t size);

} // namespace vqa::hub
