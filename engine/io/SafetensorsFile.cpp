#include "engine/io/SafetensorsFile.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "models/base/Error.h"

namespace vqa {

namespace {

std::string offsetsText(const SafetensorsEntry& e) {
    return "[" + std::to_string(e.begin) + "," + std::to_string(e.end) + "]";
}

std::string shapeText(const std::vector<std::int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        s += (i ? "," : "");
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

// A non-negative integer that fits in int64 / uint64 (JSON numbers may be floats or negative).
bool asUnsigned(const nlohmann::json& v, std::uint64_t& out) {
    if (v.is_number_unsigned()) {
        out = v.get<std::uint64_t>();
        return true;
    }
    if (v.is_number_integer()) {
        auto i = v.get<std::int64_t>();
        if (i < 0)
            return false;
        out = static_cast<std::uint64_t>(i);
        return true;
    }
    return false;
}

} // namespace

bool safetensorsDtype(const std::string& dtype, torch::ScalarType& type, std::size_t& bytes) {
    static const std::map<std::string, std::pair<torch::ScalarType, std::size_t>> table = {
        {"F64", {torch::kFloat64, 8}}, {"F32", {torch::kFloat32, 4}},
        {"F16", {torch::kFloat16, 2}}, {"BF16", {torch::kBFloat16, 2}},
        {"I64", {torch::kInt64, 8}},   {"I32", {torch::kInt32, 4}},
        {"I16", {torch::kInt16, 2}},   {"I8", {torch::kInt8, 1}},
        {"U8", {torch::kUInt8, 1}},    {"BOOL", {torch::kBool, 1}},
    };
    auto it = table.find(dtype);
    if (it == table.end())
        return false;
    type = it->second.first;
    bytes = it->second.second;
    return true;
}

std::int64_t SafetensorsEntry::numel() const {
    std::int64_t n = 1;
    for (auto d : shape)
        n *= d;
    return n;
}

struct SafetensorsFile::Mapping {
    void* base = nullptr;
    std::size_t size = 0;
    ~Mapping() {
        if (base && base != MAP_FAILED)
            munmap(base, size);
    }
};

SafetensorsFile::~SafetensorsFile() = default;

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
    auto fail = [&](const std::string& what) { return Error(path + ": " + what); };

    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw fail(std::string("cannot open the file (") + std::strerror(errno) + ")");
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw fail("is not a regular file");
    }
    auto file_size = static_cast<std::uint64_t>(st.st_size);
    if (file_size < 8) {
        ::close(fd);
        throw fail("is " + std::to_string(file_size) +
                   " bytes long, too short to be a safetensors file (the 8-byte header length "
                   "alone is missing); the file is probably truncated — download it again");
    }

    std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
    file->path_ = path;
    file->file_size_ = file_size;
    file->mapping_ = std::make_shared<Mapping>();
    // Read-only: a writable private mapping would count the whole file against the commit
    // limit, which can refuse a 14 GB checkpoint on a 16 GB machine. Views are read-only.
    void* base = mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    ::close(fd);
    if (base == MAP_FAILED)
        throw fail(std::string("cannot memory-map the file (") + std::strerror(map_errno) + ")");
    file->mapping_->base = base;
    file->mapping_->size = file_size;
    const auto* bytes = static_cast<const unsigned char*>(base);

