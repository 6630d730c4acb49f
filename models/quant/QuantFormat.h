// Weight-only quantization formats. A row of a weight matrix is cut into blocks of 32
// consecutive weights, and each block is stored exactly as llama.cpp stores it (the same bytes
// as GGUF's Q8_0, Q4_0 and Q4_1 tensors):
//
//   Q8_0  float16 scale d, 32 int8 q                   w = d q         34 bytes, 8.5 bits/weight
//   Q4_0  float16 scale d, 16 bytes of 4-bit q         w = d (q - 8)   18 bytes, 4.5 bits/weight
//   Q4_1  float16 scale d, float16 minimum m, 16 bytes w = d q + m     20 bytes, 5 bits/weight
//
// In the 4-bit formats byte j holds weight j in its low nibble and weight j + 16 in its high
// one. A row whose length is not a multiple of 32 ends in a block padded with zeros. Plain C++.
#pragma once

#include <cstdint>
#include <string>

namespace vqa::models {

enum class QuantFormat { None, Q8_0, Q4_0, Q4_1 };

constexpr std::int64_t kQuantBlock = 32;

// How a matrix's blocks lie in memory.
//   Rows           row after row, each row's blocks in order: GGUF's order, what the loader
//                  writes and every device reads.
//   Interleaved16  rows in groups of 16 (the last padded with zero rows); a group holds, for
//                  each block index in turn, a tile of its 16 rows' blocks: first each field
//                  of the blocks' headers for the 16 rows (16 float16 scales d; Q4_1 then its
//                  16 minimums m), then the quantized bytes 4 at a time, row after row (bytes
//                  0..3 of rows 0..15, bytes 4..7 of rows 0..15, ...). Q8_0's bytes are
//                  stored plus 128 (unsigned). 16 rows x 4 bytes fill a 512-bit register,
//                  whose byte dot product against the activation's 4 bytes broadcast gives
//                  16 rows' sums at once, and the tile's 16 scales convert in one
//                  instruction: the matrix-vector loops' layout on AVX512-VNNI CPUs. Same
//                  bytes per block as Rows.
enum class QuantLayout { Rows, Interleaved16 };
constexpr std::int64_t kInterleaveRows = 16;

// Bytes of one block (0 for None).
std::int64_t quantBlockBytes(QuantFormat format);
// Bytes of a block's header: its float16 scale (and Q4_1's float16 minimum); its quantized
// bytes follow.
constexpr std::int64_t quantHeaderBytes(QuantFormat format) {
    return format == QuantFormat::Q4_1 ? 4 : 2;
}
// Bytes of a row of k weights: ceil(k / 32) blocks.
std::int64_t quantRowBytes(QuantFormat format, std::int64_t k);
// "q8_0", "q4_0", "q4_1", "none".
const char* quantFormatName(QuantFormat format);
// The inverse of quantFormatName (also "none"); false for any other name.
bool parseQuantFormat(const std::string& name, QuantFormat& format);

// Which of a decoder's weights are quantized, and how: `linears` the layers' q/k/v/o and
// gate/up/down projections, `embeddings` the token embedding and lm_head. Vision towers,
// connectors and norms keep the model's floating-point type.
struct Quantization {
    QuantFormat linears = QuantFormat::None;
    QuantFormat embeddings = QuantFormat::None;
    bool enabled() const { return linears != QuantFormat::None || embeddings != QuantFormat::None; }
};

}  // namespace vqa::models
