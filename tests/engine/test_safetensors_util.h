// Writes small .safetensors files for tests, valid or deliberately broken.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace vqa::test {

// A fresh empty folder under the system temp dir, unique per process and name.
inline std::filesystem::path freshDir(const std::string& name) {
    auto dir = std::filesystem::temp_directory_path() /
               ("vqa-io-" + std::to_string(::getpid()) + "-" + name);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

// header: the JSON text; data: the data section. header_len overrides the length field.
inline void writeRawSafetensors(const std::filesystem::path& path, const std::string& header,
                                const std::vector<std::uint8_t>& data,
                                std::int64_t header_len = -1) {
    std::uint64_t n = header_len < 0 ? header.size() : static_cast<std::uint64_t>(header_len);
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 8; ++i)
        out.put(static_cast<char>((n >> (8 * i)) & 0xff));
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
}

// A valid file of float32 tensors, header padded to 8 bytes like the reference writer.
struct F32Tensor {
    std::string name;
    std::vector<std::int64_t> shape;
    std::vector<float> values;
};

inline void writeF32Safetensors(const std::filesystem::path& path,
                                const std::vector<F32Tensor>& tensors) {
    std::string header = "{";
    std::vector<std::uint8_t> data;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const auto& t = tensors[i];
        std::string shape = "[";
        for (std::size_t d = 0; d < t.shape.size(); ++d) {
            shape += (d ? "," : "");
            shape += std::to_string(t.shape[d]);
        }
        shape += "]";
        auto begin = data.size();
        data.resize(begin + t.values.size() * 4);
        std::memcpy(data.data() + begin, t.values.data(), t.values.size() * 4);
        if (i)
            header += ",";
        header += "\"" + t.name + "\":{\"dtype\":\"F32\",\"shape\":" + shape +
                  ",\"data_offsets\":[" + std::to_string(begin) + "," +
                  std::to_string(data.size()) + "]}";
    }
    header += "}";
    while (header.size() % 8)
        header += ' ';
    writeRawSafetensors(path, header, data);
}

} // namespace vqa::test
