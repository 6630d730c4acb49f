#include "engine/eval/CaptionMetrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

#include "models/base/Error.h"

namespace vqa::eval {
namespace {

constexpr int kN = 4;  // n-grams up to 4 words, for BLEU and CIDEr-D alike

// Words split on runs of whitespace (BLEU and CIDEr-D split so).
std::vector<std::string> words(const std::string& s) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
            ++i;
        std::size_t j = i;
        while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j])))
            ++j;
        if (j > i)
            out.push_back(s.substr(i, j - i));
        i = j;
    }
    return out;
}

// Words split on every single space, empty words included (ROUGE-L splits so: "" is one
// empty word, two spaces make an empty word between them).
std::vector<std::string> wordsAtSpaces(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (true) {
        const std::size_t space = s.find(' ', start);
        out.push_back(s.substr(start, space == std::string::npos ? std::string::npos : space - start));
        if (space == std::string::npos)
            return out;
        start = space + 1;
    }
}

// An n-gram is its words joined by a space (no word holds one), counted; `order` keeps n.
struct NgramCounts {
    std::unordered_map<std::string, int> counts;
    std::unordered_map<std::string, int> order;  // n - 1
    int length = 0;                              // words
};

NgramCounts countNgrams(const std::string& sentence) {
    const std::vector<std::string> w = words(sentence);
    NgramCounts c;
    c.length = static_cast<int>(w.size());
    for (int k = 1; k <= kN; ++k) {
        for (int i = 0; i + k <= c.length; ++i) {
            std::string gram = w[static_cast<std::size_t>(i)];
            for (int j = 1; j < k; ++j)
                gram += ' ' + w[static_cast<std::size_t>(i + j)];
            ++c.counts[gram];
            c.order.emplace(gram, k - 1);
        }
    }
    return c;
}

// --- BLEU ---------------------------------------------------------------------------------

struct BleuStats {
    double test_length = 0;
    double ref_length = 0;  // the reference length closest to the candidate's (ties: shorter)
    std::array<double, kN> guess{};
    std::array<double, kN> correct{};
};

BleuStats bleuStats(const CaptionCase& c) {
    std::unordered_map<std::string, int> max_ref_counts;
    std::vector<int> ref_lengths;
    for (const std::string& ref : c.references) {
        NgramCounts r = countNgrams(ref);
        ref_lengths.push_back(r.length);
        for (const auto& [gram, n] : r.counts)
            max_ref_counts[gram] = std::max(max_ref_counts[gram], n);
    }
    const NgramCounts t = countNgrams(c.candidate);
    BleuStats s;
    s.test_length = t.length;
    int best = ref_lengths.front();
    for (int l : ref_lengths)
        if (std::abs(l - t.length) < std::abs(best - t.length) ||
            (std::abs(l - t.length) == std::abs(best - t.length) && l < best))
            best = l;
    s.ref_length = best;
    for (int k = 0; k < kN; ++k)
        s.guess[static_cast<std::size_t>(k)] = std::max(0, t.length - k);
    for (const auto& [gram, n] : t.counts) {
        const auto ref = max_ref_counts.find(gram);
        if (ref != max_ref_counts.end())
            s.correct[static_cast<std::size_t>(t.order.at(gram))] += std::min(ref->second, n);
    }
    return s;
}

// BLEU-1..4 of counts, with the reference's guards against dividing by zero.
std::array<double, kN> bleuOf(const BleuStats& s) {
    constexpr double small = 1e-9;
    constexpr double tiny = 1e-15;
    std::array<double, kN> out{};
    double product = 1.0;
    for (int k = 0; k < kN; ++k) {
        const auto i = static_cast<std::size_t>(k);
        product *= (s.correct[i] + tiny) / (s.guess[i] + small);
        out[i] = std::pow(product, 1.0 / (k + 1));
    }
    const double ratio = (s.test_length + tiny) / (s.ref_length + small);
    if (ratio < 1)
        for (double& b : out)
            b *= std::exp(1 - 1 / ratio);
    return out;
}

// --- ROUGE-L ------------------------------------------------------------------------------

std::size_t longestCommonSubsequence(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    std::vector<std::size_t> row(b.size() + 1, 0), next(b.size() + 1, 0);
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j)
            next[j] = a[i - 1] == b[j - 1] ? row[j - 1] + 1 : std::max(row[j], next[j - 1]);
        std::swap(row, next);
    }
    return row[b.size()];
}

double rougeL(const CaptionCase& c) {
    constexpr double beta = 1.2;
    const std::vector<std::string> candidate = wordsAtSpaces(c.candidate);
    double best_precision = 0, best_recall = 0;
    for (const std::string& ref : c.references) {
        const std::vector<std::string> r = wordsAtSpaces(ref);
        const auto lcs = static_cast<double>(longestCommonSubsequence(r, candidate));
        best_precision = std::max(best_precision, lcs / static_cast<double>(candidate.size()));
        best_recall = std::max(best_recall, lcs / static_cast<double>(r.size()));
    }
    if (best_precision == 0 || best_recall == 0)
        return 0.0;
    return (1 + beta * beta) * best_precision * best_recall / (best_recall + beta * beta * best_precision);
}

