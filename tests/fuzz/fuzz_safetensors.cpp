// The safetensors header parser: any file must open (every tensor then readable, inside the
// mapping) or fail with a vqa::Error. The input is written to a file, since the parser maps
// files; each fuzzing process uses its own.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "models/base/Error.h"
#include "engine/io/SafetensorsFile.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string path = [] {
        const char* shm = "/dev/shm";
        const std::filesystem::path dir = std::filesystem::is_directory(shm) ? shm : std::filesystem::temp_directory_path();
        return (dir / ("vqa-fuzz-" + std::to_string(::getpid()) + ".safetensors")).string();
    }();
    if (FILE* f = std::fopen(path.c_str(), "wb")) {
        std::fwrite(data, 1, size, f);
        std::fclose(f);
    } else {
        return 0;
    }
    try {
        auto file = vqa::SafetensorsFile::open(path);
        for (const auto& name : file->names()) {
            auto t = file->tensor(name);
            if (t.numel() > 0)
                (void)t.to(torch::kDouble).sum().item<double>();  // touches every byte
        }
        (void)file->parameterCount();
        (void)file->dataBytes();
    } catch (const vqa::Error&) {
    }
    return 0;
}
