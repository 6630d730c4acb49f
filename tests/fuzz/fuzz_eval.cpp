// `vqa eval`'s text handling on any bytes (engine/eval): the first line is a prediction, the
// rest its references (or the people's answers). The COCO tokenizer must give valid UTF-8 with
// single spaces, the same caption alone and among others when nothing follows it, and every
// metric a finite number in its range; the VQA accuracy lies in [0, 1].
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/eval/CaptionMetrics.h"
#include "engine/eval/CocoTokenizer.h"
#include "engine/eval/VqaAccuracy.h"

namespace {

void check(bool ok) {
    if (!ok)
        std::abort();
}

bool validUtf8(const std::string& s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > s.size())
            return false;
        for (std::size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80)
                return false;
        i += n;
    }
    return true;
}

void checkTokens(const std::string& t) {
    check(validUtf8(t));
    check(t.empty() || (t.front() != ' ' && t.back() != ' '));
    check(t.find("  ") == std::string::npos);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 4096)
        return 0;  // the tokenizer's time grows with the square of a line without spaces
    const std::string text(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (lines.size() < 12) {
        const std::size_t end = text.find('\n', start);
        lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos)
            break;
        start = end + 1;
    }

    const std::vector<std::string> tokenized = vqa::eval::cocoTokenizeLines(lines);
    check(tokenized.size() == lines.size());
    for (const std::string& t : tokenized)
        checkTokens(t);
    checkTokens(vqa::eval::cocoTokenize(lines.front()));

    vqa::eval::CaptionCase c;
    c.candidate = tokenized.front();
    c.references.assign(tokenized.begin() + (tokenized.size() > 1 ? 1 : 0), tokenized.end());
    const auto e = vqa::eval::scoreCaptions({c, c});
    for (std::size_t k = 0; k < vqa::eval::kCaptionMetricNames.size(); ++k) {
        const double v = vqa::eval::captionMetric(e.per_item[0], k);
        check(std::isfinite(v) && v >= 0 && (k == 5 || v <= 1 + 1e-9));
    }

    const std::vector<std::string> answers(lines.begin() + (lines.size() > 1 ? 1 : 0), lines.end());
    const auto score = vqa::eval::scoreVqaAnswer(lines.front(), answers);
    check(score.accuracy >= 0 && score.accuracy <= 1);
    check(score.answers.size() == answers.size());
    return 0;
}
