// Encoding speed of our tokenizer on a corpus (JSON array of strings), single thread.
// Prints one JSON object. Not a test: run by bench_tokenizer.py, which times Python
// tokenizers on the same corpus.
//   bench_tokenizer MODEL_DIR CORPUS_JSON [REPEATS]
#include <chrono>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "engine/text/Tokenizer.h"

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: bench_tokenizer MODEL_DIR CORPUS_JSON [REPEATS]\n";
        return 2;
    }
    try {
        int repeats = argc > 3 ? std::stoi(argv[3]) : 20;
        std::ifstream in(argv[2]);
        auto corpus = nlohmann::json::parse(in).get<std::vector<std::string>>();
        using clock = std::chrono::steady_clock;
        auto t0 = clock::now();
        auto tok = vqa::loadTokenizer(argv[1]);
        double load_s = std::chrono::duration<double>(clock::now() - t0).count();
        std::size_t tokens = 0, bytes = 0;
        auto t1 = clock::now();
        for (const auto& s : corpus)  // first pass: the word cache is cold
            tokens += tok->encode(s).size();
        double cold_s = std::chrono::duration<double>(clock::now() - t1).count();
        std::size_t cold_tokens = tokens;
        tokens = 0;
        auto t2 = clock::now();
        for (int r = 0; r < repeats; ++r)
            for (const auto& s : corpus) {
                tokens += tok->encode(s).size();
                bytes += s.size();
            }
        double warm_s = std::chrono::duration<double>(clock::now() - t2).count();
        nlohmann::json out = {{"load_seconds", load_s},
                              {"tokens_per_pass", cold_tokens},
                              {"cold_tokens_per_second", cold_tokens / cold_s},
                              {"tokens_per_second", tokens / warm_s},
                              {"megabytes_per_second", bytes / warm_s / 1e6},
                              {"repeats", repeats}};
        std::cout << out.dump() << "\n";
    } catch (const std::exception& e) {
        std::cerr << "bench_tokenizer: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
