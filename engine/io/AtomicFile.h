// Files written whole or not at all: what a user keeps (settings, sidecar captions, exports)
// never ends up half-written by a crash or a full disk.
#pragma once

#include <string>

namespace vqa {

// Writes `content` to `path` through a temporary file of this process's own beside it,
// flushed to disk (fsync) and renamed over `path`; the folder's entry is flushed too. Creates
// missing folders. Throws vqa::Error naming the file; the temporary file is removed then.
void writeFileAtomically(const std::string& path, const std::string& content);

// Removes the temporary files that writeFileAtomically left in `folder` when its process was
// killed mid-write ("<name>.<pid>.tmp" whose process is gone). Returns how many.
int removeStaleTemporaries(const std::string& folder);

} // namespace vqa
