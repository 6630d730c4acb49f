#include "engine/eval/VqaAccuracy.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

namespace vqa::eval {
namespace {

// Python's str.isspace (what str.split() and str.strip() use), for one code point.
bool pythonSpace(UChar32 c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

struct CodePoint {
    UChar32 c;
    std::size_t begin, end;  // bytes
};

std::vector<CodePoint> codePoints(std::string_view s) {
    std::vector<CodePoint> out;
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    const auto n = static_cast<int32_t>(s.size());
    int32_t i = 0;
    while (i < n) {
        const int32_t begin = i;
        UChar32 c;
        U8_NEXT(p, i, n, c);
        out.push_back({c, static_cast<std::size_t>(begin), static_cast<std::size_t>(i)});
    }
    return out;
}

std::vector<std::string> splitPython(std::string_view s) {
    std::vector<std::string> out;
    std::string word;
    for (const CodePoint& cp : codePoints(s)) {
        if (pythonSpace(cp.c)) {
            if (!word.empty())
                out.push_back(std::move(word));
            word.clear();
        } else {
            word.append(s.substr(cp.begin, cp.end - cp.begin));
        }
    }
    if (!word.empty())
        out.push_back(std::move(word));
    return out;
}

std::string stripPython(std::string_view s) {
    const std::vector<CodePoint> cps = codePoints(s);
    std::size_t b = 0, e = cps.size();
    while (b < e && pythonSpace(cps[b].c))
        ++b;
    while (e > b && pythonSpace(cps[e - 1].c))
        --e;
    if (b == e)
        return "";
    return std::string(s.substr(cps[b].begin, cps[e - 1].end - cps[b].begin));
}

std::string lower(std::string_view s) {
    std::string out;
    icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())))
        .toLower(icu::Locale::getRoot())
        .toUTF8String(out);
    return out;
}

std::string replaceAll(const std::string& text, std::string_view from, std::string_view to) {
    std::string out;
    std::size_t start = 0;
    for (std::size_t at; (at = text.find(from, start)) != std::string::npos; start = at + from.size()) {
        out.append(text, start, at - start);
        out.append(to);
    }
    out.append(text, start, std::string::npos);
    return out;
}

// Python's \d (a Unicode decimal digit) at the code point starting at byte i.
bool digitAt(const std::vector<CodePoint>& cps, std::size_t k) {
    return k < cps.size() && u_charType(cps[k].c) == U_DECIMAL_DIGIT_NUMBER;
}

// A digit, a comma, a digit: "1,000".
bool hasDigitCommaDigit(std::string_view text) {
    const std::vector<CodePoint> cps = codePoints(text);
    for (std::size_t k = 1; k + 1 < cps.size(); ++k)
        if (cps[k].c == ',' && digitAt(cps, k - 1) && digitAt(cps, k + 1))
            return true;
    return false;
}

const std::unordered_map<std::string, std::string>& contractions() {
    static const std::unordered_map<std::string, std::string> table = {
        {"aint", "ain't"}, {"arent", "aren't"}, {"cant", "can't"}, {"couldve", "could've"},
        {"couldnt", "couldn't"}, {"couldn'tve", "couldn't've"}, {"couldnt've", "couldn't've"},
        {"didnt", "didn't"}, {"doesnt", "doesn't"}, {"dont", "don't"}, {"hadnt", "hadn't"},
        {"hadnt've", "hadn't've"}, {"hadn'tve", "hadn't've"}, {"hasnt", "hasn't"}, {"havent", "haven't"},
        {"hed", "he'd"}, {"hed've", "he'd've"}, {"he'dve", "he'd've"}, {"hes", "he's"}, {"howd", "how'd"},
        {"howll", "how'll"}, {"hows", "how's"}, {"Id've", "I'd've"}, {"I'dve", "I'd've"}, {"Im", "I'm"},
        {"Ive", "I've"}, {"isnt", "isn't"}, {"itd", "it'd"}, {"itd've", "it'd've"}, {"it'dve", "it'd've"},
        {"itll", "it'll"}, {"let's", "let's"}, {"maam", "ma'am"}, {"mightnt", "mightn't"},
        {"mightnt've", "mightn't've"}, {"mightn'tve", "mightn't've"}, {"mightve", "might've"},
        {"mustnt", "mustn't"}, {"mustve", "must've"}, {"neednt", "needn't"}, {"notve", "not've"},
        {"oclock", "o'clock"}, {"oughtnt", "oughtn't"}, {"ow's'at", "'ow's'at"}, {"'ows'at", "'ow's'at"},
        {"'ow'sat", "'ow's'at"}, {"shant", "shan't"}, {"shed've", "she'd've"}, {"she'dve", "she'd've"},
        {"she's", "she's"}, {"shouldve", "should've"}, {"shouldnt", "shouldn't"},
        {"shouldnt've", "shouldn't've"}, {"shouldn'tve", "shouldn't've"}, {"somebody'd", "somebodyd"},
        {"somebodyd've", "somebody'd've"}, {"somebody'dve", "somebody'd've"}, {"somebodyll", "somebody'll"},
        {"somebodys", "somebody's"}, {"someoned", "someone'd"}, {"someoned've", "someone'd've"},
        {"someone'dve", "someone'd've"}, {"someonell", "someone'll"}, {"someones", "someone's"},
        {"somethingd", "something'd"}, {"somethingd've", "something'd've"},
        {"something'dve", "something'd've"}, {"somethingll", "something'll"}, {"thats", "that's"},
        {"thered", "there'd"}, {"thered've", "there'd've"}, {"there'dve", "there'd've"},
        {"therere", "there're"}, {"theres", "there's"}, {"theyd", "they'd"}, {"theyd've", "they'd've"},
        {"they'dve", "they'd've"}, {"theyll", "they'll"}, {"theyre", "they're"}, {"theyve", "they've"},
        {"twas", "'twas"}, {"wasnt", "wasn't"}, {"wed've", "we'd've"}, {"we'dve", "we'd've"},
        {"weve", "we've"}, {"werent", "weren't"}, {"whatll", "what'll"}, {"whatre", "what're"},
        {"whats", "what's"}, {"whatve", "what've"}, {"whens", "when's"}, {"whered", "where'd"},
        {"wheres", "where's"}, {"whereve", "where've"}, {"whod", "who'd"}, {"whod've", "who'd've"},
        {"who'dve", "who'd've"}, {"wholl", "who'll"}, {"whos", "who's"}, {"whove", "who've"},
        {"whyll", "why'll"}, {"whyre", "why're"}, {"whys", "why's"}, {"wont", "won't"},
        {"wouldve", "would've"}, {"wouldnt", "wouldn't"}, {"wouldnt've", "wouldn't've"},
        {"wouldn'tve", "wouldn't've"}, {"yall", "y'all"}, {"yall'll", "y'all'll"}, {"y'allll", "y'all'll"},
        {"yall'd've", "y'all'd've"}, {"y'alld've", "y'all'd've"}, {"y'all'dve", "y'all'd've"},
        {"youd", "you'd"}, {"youd've", "you'd've"}, {"you'dve", "you'd've"}, {"youll", "you'll"},
        {"youre", "you're"}, {"youve", "you've"}};
    return table;
}

