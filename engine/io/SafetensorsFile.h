// One .safetensors file, memory-mapped. The header is validated completely when the file is
// opened, so a tensor view handed out later can never point outside the mapping.
// Format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data section; offsets are relative to the start of the data section.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <functional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace vqa {

struct SafetensorsEntry {
    std::string name;
    std::string dtype; // as written in the file: "F32", "BF16", ...
    torch::ScalarType scalar_type = torch::kFloat;
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0; // byte offsets within the data section
    std::uint64_t end = 0;
    std::int64_t numel() const;
};

class SafetensorsFile {
  public:
    // Maps and validates the file. Throws vqa::Error naming the file and the problem.
    static std::shared_ptr<SafetensorsFile> open(const std::string& path);
    ~SafetensorsFile();
    SafetensorsFile(const SafetensorsFile&) = delete;
    SafetensorsFile& operator=(const SafetensorsFile&) = delete;

    const std::string& path() const { return path_; }
    std::uint64_t fileSize() const { return file_size_; }

    bool contains(const std::string& name) const { return index_.count(name) != 0; }
    // nullptr when absent.
    const SafetensorsEntry* find(const std::string& name) const;
    // Tensor names in the order of their data in the file.
    std::vector<std::string> names() const;
    const std::vector<SafetensorsEntry>& entries() const { return entries_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    // A CPU tensor over the mapped bytes, without copying (copied only when the data is not
    // aligned for its dtype). The mapping stays alive as long as any such tensor does.
    // The memory is read-only: convert or clone() before modifying in place.
    // Throws vqa::Error when the name is absent.
    torch::Tensor tensor(const std::string& name) const;
    // Drops this process's pages of the tensor's bytes (the whole pages inside it): for
    // tensors the model copied (converted, fused), so they stop counting in its memory. The
    // bytes stay readable: touching them again reads them back from the file.
    void release(const std::string& name) const;
    // Maps the pages of the tensors not released for which `wanted(name)` holds into this
    // process now (read from the page cache or the disk), so a model that uses the weights
    // in place does not pay those page faults during its first answer. A hint: errors are
    // ignored. Returns the bytes asked for.
    std::uint64_t populate(const std::function<bool(const std::string&)>& wanted) const;

    std::int64_t parameterCount() const; // sum of numel over all tensors
    std::uint64_t dataBytes() const;     // sum of tensor byte sizes

    // Largest header we accept (the reference library's limit is 100 MB as well).
    static constexpr std::uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;

  private:
    SafetensorsFile() = default;
    struct Mapping;
    // The page-aligned addresses [first, last) of an entry's bytes in the mapping: the pages
    // wholly inside it (`inside`) or every page it touches.
    std::pair<std::uintptr_t, std::uintptr_t> pages(const SafetensorsEntry& e, bool inside) const;
    std::string path_;
    std::uint64_t file_size_ = 0;
    std::uint64_t data_start_ = 0;
    std::shared_ptr<Mapping> mapping_;
    mutable std::set<std::string> released_; // names passed to release(), for populate()
    std::vector<SafetensorsEntry> entries_; // sorted by begin
    std::unordered_map<std::string, std::size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// Element size in bytes and torch dtype of a safetensors dtype string; false when unknown.
bool safetensorsDtype(const std::string& dtype, torch::ScalarType& type, std::size_t& bytes);

} // namespace vqa
