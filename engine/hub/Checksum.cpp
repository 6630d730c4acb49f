#include "engine/hub/Checksum.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include <openssl/evp.h>

#include "models/base/Error.h"

namespace vqa::hub {

namespace {

struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

std::string finalHex(EVP_MD_CTX* ctx) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, out.data(), &len);
    static const char* hex = "0123456789abcdef";
    std::string result;
    result.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
        result += hex[out[i] >> 4];
        result += hex[out[i] & 15];
    }
    return result;
}

std::string digestFile(const std::filesystem::path& path, const EVP_MD* md,
                       const std::string& prefix, const HashProgress& progress) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error("Cannot read " + path.string() +
                    " to check its checksum: " + std::strerror(errno));
    std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1)
        throw Error("OpenSSL could not start a digest (out of memory?)");
    if (!prefix.empty())
        EVP_DigestUpdate(ctx.get(), prefix.data(), prefix.size());
    std::vector<char> buffer(1 << 20);
    std::uint64_t done = 0;
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        const auto n = in.gcount();
        if (n <= 0)
            break;
        EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(n));
        done += static_cast<std::uint64_t>(n);
        if (progress && !progress(done))
            return {};
    }
    if (in.bad())
        throw Error("Reading " + path.string() + " failed while checking its checksum");
    return finalHex(ctx.get());
}

} // namespace

std::string sha256File(const std::filesystem::path& path, const HashProgress& progress) {
    return digestFile(path, EVP_sha256(), {}, progress);
}

std::string gitBlobIdFile(const std::filesystem::path& path, const HashProgress& progress) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec)
        throw Error("Cannot read " + path.string() + " to check its checksum: " + ec.message());
    std::string prefix = "blob " + std::to_string(size);
    prefix.push_back('\0');
    return digestFile(path, EVP_sha1(), prefix, progress);
}

std::string sha256Bytes(const void* data, std::size_t size) {
    std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        throw Error("OpenSSL could not start a digest (out of memory?)");
    EVP_DigestUpdate(ctx.get(), data, size);
    return finalHex(ctx.get());
}

} // namespace vqa::hub
