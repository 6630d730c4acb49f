#include "engine/retrieval/VectorSearch.h"

#include <algorithm>
#include <cstring>

namespace vqa::retrieval {

namespace {

// Sixteen running sums, one per lane, as four 4-float vectors (GCC's and Clang's vector
// extensions): they compile to SSE on every x86-64 at any optimization level, where a plain
// loop over an array of sums is vectorized at -O3 only and a single sum not at all without
// -ffast-math (a chain of dependent additions, 10x slower: docs/BENCHMARKS.md). The order of
// the additions is fixed, so a score is the same number on every run. Wider registers (AVX2,
// AVX-512) gain nothing measurable here: the loop is bound by memory from 100k vectors on.
using Float4 = float __attribute__((vector_size(16)));

inline Float4 load4(const float* p) {
    Float4 v;
    std::memcpy(&v, p, sizeof v);  // unaligned
    return v;
}

inline float dot(const float* a, const float* b, std::size_t n) {
    constexpr std::size_t kLanes = 16;
    Float4 s0 = {}, s1 = {}, s2 = {}, s3 = {};
    std::size_t j = 0;
    for (; j + kLanes <= n; j += kLanes) {
        s0 += load4(a + j) * load4(b + j);
        s1 += load4(a + j + 4) * load4(b + j + 4);
        s2 += load4(a + j + 8) * load4(b + j + 8);
        s3 += load4(a + j + 12) * load4(b + j + 12);
    }
    float acc[kLanes];
    std::memcpy(acc, &s0, sizeof s0);
    std::memcpy(acc + 4, &s1, sizeof s1);
    std::memcpy(acc + 8, &s2, sizeof s2);
    std::memcpy(acc + 12, &s3, sizeof s3);
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
