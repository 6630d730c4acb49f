// Latency of the image index's brute-force search (engine/retrieval/VectorSearch: dot products
// over one contiguous float matrix, top k in a heap) on random unit vectors, one query at a
// time on one thread, as `vqa search` and the window run it. Not a test: numbers for
// docs/BENCHMARKS.md ("Image search"). Built by hand, with the flags the project's Release
// build gives the engine (-O3, no -march):
//
//   g++ -O3 -DNDEBUG -std=c++20 -I. tests/bench/bench_search.cpp engine/retrieval/VectorSearch.cpp engine/library/LibraryDb.cpp engine/library/Sqlite.cpp engine/library/EmbeddingStore.cpp -lsqlite3 -o build/bench_search
//   build/bench_search [--rows 10000,100000,1000000] [--dims 512,768] [--top 20] [--seconds 1]
//                      [--library-rows 100000]
//
// Prints a table, then one JSON line per case. "GB/s" is the matrix's bytes read per second;
// "naive" is the same search with a single running sum per row (what the loop would be without
// the lanes: GCC does not vectorize a float sum without -ffast-math). With --library-rows N it
// also writes N vectors of the first dimension into a library database in a temporary folder
// and times reading them back into one matrix (EmbeddingStore::load): what the first search
// after an index changed pays.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <filesystem>

#include <unistd.h>

#include "engine/library/EmbeddingStore.h"
#include "engine/library/LibraryDb.h"
#include "engine/retrieval/VectorSearch.h"

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::size_t> parseList(const char* text) {
    std::vector<std::size_t> out;
    std::string s(text);
    std::size_t at = 0;
    while (at <= s.size()) {
        const std::size_t comma = s.find(',', at);
        out.push_back(std::stoull(s.substr(at, comma - at)));
        if (comma == std::string::npos)
            break;
        at = comma + 1;
    }
    return out;
}

// xorshift: fast enough to fill 3 GB, and the same numbers on every run.
struct Random {
    std::uint64_t state = 0x9E3779B97F4A7C15ull;
    float next() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return static_cast<float>(static_cast<double>(state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
};

void normalize(float* v, std::size_t n) {
    double s = 0;
    for (std::size_t i = 0; i < n; ++i)
        s += static_cast<double>(v[i]) * v[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(s));
    for (std::size_t i = 0; i < n; ++i)
        v[i] *= inv;
}

// The same top k with one running sum per row: the baseline the lanes are measured against.
std::vector<vqa::retrieval::ScoredRow> naiveTop(const float* m, std::size_t rows, std::size_t dim, const float* q,
                                                std::size_t top) {
    std::vector<vqa::retrieval::ScoredRow> best;
    auto worse = [](const vqa::retrieval::ScoredRow& a, const vqa::retrieval::ScoredRow& b) { return a.score > b.score; };
    for (std::size_t r = 0; r < rows; ++r) {
        float s = 0;
        const float* row = m + r * dim;
        for (std::size_t j = 0; j < dim; ++j)
            s += row[j] * q[j];
        if (best.size() < top) {
            best.push_back({r, s});
            std::push_heap(best.begin(), best.end(), worse);
        } else if (s > best.front().score) {
            std::pop_heap(best.begin(), best.end(), worse);
            best.back() = {r, s};
            std::push_heap(best.begin(), best.end(), worse);
        }
    }
    std::sort_heap(best.begin(), best.end(), worse);
    return best;
}

// Median seconds of one call of `fn(query index)`, over at least `min_seconds` and 5 calls.
template <typename Fn>
double medianSeconds(Fn fn, std::size_t queries, double min_seconds) {
    fn(0);  // warm: pages touched, caches filled as far as they go
    std::vector<double> times;
    const auto start = Clock::now();
    for (std::size_t i = 0; times.size() < 5 || std::chrono::duration<double>(Clock::now() - start).count() < min_seconds;
         ++i) {
        const auto t = Clock::now();
        fn(i % queries);
        times.push_back(std::chrono::duration<double>(Clock::now() - t).count());
    }
    std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2), times.end());
    return times[times.size() / 2];
}

