#include "engine/retrieval/VectorSearch.h"

#include <algorithm>

namespace vqa::retrieval {

namespace {

// Sixteen running sums, one per lane: the compiler keeps them in vector registers (four SSE
// or two AVX registers) and vectorizes the loop without -ffast-math, which a single sum would
// need to be reordered. The result is therefore a fixed, deterministic order of additions.
inline float dot(const float* a, const float* b, std::size_t n) {
    constexpr std::size_t kLanes = 16;
    float acc[kLanes] = {};
    std::size_t j = 0;
    for (; j + kLanes <= n; j += kLanes)
        for (std::size_t l = 0; l < kLanes; ++l)
            acc[l] += a[j + l] * b[j + l];
    for (std::size_t l = 0; j < n; ++j, ++l)
        acc[l] += a[j] * b[j];
    for (std::size_t width = kLanes / 2; width > 0; width /= 2)
        for (std::size_t l = 0; l < width; ++l)
            acc[l] += acc[l + width];
    return acc[0];
}

// a better than b: higher score, then lower row. As the heap's "less", it keeps the worst of
// the rows kept so far at the front.
inline bool better(const ScoredRow& a, const ScoredRow& b) {
    return a.score > b.score || (a.score == b.score && a.row < b.row);
}

} // namespace

void dotRows(const float* matrix, std::size_t rows, std::size_t dim, const float* query, float* out) {
    for (std::size_t r = 0; r < rows; ++r)
        out[r] = dot(matrix + r * dim, query, dim);
}

std::vector<ScoredRow> topRowsByDot(const float* matrix, std::size_t rows, std::size_t dim, const float* query,
                                    std::size_t top, const std::vector<std::pair<std::size_t, std::size_t>>& ranges,
                                    std::size_t skip) {
    std::vector<ScoredRow> heap;
    if (top == 0 || rows == 0)
        return heap;
    heap.reserve(std::min(top, rows));
    const std::vector<std::pair<std::size_t, std::size_t>> all = {{0, rows}};
    // Scores a block at a time: the loop over the matrix stays free of the heap's branches.
    constexpr std::size_t kBlock = 1024;
    float scores[kBlock];
    for (const auto& [first, last] : ranges.empty() ? all : ranges) {
        for (std::size_t start = first; start < std::min(last, rows); start += kBlock) {
            const std::size_t n = std::min(kBlock, std::min(last, rows) - start);
            dotRows(matrix + start * dim, n, dim, query, scores);
            for (std::size_t i = 0; i < n; ++i) {
                const ScoredRow c{start + i, scores[i]};
                if (c.row == skip)
                    continue;
                if (heap.size() < top) {
                    heap.push_back(c);
                    std::push_heap(heap.begin(), heap.end(), better);
                } else if (better(c, heap.front())) {
                    std::pop_heap(heap.begin(), heap.end(), better);
                    heap.back() = c;
                    std::push_heap(heap.begin(), heap.end(), better);
                }
            }
        }
    }
    std::sort_heap(heap.begin(), heap.end(), better);
    return heap;
}

} // namespace vqa::retrieval
