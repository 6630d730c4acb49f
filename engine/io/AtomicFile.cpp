#include "engine/io/AtomicFile.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "models/base/Error.h"

namespace vqa {
namespace fs = std::filesystem;

void writeFileAtomically(const std::string& path, const std::string& content) {
    const fs::path target(path);
    std::error_code ec;
    if (target.has_parent_path())
        fs::create_directories(target.parent_path(), ec);
    const std::string tmp = path + "." + std::to_string(::getpid()) + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        throw Error("cannot write " + path + ": " + std::strerror(errno));
    const char* p = content.data();
    std::size_t left = content.size();
    int error = 0;
    while (left > 0) {
        const ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            error = errno ? errno : EIO;
            break;
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    if (!error && ::fsync(fd) != 0)
        error = errno;
    if (::close(fd) != 0 && !error)
        error = errno;
    if (!error && std::rename(tmp.c_str(), path.c_str()) != 0)
        error = errno;
    if (error) {
        ::unlink(tmp.c_str());
        throw Error("cannot write " + path + ": " + std::strerror(error));
    }
    // The rename itself is on disk once the folder is.
    const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

int removeStaleTemporaries(const std::string& folder) {
    int removed = 0;
    std::error_code ec;
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.size() < 5 || name.compare(name.size() - 4, 4, ".tmp") != 0)
            continue;
        const auto dot = name.rfind('.', name.size() - 5);
        if (dot == std::string::npos || dot + 1 >= name.size() - 4)
            continue;
        const std::string digits = name.substr(dot + 1, name.size() - 4 - dot - 1);
        if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9)
            continue;
        const pid_t pid = static_cast<pid_t>(std::stol(digits));
        if (pid <= 0 || ::kill(pid, 0) == 0 || errno != ESRCH)
            continue;  // its writer may still be at work
        std::error_code e;
        if (fs::remove(it->path(), e))
            ++removed;
    }
    return removed;
}

} // namespace vqa