// Seconds to read `rows` vectors of `dim` back from a library database (written first).
double libraryLoadSeconds(std::size_t rows, std::size_t dim) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("vqa-bench-search-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    double seconds = 0;
    {
        vqa::library::LibraryDb db((dir / "library.db").string());
        vqa::library::EmbeddingStore store(db);
        Random random;
        for (std::size_t first = 0; first < rows; first += 10'000) {
            vqa::library::VectorBatch batch;
            for (std::size_t r = first; r < std::min(rows, first + 10'000); ++r) {
                vqa::library::ImageRecord image;
                image.path = "/photos/" + std::to_string(1'000'000'000 + r) + ".jpg";
                image.sha256 = std::to_string(r);
                std::vector<float> v(dim);
                for (float& x : v)
                    x = random.next();
                normalize(v.data(), dim);
                batch.entries.push_back({image, std::move(v)});
            }
            store.write("bench", static_cast<int>(dim), batch);
        }
        const auto start = Clock::now();
        const auto matrix = store.load("bench");
        seconds = std::chrono::duration<double>(Clock::now() - start).count();
        if (matrix.rows() != rows)
            seconds = -1;
    }
    fs::remove_all(dir);
    return seconds;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::size_t> rows_list = {10'000, 100'000, 1'000'000};
    std::vector<std::size_t> dims = {512, 768};
    std::size_t top = 20;
    double seconds = 1.0;
    std::size_t library_rows = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--rows"))
            rows_list = parseList(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--dims"))
            dims = parseList(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--top"))
            top = std::stoull(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--seconds"))
            seconds = std::stod(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--library-rows"))
            library_rows = std::stoull(argv[i + 1]);
        else {
            std::fprintf(stderr, "usage: bench_search [--rows N,...] [--dims D,...] [--top K] [--seconds S] "
                                 "[--library-rows N]\n");
            return 2;
        }
    }
    std::printf("%10s %5s %10s %12s %9s %12s %9s\n", "rows", "dim", "MB", "ms/query", "GB/s", "naive ms", "naive GB/s");
    std::vector<std::string> json;
    constexpr std::size_t kQueries = 8;
    for (std::size_t dim : dims) {
        for (std::size_t rows : rows_list) {
            std::vector<float> matrix(rows * dim);
            Random random;
            for (float& v : matrix)
                v = random.next();
            for (std::size_t r = 0; r < rows; ++r)
                normalize(matrix.data() + r * dim, dim);
            std::vector<float> queries(kQueries * dim);
            for (float& v : queries)
                v = random.next();
            for (std::size_t q = 0; q < kQueries; ++q)
                normalize(queries.data() + q * dim, dim);

            // Both find the same rows (a check that the benchmark measures a correct search).
            const auto ours = vqa::retrieval::topRowsByDot(matrix.data(), rows, dim, queries.data(), top);
            const auto naive = naiveTop(matrix.data(), rows, dim, queries.data(), top);
            for (std::size_t k = 0; k < std::min(ours.size(), naive.size()); ++k)
                if (ours[k].row != naive[k].row && std::fabs(ours[k].score - naive[k].score) > 1e-5f) {
                    std::fprintf(stderr, "bench_search: the rankings differ at %zu\n", k);
                    return 1;
                }

            volatile float sink = 0;
            const double t = medianSeconds(
                [&](std::size_t q) {
                    sink = sink + vqa::retrieval::topRowsByDot(matrix.data(), rows, dim, queries.data() + q * dim, top)[0].score;
                },
                kQueries, seconds);
            const double tn = medianSeconds(
                [&](std::size_t q) { sink = sink + naiveTop(matrix.data(), rows, dim, queries.data() + q * dim, top)[0].score; },
                kQueries, seconds);
            const double bytes = static_cast<double>(rows) * dim * sizeof(float);
            std::printf("%10zu %5zu %10.0f %12.3f %9.1f %12.3f %9.1f\n", rows, dim, bytes / 1e6, t * 1e3, bytes / t / 1e9,
                        tn * 1e3, bytes / tn / 1e9);
            std::fflush(stdout);
            char line[256];
            std::snprintf(line, sizeof line,
                          "{\"rows\":%zu,\"dim\":%zu,\"top\":%zu,\"ms_per_query\":%.4f,\"gb_per_s\":%.2f,"
                          "\"naive_ms_per_query\":%.4f}",
                          rows, dim, top, t * 1e3, bytes / t / 1e9, tn * 1e3);
            json.push_back(line);
        }
    }
    if (library_rows > 0) {
        try {
            const double t = libraryLoadSeconds(library_rows, dims.front());
            std::printf("library: %zu vectors of %zu read into one matrix in %.3f s\n", library_rows, dims.front(), t);
            char line[160];
            std::snprintf(line, sizeof line, "{\"library_rows\":%zu,\"dim\":%zu,\"load_seconds\":%.4f}", library_rows,
                          dims.front(), t);
            json.push_back(line);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "bench_search: %s\n", e.what());
            return 1;
        }
    }
    for (const auto& line : json)
        std::printf("%s\n", line.c_str());
    return 0;
}