// --- CIDEr-D ------------------------------------------------------------------------------

// A sentence as tf-idf vectors, one per n: weight = count * (log(images) - log(max(1, df))).
struct TfIdf {
    std::array<std::unordered_map<std::string, double>, kN> vec;
    std::array<double, kN> norm{};
    // The reference counts its "length" as the number of bigrams; kept, since it is what the
    // length penalty is computed on there.
    double length = 0;
};

TfIdf tfIdf(const NgramCounts& c, const std::unordered_map<std::string, double>& df, double log_images) {
    TfIdf v;
    for (const auto& [gram, n] : c.counts) {
        const auto f = df.find(gram);
        const double idf = std::log(std::max(1.0, f == df.end() ? 0.0 : f->second));
        const auto k = static_cast<std::size_t>(c.order.at(gram));
        const double w = n * (log_images - idf);
        v.vec[k][gram] = w;
        v.norm[k] += w * w;
        if (k == 1)
            v.length += n;
    }
    for (double& n : v.norm)
        n = std::sqrt(n);
    return v;
}

std::array<double, kN> ciderSimilarity(const TfIdf& hyp, const TfIdf& ref) {
    constexpr double sigma = 6.0;
    const double delta = hyp.length - ref.length;
    std::array<double, kN> val{};
    for (std::size_t k = 0; k < kN; ++k) {
        for (const auto& [gram, w] : hyp.vec[k]) {
            const auto r = ref.vec[k].find(gram);
            const double rw = r == ref.vec[k].end() ? 0.0 : r->second;
            val[k] += std::min(w, rw) * rw;
        }
        if (hyp.norm[k] != 0 && ref.norm[k] != 0)
            val[k] /= hyp.norm[k] * ref.norm[k];
        val[k] *= std::pow(M_E, -(delta * delta) / (2 * sigma * sigma));
    }
    return val;
}

std::vector<double> ciderD(const std::vector<CaptionCase>& cases) {
    std::vector<std::vector<NgramCounts>> refs(cases.size());
    std::unordered_map<std::string, double> df;  // images whose references hold the n-gram
    for (std::size_t i = 0; i < cases.size(); ++i) {
        std::set<std::string> seen;
        for (const std::string& r : cases[i].references) {
            refs[i].push_back(countNgrams(r));
            for (const auto& entry : refs[i].back().counts)
                seen.insert(entry.first);
        }
        for (const std::string& gram : seen)
            df[gram] += 1;
    }
    const double log_images = std::log(static_cast<double>(cases.size()));
    std::vector<double> scores;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const TfIdf hyp = tfIdf(countNgrams(cases[i].candidate), df, log_images);
        std::array<double, kN> sum{};
        for (const NgramCounts& r : refs[i]) {
            const auto s = ciderSimilarity(hyp, tfIdf(r, df, log_images));
            for (std::size_t k = 0; k < kN; ++k)
                sum[k] += s[k];
        }
        double mean = 0;
        for (double s : sum)
            mean += s;
        mean /= kN;
        scores.push_back(mean / static_cast<double>(refs[i].size()) * 10.0);
    }
    return scores;
}

} // namespace

double captionMetric(const CaptionScores& s, std::size_t i) {
    if (i < 4)
        return s.bleu[i];
    return i == 4 ? s.rouge_l : s.cider_d;
}

CaptionEvaluation scoreCaptions(const std::vector<CaptionCase>& cases) {
    CaptionEvaluation out;
    if (cases.empty())
        return out;
    for (std::size_t i = 0; i < cases.size(); ++i)
        if (cases[i].references.empty())
            throw Error("caption " + std::to_string(i + 1) + " has no reference captions to be scored against");
    BleuStats total;
    const std::vector<double> cider = ciderD(cases);
    double rouge_sum = 0, cider_sum = 0;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const BleuStats s = bleuStats(cases[i]);
        total.test_length += s.test_length;
        total.ref_length += s.ref_length;
        for (std::size_t k = 0; k < kN; ++k) {
            total.guess[k] += s.guess[k];
            total.correct[k] += s.correct[k];
        }
        CaptionScores item;
        item.bleu = bleuOf(s);
        item.rouge_l = rougeL(cases[i]);
        item.cider_d = cider[i];
        rouge_sum += item.rouge_l;
        cider_sum += item.cider_d;
        out.per_item.push_back(item);
    }
    out.corpus.bleu = bleuOf(total);
    out.corpus.rouge_l = rouge_sum / static_cast<double>(cases.size());
    out.corpus.cider_d = cider_sum / static_cast<double>(cases.size());
    return out;
}

} // namespace vqa::eval
