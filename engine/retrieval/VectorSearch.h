// Brute-force nearest vectors: the dot product of a query with every row of one contiguous
// row-major float matrix, and the best `top` rows kept in a heap as the scores come (no array
// of all the scores, no full sort). For unit vectors the dot product is the cosine.
//
// Brute force reads the whole matrix once per query, so it is bound by memory bandwidth: see
// docs/BENCHMARKS.md ("Image search") for the sizes where that stops being fast enough.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace vqa::retrieval {

struct ScoredRow {
    std::size_t row = 0;
    float score = 0;
};

// out[r] = dot(row r of `matrix`, query) for r in [0, rows).
void dotRows(const float* matrix, std::size_t rows, std::size_t dim, const float* query, float* out);

// The `top` rows with the highest dot product with `query`, best first (equal scores: lower
// row first), among the row ranges [first, last) in `ranges` (every row when empty; ranges
// must not overlap). Row `skip` is left out.
std::vector<ScoredRow> topRowsByDot(const float* matrix, std::size_t rows, std::size_t dim, const float* query,
                                    std::size_t top, const std::vector<std::pair<std::size_t, std::size_t>>& ranges = {},
                                    std::size_t skip = SIZE_MAX);

} // namespace vqa::retrieval