    std::uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i)
        header_len = (header_len << 8) | bytes[i];
    if (header_len > file_size - 8)
        throw fail("the header says it is " + std::to_string(header_len) +
                   " bytes long, but the file has only " + std::to_string(file_size - 8) +
                   " bytes after the length field; the file is truncated or not a safetensors "
                   "file");
    if (header_len > kMaxHeaderBytes)
        throw fail("the header is " + std::to_string(header_len) +
                   " bytes long, more than the limit of " + std::to_string(kMaxHeaderBytes) +
                   " bytes; this is not a valid safetensors file");
    if (header_len < 2)
        throw fail("the JSON header is empty; this is not a safetensors file");

    nlohmann::json header;
    try {
        header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len);
    } catch (const nlohmann::json::exception& e) {
        throw fail(std::string("the header is not valid JSON (") + e.what() +
                   "); the file is damaged or not a safetensors file");
    }
    if (!header.is_object())
        throw fail("the header is JSON but not an object of tensors");

    file->data_start_ = 8 + header_len;
    const std::uint64_t data_size = file_size - file->data_start_;

    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& name = it.key();
        const auto& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object())
                throw fail("__metadata__ is not an object of strings");
            for (auto m = v.begin(); m != v.end(); ++m)
                file->metadata_[m.key()] =
                    m.value().is_string() ? m.value().get<std::string>() : m.value().dump();
            continue;
        }
        auto bad = [&](const std::string& what) { return fail("tensor '" + name + "' " + what); };
        if (!v.is_object())
            throw bad("is not described by an object with dtype, shape and data_offsets");
        for (const char* key : {"dtype", "shape", "data_offsets"})
            if (!v.contains(key))
                throw bad(std::string("has no \"") + key + "\"");
        SafetensorsEntry e;
        e.name = name;
        if (!v["dtype"].is_string())
            throw bad("has a dtype that is not a string");
        e.dtype = v["dtype"].get<std::string>();
        std::size_t elem = 0;
        if (!safetensorsDtype(e.dtype, e.scalar_type, elem))
            throw bad("has dtype '" + e.dtype +
                      "', which this build does not read; supported: F64, F32, F16, BF16, I64, "
                      "I32, I16, I8, U8, BOOL");
        if (!v["shape"].is_array())
            throw bad("has a shape that is not an array");
        // numel * elem must not overflow: bound the running product by the file size.
        std::uint64_t numel = 1;
        bool overflow = false;
        for (const auto& d : v["shape"]) {
            std::uint64_t dim = 0;
            if (!asUnsigned(d, dim) ||
                dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                throw bad("has a shape with an entry that is not a non-negative integer: " +
                          v["shape"].dump());
            e.shape.push_back(static_cast<std::int64_t>(dim));
            if (dim != 0 && numel > (std::numeric_limits<std::uint64_t>::max() / elem) / dim)
                overflow = true;
            else
                numel *= dim;
        }
        const auto& off = v["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !asUnsigned(off[0], e.begin) ||
            !asUnsigned(off[1], e.end))
            throw bad("has data_offsets that are not two non-negative integers: " + off.dump());
        if (e.begin > e.end)
            throw bad("has data_offsets " + offsetsText(e) + " that end before they begin");
        if (e.end > data_size)
            throw bad("data_offsets " + offsetsText(e) + " run past the end of the file (" +
                      std::to_string(data_size) + " bytes of data after the " +
                      std::to_string(header_len) +
                      "-byte header); the file is probably truncated — download it again");
        if (overflow || numel * elem != e.end - e.begin)
            throw bad("has shape " + shapeText(e.shape) + " and dtype " + e.dtype +
                      ", which take " +
                      (overflow ? std::string("more than 2^64") : std::to_string(numel * elem)) +
                      " bytes, but its data_offsets " + offsetsText(e) + " span " +
                      std::to_string(e.end - e.begin) + " bytes");
        file->entries_.push_back(std::move(e));
    }

    std::sort(file->entries_.begin(), file->entries_.end(),
              [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
                  return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
              });
    for (std::size_t i = 1; i < file->entries_.size(); ++i) {
        const auto& prev = file->entries_[i - 1];
        const auto& cur = file->entries_[i];
        // Empty tensors take no bytes and may share an offset with anything.
        if (cur.begin < prev.end && cur.begin != cur.end && prev.begin != prev.end)
            throw fail("tensors '" + prev.name + "' " + offsetsText(prev) + " and '" + cur.name +
                       "' " + offsetsText(cur) + " overlap; the file is damaged");
    }
    for (std::size_t i = 0; i < file->entries_.size(); ++i)
        file->index_.emplace(file->entries_[i].name, i);
    return file;
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
}

std::vector<std::string> SafetensorsFile::names() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_)
        out.push_back(e.name);
    return out;
}

torch::Tensor SafetensorsFile::tensor(const std::string& name) const {
    const SafetensorsEntry* e = find(name);
    if (!e)
        throw Error(path_ + ": has no tensor named '" + name + "'");
    auto* ptr = static_cast<unsigned char*>(mapping_->base) + data_start_ + e->begin;
    auto options = torch::TensorOptions().dtype(e->scalar_type).device(torch::kCPU);
    const auto elem = static_cast<std::uintptr_t>(torch::elementSize(e->scalar_type));
    if (reinterpret_cast<std::uintptr_t>(ptr) % elem != 0) {
        // Writers normally pad the header so data is aligned; a file that isn't gets a copy,
        // since misaligned loads are undefined behaviour for the kernels.
        auto out = torch::empty(e->shape, options);
        if (e->end > e->begin) // an empty tensor has no storage to copy into
            std::memcpy(out.data_ptr(), ptr, e->end - e->begin);
        return out;
    }
    auto keep = mapping_;
    return torch::from_blob(
        ptr, e->shape, [keep](void*) mutable { keep.reset(); }, options);
}

void SafetensorsFile::release(const std::string& name) const {
    const SafetensorsEntry* e = find(name);
    if (!e)
        return;
    released_.insert(name);
    // Only the pages wholly inside the tensor: its neighbours may still be in use. A
    // read-only file mapping that was never written: dropped pages fault back in from the
    // file, so this is only ever a hint.
    const auto [first, last] = pages(*e, /*inside=*/true);
    if (last > first)
        madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

std::pair<std::uintptr_t, std::uintptr_t> SafetensorsFile::pages(const SafetensorsEntry& e,
                                                                 bool inside) const {
    const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto base = reinterpret_cast<std::uintptr_t>(mapping_->base) + data_start_;
    const std::uintptr_t begin = base + e.begin, end = base + e.end;
    if (inside)
        return {(begin + page - 1) / page * page, end / page * page};
    return {begin / page * page, (end + page - 1) / page * page};
}

std::uint64_t SafetensorsFile::populate(const std::function<bool(const std::string&)>& wanted) const {
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 // Linux 5.14; older kernels answer EINVAL, which is fine
#endif
    std::uint64_t bytes = 0;
    for (const auto& e : entries_) {
        if (released_.count(e.name) || e.end <= e.begin || !wanted(e.name))
            continue;
        const auto [first, last] = pages(e, /*inside=*/false); // every page it touches
        if (madvise(reinterpret_cast<void*>(first), last - first, MADV_POPULATE_READ) != 0)
            return bytes; // not supported here: the first answer faults the pages in instead
        bytes += e.end - e.begin;
    }
    return bytes;
}

std::int64_t SafetensorsFile::parameterCount() const {
    std::int64_t n = 0;
    for (const auto& e : entries_)
        n += e.numel();
    return n;
}

std::uint64_t SafetensorsFile::dataBytes() const {
    std::uint64_t n = 0;
    for (const auto& e : entries_)
        n += e.end - e.begin;
    return n;
}

} // namespace vqa
