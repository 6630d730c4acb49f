// Files written whole or not at all: what a user keeps (settings, sidecar captions, exports)
// never ends up half-written by a crash or a full disk.
#pragma once

#include <string>

namespace vqa {

// Writes `content` to `path` through a temporary file of this process's own beside it,
// flushed to disk (fsync) and renamed over `path`; the folder's entry is flushed too. Creates
// missing folders. Throws vqa::Error naming the file; the temporary file is removed then.
void writeFileAtomically(const std::string& path, const std::string& content);

} // namespace vqa
