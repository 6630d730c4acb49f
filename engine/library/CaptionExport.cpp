#include "engine/library/CaptionExport.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engine/io/AtomicFile.h"
#include "models/base/Error.h"

namespace vqa::library {
namespace fs = std::filesystem;

CaptionLog::CaptionLog(const std::string& path) : path_(path) {
    std::error_code ec;
    const fs::path p(path);
    if (p.has_parent_path())
        fs::create_directories(p.parent_path(), ec);
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
        throw Error("cannot open " + path + ": " + std::strerror(errno));
    // Read what is there: the paths it holds, and where its last whole line ends.
    std::string content;
    char buf[1 << 16];
    for (;;) {
        const ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            const std::string m = std::strerror(errno);
            ::close(fd_);
            throw Error("cannot read " + path + ": " + m);
        }
        if (n == 0)
            break;
        content.append(buf, static_cast<std::size_t>(n));
    }
    const auto last_newline = content.rfind('\n');
    const std::size_t whole = last_newline == std::string::npos ? 0 : last_newline + 1;
    if (whole < content.size()) {  // a line cut short by a crash: written again below
        if (::ftruncate(fd_, static_cast<off_t>(whole)) != 0 || ::fsync(fd_) != 0) {
            const std::string m = std::strerror(errno);
            ::close(fd_);
            throw Error("cannot repair " + path + ": " + m);
        }
        repaired_ = true;
    }
    std::istringstream lines(content.substr(0, whole));
    std::string line;
    while (std::getline(lines, line)) {
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.contains("image") && j["image"].is_string())
            paths_.insert(j["image"].get<std::string>());
    }
    if (::lseek(fd_, 0, SEEK_END) < 0) {
        ::close(fd_);
        throw Error("cannot append to " + path);
    }
}

CaptionLog::~CaptionLog() {
    if (fd_ >= 0)
        ::close(fd_);
}

namespace {

std::string jsonLine(const CaptionRecord& caption) {
    const nlohmann::json j = {
        {"image", caption.image_path}, {"caption", caption.text}, {"model", caption.model}, {"prompt", caption.prompt}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

} // namespace

void CaptionLog::append(const CaptionRecord& caption) {
    const std::string line = jsonLine(caption);
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        const ssize_t n = ::write(fd_, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw Error("cannot write to " + path_ + ": " + std::strerror(errno ? errno : EIO));
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    if (::fdatasync(fd_) != 0)
        throw Error("cannot write to " + path_ + ": " + std::strerror(errno));
    paths_.insert(caption.image_path);
}

std::string sidecarPath(const std::string& image_path) {
    fs::path p(image_path);
    p.replace_extension(".txt");
    return p.string();
}

SidecarResult writeSidecar(const std::string& image_path, const std::string& text, bool overwrite) {
    const std::string path = sidecarPath(image_path);
    std::error_code ec;
    if (fs::exists(path, ec)) {
        std::ifstream in(path, std::ios::binary);
        std::ostringstream old;
        old << in.rdbuf();
        if (old.str() == text + "\n")
            return SidecarResult::Unchanged;
        if (!overwrite)
            return SidecarResult::KeptExisting;
    }
    writeFileAtomically(path, text + "\n");
    return SidecarResult::Written;
}

namespace {

std::string csvField(const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos)
        return s;
    std::string out = "\"";
    for (char c : s)
        out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

} // namespace

void writeCaptionsJsonl(const std::vector<CaptionRecord>& captions, const std::string& path) {
    std::string out;
    for (const auto& c : captions)
        out += jsonLine(c);
    writeFileAtomically(path, out);
}

void writeCaptionsCsv(const std::vector<CaptionRecord>& captions, const std::string& path) {
    std::string out = "image,caption\r\n";
    for (const auto& c : captions)
        out += csvField(c.image_path) + "," + csvField(c.text) + "\r\n";
    writeFileAtomically(path, out);
}

} // namespace vqa::library