std::string cleanWhitespace(std::string_view text) {
    std::string s(text);
    std::replace(s.begin(), s.end(), '\n', ' ');
    std::replace(s.begin(), s.end(), '\t', ' ');
    return stripPython(s);
}

} // namespace

std::string vqaProcessPunctuation(std::string_view text) {
    static const char* const punctuation[] = {";", "/", "[", "]", "\"", "{", "}", "(", ")", "=", "+",
                                              "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"};
    const bool digit_comma_digit = hasDigitCommaDigit(text);
    std::string out(text);
    for (const char* p : punctuation) {
        const std::string mark = p;
        const bool spaced = text.find(mark + " ") != std::string_view::npos || text.find(" " + mark) != std::string_view::npos;
        out = replaceAll(out, mark, spaced || digit_comma_digit ? "" : " ");
    }
    // A "." not followed by a digit goes; the reference passes re.UNICODE where sub() takes its
    // count, so at most 32 of them go.
    const std::vector<CodePoint> cps = codePoints(out);
    std::string result;
    int removed = 0;
    for (std::size_t k = 0; k < cps.size(); ++k) {
        if (cps[k].c == '.' && removed < 32 && !digitAt(cps, k + 1)) {
            ++removed;
            continue;
        }
        result.append(out, cps[k].begin, cps[k].end - cps[k].begin);
    }
    return result;
}

std::string vqaProcessDigitArticle(std::string_view text) {
    static const std::map<std::string, std::string> numbers = {
        {"none", "0"}, {"zero", "0"}, {"one", "1"}, {"two", "2"}, {"three", "3"}, {"four", "4"},
        {"five", "5"}, {"six", "6"}, {"seven", "7"}, {"eight", "8"}, {"nine", "9"}, {"ten", "10"}};
    static const std::set<std::string> articles = {"a", "an", "the"};
    std::vector<std::string> kept;
    for (std::string word : splitPython(lower(text))) {
        if (auto n = numbers.find(word); n != numbers.end())
            word = n->second;
        if (!articles.count(word))
            kept.push_back(std::move(word));
    }
    std::string out;
    for (std::string& word : kept) {
        if (auto c = contractions().find(word); c != contractions().end())
            word = c->second;
        if (!out.empty())
            out += ' ';
        out += word;
    }
    return out;
}

VqaScore scoreVqaAnswer(std::string_view prediction, const std::vector<std::string>& answers) {
    VqaScore score;
    score.prediction = cleanWhitespace(prediction);
    for (const std::string& a : answers)
        score.answers.push_back(cleanWhitespace(a));
    if (score.answers.empty())
        return score;
    const std::set<std::string> distinct(score.answers.begin(), score.answers.end());
    if (distinct.size() > 1) {
        for (std::string& a : score.answers)
            a = vqaProcessDigitArticle(vqaProcessPunctuation(a));
        score.prediction = vqaProcessDigitArticle(vqaProcessPunctuation(score.prediction));
    }
    const std::string predicted = lower(score.prediction);
    std::vector<bool> matches;
    for (const std::string& a : score.answers)
        matches.push_back(lower(a) == predicted);
    const auto all_matches = static_cast<double>(std::count(matches.begin(), matches.end(), true));
    double sum = 0;
    for (bool m : matches)  // leave answer i out: the others that match
        sum += std::min(1.0, (all_matches - (m ? 1 : 0)) / 3.0);
    score.accuracy = sum / static_cast<double>(matches.size());
    return score;
}

} // namespace vqa::eval
