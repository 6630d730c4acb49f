#include "engine/library/ImageFiles.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>

namespace vqa::library {
namespace fs = std::filesystem;

namespace {

bool hidden(const fs::path& p) {
    const std::string name = p.filename().string();
    return !name.empty() && name[0] == '.';
}

} // namespace

bool hasImageExtension(const std::string& path) {
    static const std::set<std::string> extensions = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif",
                                                     ".tiff", ".gif", ".pnm", ".ppm", ".pgm", ".pbm"};
    std::string ext = fs::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    return extensions.count(ext) > 0;
}

std::vector<std::string> listImageFiles(const std::vector<std::string>& inputs, bool recursive) {
    std::set<std::string> found;
    for (const std::string& input : inputs) {
        std::error_code ec;
        const fs::path p = fs::absolute(input, ec).lexically_normal();
        const auto status = fs::status(p, ec);
        if (ec || !fs::exists(status))
            throw Error(input + " does not exist");
        if (!fs::is_directory(status)) {
            found.insert(p.string());  // named explicitly: taken whatever its extension
            continue;
        }
        auto consider = [&](const fs::directory_entry& entry) {
            std::error_code e;
            if (entry.is_regular_file(e) && !hidden(entry.path()) && hasImageExtension(entry.path().string()))
                found.insert(entry.path().lexically_normal().string());
        };
        const auto options = fs::directory_options::skip_permission_denied;
        if (recursive) {
            fs::recursive_directory_iterator it(p, options, ec), end;
            for (; !ec && it != end; it.increment(ec)) {
                if (it->is_directory() && hidden(it->path())) {
                    it.disable_recursion_pending();
                    continue;
                }
                consider(*it);
            }
        } else {
            fs::directory_iterator it(p, options, ec), end;
            for (; !ec && it != end; it.increment(ec))
                consider(*it);
        }
        if (ec)
            throw Error("cannot list " + input + ": " + ec.message());
    }
    return {found.begin(), found.end()};
}

FileStamp fileStamp(const std::string& path) {
    std::error_code ec;
    FileStamp stamp;
    stamp.size = static_cast<std::int64_t>(fs::file_size(path, ec));
    if (ec)
        throw FileProblem("cannot read it: " + ec.message());
    const auto modified = fs::last_write_time(path, ec);
    if (ec)
        throw FileProblem("cannot read it: " + ec.message());
    stamp.mtime_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(modified.time_since_epoch()).count();
    return stamp;
}

std::string readFileBytes(const std::string& path, std::int64_t limit) {
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec)
        throw FileProblem("cannot read it: " + ec.message());
    if (static_cast<std::int64_t>(size) > limit)
        throw FileProblem("the file is too large (" + std::to_string(size >> 20) + " MB; the limit is " +
                          std::to_string(limit >> 20) + " MB)");
    std::ifstream in(path, std::ios::binary);
    std::string bytes(size, '\0');
    if (!in.read(bytes.data(), static_cast<std::streamsize>(size)))
        throw FileProblem("cannot read it");
    return bytes;
}

std::string fileMessage(const std::string& path, const std::string& problem) {
    const std::string name = fs::path(path).filename().string();
    if (problem.rfind(name, 0) == 0)
        return problem;
    return name + ": " + problem;
}

} // namespace vqa::library
