// An AWQ checkpoint's tensors (engine/io/AwqConfig.h) as the models take them: a linear stored
// as X.qweight, X.qzeros and X.scales answers for X.weight. The loader's quantizing path gets
// it as llama.cpp's Q4_1 blocks without rounding anything but the minimum: a group's scale s
// is the blocks' d, and its zero point z their m = -s z (rounded once to float16), so
// d q + m = s (q - z), which is how AWQ dequantizes. Groups are 32 weights or a multiple of 32,
// so every 32-weight block lies in one group. Asked for floats (get), it dequantizes them.
#pragma once

#include <cstdint>
#include <string>

#include "engine/io/AwqConfig.h"
#include "models/WeightSource.h"

namespace vqa {

class AwqWeights : public models::WeightSource {
  public:
    // `where` names the folder in messages.
    AwqWeights(const models::WeightSource& source, AwqSettings settings, std::string where)
        : source_(source), settings_(settings), where_(std::move(where)) {}

    bool contains(const std::string& name) const override { return packed(name) || source_.contains(name); }
    // X.weight of an AWQ linear: float32 [out, in], s (q - z).
    torch::Tensor get(const std::string& name) const override;
    std::vector<std::string> names() const override;
    void release(const std::string& name) const override;
    // X.weight of an AWQ linear into Q4_1 rows (the only format it is read into: a 4-bit
    // checkpoint is not made 8-bit); floats stored as floats: false, the loader quantizes them.
    bool quantizedInto(const std::string& name, std::int64_t rows, models::QuantizedMatrix& into,
                       std::int64_t first_row) const override;

  private:
    // Whether `name` is X.weight of a linear stored as X.qweight (and not as floats).
    bool packed(const std::string& name) const;
    struct Packed {
        torch::Tensor qweight, qzeros, scales;  // checked against each other and [rows, cols]
        std::int64_t group = 0;
    };
    Packed tensors(const std::string& name, std::int64_t rows, std::int64_t cols) const;

    const models::WeightSource& source_;
    AwqSettings settings_;
    std::string where_;
};

// The Q4_1 blocks of an AWQ GEMM linear: qweight int32 [in, out/8], qzeros int32
// [in/group, out/8], scales float32 [in/group, out] -> out rows of in/32 blocks, row r written
// at `rows` + r * row_stride bytes. On all intra-op threads. Exposed for tests.
void awqToQ41(const torch::Tensor& qweight, const torch::Tensor& qzeros, const torch::Tensor& scales,
              std::int64_t group, std::uint8_t* rows, std::int64_t row_stride);

}  // namespace vqa
