// The COCO caption evaluation's tokenizer (CoreNLP 3.4.1's PTBTokenizer, -preserveLines
// -lowerCase), re-implemented from the jar's observed behaviour; see CocoTokenizer.h.
//
// How: the jar is a JFlex lexer. At every position it takes the longest match among its rules
// (a rule's lookahead counts towards the length but is not consumed), the earliest rule on a
// tie; literals are case-insensitive, character classes are not. This file does the same with a
// small regular-expression engine over sets of positions (PtbPatterns.h: exact longest match, no
// backtracking surprises), a list of rules whose patterns were worked out by probing the jar, and character
// tables measured from it (every BMP code point in several contexts).
#include "engine/eval/CocoTokenizer.h"
#include "engine/eval/PtbCharacters.h"
#include "engine/eval/PtbPatterns.h"

#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vqa::eval {

namespace {

using namespace ptb_chars;
using namespace ptb_patterns;

// ---------------------------------------------------------------------------------------------
// The rules.

enum class Act {
    Keep,        // the token as matched
    Word,        // soft hyphens removed ("-" if nothing is left)
    Can,         // "cannot" -> "can" (the rest is read again)
    SplitKeep,   // the token, then its last character ('.') read again
    DropLast,    // the token less its last character ('.'), which is read again
    Dash,        // "--"
    Amp,         // "&amp;" (any case) -> "&" inside the token
    Quote,       // ' " ` and the curly quotes, not an opening one
    QuoteLeft,   // the same, an opening one
    DoubleLeft,  // " -> ``
    DoubleRight, // " -> ''
    Currency,    // ¢ £ € ...
    Fraction,    // ½ -> 1/2 ...
    Nbsp,        // spaces inside -> U+00A0
    Phone,       // U+00A0 for spaces, -LRB- -RRB- for parentheses
    Smiley,      // -LRB- -RRB- for parentheses
    Hyphens,     // "-", "--" for two to four, five or more as they are
    Ellipsis,    // "..."
    Bracket,     // ( ) [ ] { } &lt; &gt; -> -LRB- ... < >
    Newline,     // a line break (the lines' boundary)
    Skip,        // nothing: spaces, untokenizable characters
};

// A cheap test a rule's match needs, checked before the rule runs.
enum class Need { Nothing, AtAhead, GreaterAhead, HyphenAhead };

struct Rule {
    P body;
    P look; // may be null
    Act act;
    Need need = Need::Nothing;
};

struct Grammar {
    std::vector<Rule> rules;
};

const Grammar& grammar() {
    static const Grammar g = [] {
        Grammar gr;
        auto add = [&](P body, P look, Act act, Need need = Need::Nothing) {
            gr.rules.push_back({std::move(body), std::move(look), act, need});
        };

        const P SPACE = cls(isSpace);
        const P NEWLINE = cls(isNewline);
        const P SPACENL = cls([](char32_t c) { return isSpace(c) || isNewline(c); });
        const P UPPER = cls(isUpper);
        const P ALPHA = cls(isAsciiAlpha);
        const P AUPPER = cls(isAsciiUpper);
        const P ALNUM = cls(isAsciiAlnum);
        const P DIGIT = cls(isJDigit);
        const P ADIGIT = cls(isAsciiDigit);
        const P JLETTER = cls(isJLetter);
        const P JALNUM = cls(isJAlnum);
        const P ANY = cls([](char32_t) { return true; });
        const P SPLET =
            seq({ch('&'), anyOf(U"aeiouAEIOU"), lits({U"acute", U"grave", U"uml"}), ch(';')});
        const P LETTER = alt({cls(isWordLetter), SPLET});
        const P WORD = seq({LETTER, star(alt({LETTER, DIGIT})),
                            star(seq({anyOf(U".!?"), LETTER, star(alt({LETTER, DIGIT}))}))});
        const P APOS = alt({anyOf(U"'\u0092\u2019"), lit(U"&apos;")});
        const P APOSETC = alt({APOS, anyOf(U"`\u0091\u2018\u201B")});
        const P AMP = alt({ch('&'), lit(U"&amp;")});
        // An SGML/XML tag: <!...>, <?...>, <name attr="value" ... />, </name>. (Here no tag
        // spans a line break, so that lines tokenized together stay apart.)
        const P NAME =
            seq({ALPHA, star(cls([](char32_t c) {
                     return isAsciiAlnum(c) || c == '_' || c == ':' || c == '.' || c == '-';
                 }))});
        const P SP = star(ch(' '));
        const P SGML = seq(
            {ch('<'),
             alt({seq({anyOf(U"!?"), cls([](char32_t c) { return isAsciiAlpha(c) || c == '-'; }),
                       star(noneOf(U">\r\n"))}),
                  seq({NAME,
                       star(seq({plus(ch(' ')),
                                 alt({NAME, seq({NAME, SP, ch('='), SP,
                                                 alt({seq({ch('\''), star(noneOf(U"'\n")), ch('\'')}),
                                                      seq({ch('"'), star(noneOf(U"\"\n")),
                                                           ch('"')})})})})})),
                       SP, opt(ch('/'))}),
                  seq({ch('/'), NAME})}),
             SP, ch('>')});
        const P NOTALPHA = cls([](char32_t c) { return !isAsciiAlpha(c); });

        // cannot, gonna & co: the first part, then the rest read again.
        add(lit(U"cannot"), nullptr, Act::Can);
        add(lits({U"gonna", U"wanna", U"gotta", U"lemme", U"gimme"}), nullptr, Act::Can);
        add(SGML, nullptr, Act::Nbsp, Need::GreaterAhead);
        add(alt({seq({ch('&'), lits({U"MD", U"mdash", U"ndash"}), ch(';')}),
                 anyOf(U"\u0096\u0097\u2013\u2014\u2015")}),
            nullptr, Act::Dash);
        add(lit(U"&amp;"), nullptr, Act::Amp);
        add(seq({ch('&'),
                 alt({lits({U"HT", U"TL", U"UR", U"LR", U"QC", U"QL", U"QR", U"odq", U"cdq"}),
                      seq({ch('#'), plus(ADIGIT)})}),
                 ch(';')}),
            nullptr, Act::Keep);
        // A word before 's 'm 'd 're 've 'll, a word before n't.
        const P REDAUX = seq({APOS, alt({anyOf(U"msdMSD"), lits({U"re", U"ve", U"ll"})})});
        add(WORD, REDAUX, Act::Word);
        const P SWORD = seq(
            {star(ALPHA), cls([](char32_t c) { return isAsciiAlpha(c) && c != 'n' && c != 'N'; }),
             star(ch(0x00AD))});
        const P SREDAUX = seq({lit(U"n"), APOSETC, lit(U"t")});
        add(SWORD, SREDAUX, Act::Word);
        add(WORD, nullptr, Act::Word);
        // Words with an apostrophe inside.
        const P APOWORD = alt({
            seq({APOS, lit(U"n"), opt(APOS)}),
            seq({anyOf(U"lLdDjJ"), APOS}),
            seq({lits({U"dunkin", U"somethin", U"ol"}), APOS}),
            seq({APOS, lit(U"em")}),
            seq({cls([](char32_t c) {
                     return (c >= 'A' && c <= 'H') || (c >= 'J' && c <= 'X') || c == 'Z' ||
                            c == 'n';
                 }),
                 APOSETC, JLETTER, JLETTER, star(JLETTER)}),
            seq({APOS, range('2', '9'), lit(U"0s")}),
            seq({APOS, lit(U"til"), opt(lit(U"l"))}),
            seq({JLETTER, star(JLETTER), anyOf(U"aeiouyAEIOUY"), APOSETC, cls([](char32_t c) {
                     return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' ||
                            isAsciiUpper(c);
                 }),
                 star(JLETTER)}),
            seq({APOS, lit(U"cause")}),
            lits({U"nor'easter", U"c'mon", U"e'er", U"s'mores", U"ev'ry", U"li'l", U"nat'l",
                  U"cap'n"}),
            seq({lit(U"o"), APOSETC, lit(U"o")}),
        });
        add(APOWORD, nullptr, Act::Keep);
        add(seq({APOS, lit(U"t")}), lits({U"is", U"was"}), Act::Keep);
        add(seq({lit(U"y"), APOS}), JLETTER, Act::Keep);
        // URLs, e-mail addresses, @names and #tags.
        const P URLTAIL =
            seq({plus(noneOf(U" \t\n\f\r\"<>|()")), noneOf(U" \t\n\f\r\"<>|.!?(){},-")});
        add(seq({lit(U"http"), opt(lit(U"s")), lit(U"://"), URLTAIL}), nullptr, Act::Keep);
        const P HOSTPART = cls([](char32_t c) {
            // [^ \t\n\f\r"`'<>|.!?(){},-_$], where ",-_" is the range U+002C..U+005F.
            return !(c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == '"' ||
                     c == '`' || c == '\'' || c == '|' || c == '!' || c == '(' || c == ')' ||
                     c == '{' || c == '}' || c == '$' || (c >= 0x2C && c <= 0x5F));
        });
        add(seq({alt({seq({lit(U"www."),
                           plus(seq({plus(noneOf(U" \t\n\f\r\"<>|.!?(){},")), ch('.')})),
                           rep(ALPHA, 2, 4)}),
                      seq({plus(seq({plus(HOSTPART), ch('.')})),
                           lits({U"com", U"net", U"org", U"edu"})})}),
                 opt(seq({ch('/'), URLTAIL}))}),
            nullptr, Act::Keep);
        const P EMAILPART = noneOf(U" \t\n\f\r\"<>|(){}.\u00A0");
        add(seq({opt(alt({ch('<'), lit(U"&lt;")})), ALNUM,
                 star(noneOf(U" \t\n\f\r\"<>|(){}\u00A0")), ch('@'),
                 star(seq({plus(EMAILPART), ch('.')})), plus(EMAILPART),
                 opt(alt({ch('>'), lit(U"&gt;")}))}),
            nullptr, Act::Keep, Need::AtAhead);
        add(alt({seq({ch('@'), cls([](char32_t c) { return isAsciiAlpha(c) || c == '_'; }),
                      star(cls([](char32_t c) { return isAsciiAlnum(c) || c == '_'; }))}),
                 seq({ch('#'), plus(LETTER)})}),
            nullptr, Act::Keep);
        // 's 'm 'd 're 've 'll, n't.
        add(REDAUX, NOTALPHA, Act::Quote);
        add(seq({APOS, anyOf(U"msdMSD")}), eof(), Act::Quote);
        add(seq({alt({anyOf(U"\u0092\u2019"), lit(U"&apos;")}),
                 alt({anyOf(U"msdMSD"), lits({U"re", U"ve", U"ll"})})}),
            alt({ANY, eof()}), Act::Quote);
        add(SREDAUX, nullptr, Act::Quote);
        // Numbers.
        add(seq({rep(DIGIT, 1, 2), anyOf(U"-/"), rep(DIGIT, 1, 2), anyOf(U"-/"), rep(DIGIT, 2, 4)}),
            nullptr, Act::Keep);
        const P NUM =
            alt({plus(DIGIT),
                 seq({star(DIGIT), plus(seq({anyOf(U".:,\u00AD\u066B\u066C"), plus(DIGIT)}))})});
        add(seq({opt(anyOf(U"-+")), NUM}), nullptr, Act::Word);
        add(seq({opt(anyOf(U"\u207A\u207B\u208A\u208B")),
                 alt({plus(anyOf(U"\u2070\u00B9\u00B2\u00B3\u2074\u2075\u2076\u2077\u2078\u2079")),
                      plus(range(0x2080, 0x2089))})}),
            nullptr, Act::Keep);
        add(seq({opt(seq({rep(DIGIT, 1, 4), anyOf(U"- \u00A0")})), rep(DIGIT, 1, 4),
                 alt({seq({opt(ch('\\')), ch('/')}), ch(0x2044)}), rep(DIGIT, 1, 4)}),
            nullptr, Act::Nbsp);
        add(alt({range(0xBC, 0xBE), range(0x2153, 0x215E)}), nullptr, Act::Fraction);
        add(alt({seq({ch('-'), lits({U"RRB", U"LRB", U"RCB", U"LCB", U"RSB", U"LSB"}), ch('-')}),
                 lits({U"C.D.s", U"pro-", U"anti-"}), seq({lit(U"S"), AMP, lit(U"P-500")}),
                 seq({lit(U"S"), AMP, lit(U"Ls")})}),
            nullptr, Act::Amp);
        // a/b, and/or, 1/2/3 (up to three parts).
        const P T3PART = seq({plus(ALNUM), rep(seq({ch('-'), plus(ALPHA)}), 0, 2)});
        add(seq({T3PART, rep(seq({opt(ch('\\')), ch('/'), T3PART}), 1, 2)}), nullptr, Act::Keep);
        add(alt({seq({star(AUPPER), ch('$')}), ch('#')}), nullptr, Act::Keep);
        add(anyOf(U"\u00A2\u00A3\u00A4\u00A5\u0080\u20A0\u20AC\u060B\u0E3F\u20A4\uFFE0\uFFE1\uFFE5"
                  U"\uFFE6"),
            nullptr, Act::Currency);
        // Abbreviations.
        const P ACRO = seq({ALPHA, plus(seq({ch('.'), ALPHA}))});
        const P SENTSTART =
            seq({alt({abbrevWords({U"A",     U"About", U"According", U"Additionally", U"After",
                                   U"An",    U"As",    U"At",        U"But",          U"Earlier",
                                   U"He",    U"Her",   U"Here",      U"However",      U"If",
                                   U"In",    U"It",    U"Last",      U"Many",         U"More",
                                   U"Now",   U"Once",  U"One",       U"Other",        U"Our",
                                   U"She",   U"Since", U"So",        U"Some",         U"Such",
                                   U"That",  U"The",   U"Their",     U"Then",         U"There",
                                   U"These", U"They",  U"This",      U"We",           U"What",
                                   U"When",  U"While", U"Yet",       U"You"}),
                      seq({ch('M'), anyOf(U"rRsS"), ch('.')}), SGML}),
                 SPACENL});
        const P SENTLOOK = seq({plus(SPACENL), SENTSTART});
        add(seq({ACRO, ch('.')}), SENTLOOK, Act::SplitKeep);
        add(seq({ALPHA, ch('.')}), SENTLOOK, Act::DropLast);
        const P ABBREV1 =
            seq({alt({abbrevWords(
                          {U"al",    U"ala",     U"apr",   U"ariz",  U"Ark",   U"assn", U"aug",
                           U"Az",    U"bancorp", U"bhd",   U"bldg",  U"blvd",  U"bros", U"calif",
                           U"co",    U"colo",    U"conn",  U"corp",  U"cos",   U"ct",   U"dak",
                           U"dec",   U"Del",     U"esq",   U"est",   U"etc",   U"ext",  U"feb",
                           U"fla",   U"fri",     U"ga",    U"Ill",   U"inc",   U"ind",  U"intl",
                           U"jan",   U"jr",      U"jul",   U"jun",   U"kan",   U"kans", U"ky",
                           U"La",    U"ltd",     U"mar",   U"Mass",  U"md",    U"mich", U"minn",
                           U"Miss",  U"mo",      U"mon",   U"mont",  U"neb",   U"nev",  U"nov",
                           U"oct",   U"okla",    U"Ore",   U"Pa",    U"penn",  U"plc",  U"ppt_e",
                           U"ppt_y", U"pt_e",    U"pt_es", U"pt_y",  U"pt_ys", U"rd",   U"rt",
                           U"sep",   U"sept",    U"seq",   U"sq",    U"sr",    U"sys",  U"tel",
                           U"tenn",  U"Tex",     U"thu",   U"thurs", U"tue",   U"tues", U"univ",
                           U"va",    U"vt",      U"Wash",  U"wed",   U"wis",   U"wisc", U"wyo"}),
                      lits({U"Ed.D", U"Ph.D"})}),
                 ch('.')});
        const P SENTEND = seq({SPACENL, alt({SPACENL, UPPER, SGML})});
        add(ABBREV1, SENTEND, Act::SplitKeep);
        add(ABBREV1, seq({ANY, ANY}), Act::Keep);
        add(ABBREV1, nullptr, Act::SplitKeep);
        add(seq({alt({abbrevWords({U"adj",  U"adm",   U"adv",   U"alex",  U"assoc",  U"asst",
                                   U"atty", U"attys", U"ave",   U"brig",  U"capt",   U"cf",
                                   U"cie",  U"cmdr",  U"col",   U"comdr", U"cpl",    U"dept",
                                   U"det",  U"dr",    U"drs",   U"elec",  U"ens",    U"ft",
                                   U"gen",  U"gov",   U"govs",  U"hon",   U"insp",   U"invt",
                                   U"jos",  U"lieut", U"lt",    U"maj",   U"messrs", U"m_fg",
                                   U"mlle", U"mme",   U"mr",    U"mrs",   U"ms",     U"msgr",
                                   U"mt",   U"m_tg",  U"natl",  U"pfc",   U"ph",     U"pres",
                                   U"prof", U"profs", U"pvt",   U"rep",   U"reps",   U"rev",
                                   U"sen",  U"sens",  U"sfc",   U"sgt",   U"spc",    U"st",
                                   U"ste",  U"supt",  U"supts", U"treas", U"vs",     U"wm"}),
                      ALPHA, ACRO}),
                 ch('.')}),
            nullptr, Act::Keep);
        add(seq({abbrevWords(
                     {U"art", U"ca", U"fig", U"figs", U"no", U"nos", U"op", U"pp", U"prop"}),
                 ch('.')}),
            seq({opt(SPACENL), DIGIT}), Act::Keep);
        add(ACRO, SPACENL, Act::Keep);
        // File names (a list of extensions).
        const P FILECHAR = cls([](char32_t c) { return isWordLetter(c) || isJDigit(c); });
        add(seq({APOS, ADIGIT, ADIGIT}), SPACENL, Act::Keep);
        add(seq({plus(FILECHAR), star(seq({ch('.'), plus(FILECHAR)})), ch('.'),
                 lits({U"bat", U"bmp", U"c",   U"class", U"cgi", U"cpp",  U"dll", U"doc",  U"docx",
                       U"exe", U"gif", U"gz",  U"h",     U"htm", U"html", U"jar", U"java", U"jpeg",
                       U"jpg", U"mov", U"mp3", U"pdf",   U"php", U"pl",   U"png", U"ppt",  U"ps",
                       U"py",  U"sql", U"tar", U"txt",   U"wav", U"x",    U"xml", U"zip"})}),
            alt({SPACENL, anyOf(U".?!,")}), Act::Keep);
        add(seq({WORD, ch('.')}), anyOf(U",;:\u3001"), Act::Word);
        // Telephone numbers.
        const P SEP = anyOf(U"- \u00A0");
        add(alt({seq({alt({seq({ch('('), rep(ADIGIT, 2, 3), ch(')'), opt(anyOf(U" \u00A0"))}),
                           seq({opt(seq({ch('+'), opt(ch('+'))})),
                                opt(seq({rep(ADIGIT, 2, 4), SEP})), rep(ADIGIT, 2, 4), SEP})}),
                      rep(ADIGIT, 3, 4), opt(SEP), rep(ADIGIT, 3, 5)}),
                 seq({opt(seq({opt(seq({ch('+'), opt(ch('+'))})), rep(ADIGIT, 2, 4), ch('.')})),
                      rep(ADIGIT, 2, 4), ch('.'), rep(ADIGIT, 3, 4), ch('.'), rep(ADIGIT, 3, 5)})}),
            nullptr, Act::Phone);
        // Quotes.
        const P DBLQUOT = alt({ch('"'), lit(U"&quot;")});
        add(DBLQUOT, cls([](char32_t c) { return isAsciiAlnum(c) || c == '$'; }), Act::DoubleLeft);
        add(DBLQUOT, nullptr, Act::DoubleRight);
        const P QUOTES = alt(
            {APOS, lit(U"''"),
             rep(anyOf(U"`\u2018\u2019\u201A\u201B\u201C\u201D\u0091\u0092\u0093\u0094\u201E\u201F"
                       U"\u2039\u203A\u00AB\u00BB"),
                 1, 2)});
        add(ch('\''), seq({ALPHA, noneOf(U" \t\n\r\u00A0")}), Act::QuoteLeft);
        add(QUOTES, nullptr, Act::Quote);
        // Punctuation and the rest.
        add(alt({plus(ch('@')), plus(ch('#')), plus(ch('_'))}), nullptr, Act::Keep);
        add(alt({plus(ch('*')), rep(seq({ch('\\'), ch('*')}), 1, 3)}), nullptr, Act::Keep);
        add(anyOf(U",;:\u3001"), nullptr, Act::Keep);
        add(plus(anyOf(U"?!")), nullptr, Act::Keep);
        add(anyOf(U".\u00B7\u3002"), nullptr, Act::Keep);
        add(ch('='), nullptr, Act::Keep);
        add(ch('/'), nullptr, Act::Keep);
        // Hyphenated words.
        const P ACRO2DOT = seq({ACRO, ch('.')});
        add(seq({ALNUM, star(cls([](char32_t c) {
                     return isAsciiAlnum(c) || c == '.' || c == ',' || c == 0xAD;
                 })),
                 plus(seq({ch('-'),
                           alt({plus(cls([](char32_t c) { return isAsciiAlnum(c) || c == 0xAD; })),
                                ACRO2DOT})}))}),
            nullptr, Act::Word, Need::HyphenAhead);
        const P THINGPART = seq({opt(seq({anyOf(U"dDoOlL"), APOSETC, JALNUM})), plus(JALNUM)});
        const P THING = seq({THINGPART, star(seq({anyOf(U"-_\u058A\u2010\u2011"), THINGPART}))});
        add(seq({THING, ch('.')}), anyOf(U",;:\u3001"), Act::Word);
        add(THING, nullptr, Act::Word);
        add(seq({plus(AUPPER), plus(seq({alt({anyOf(U"+&"), lit(U"&amp;")}), plus(AUPPER)}))}),
            nullptr, Act::Amp);
        add(lits({U"C++", U"C#", U"F#"}), nullptr, Act::Keep);
        add(seq({opt(anyOf(U"<>")), anyOf(U":;="), opt(anyOf(U"-o*'")), anyOf(U"()DPdpO\\{@|[]")}),
            cls([](char32_t c) { return !isAsciiAlnum(c); }), Act::Smiley);
        const P EYE = anyOf(U"^x=~<>'-");
        add(alt({seq({ch('('), EYE, opt(anyOf(U"._")), EYE, ch(')')}), seq({EYE, ch('_'), EYE})}),
            nullptr, Act::Smiley);
        add(lits({U"<<", U">>"}), nullptr, Act::Keep);
        add(plus(ch('-')), nullptr, Act::Hyphens);
        add(alt({rep(ch('.'), 3, 5), seq({rep(seq({ch('.'), anyOf(U" \u00A0")}), 2, 4), ch('.')}),
                 anyOf(U"\u0085\u2026")}),
            nullptr, Act::Ellipsis);
        add(alt({anyOf(U"()[]{}<>"), lits({U"&lt;", U"&gt;"})}), nullptr, Act::Bracket);
        add(NEWLINE, nullptr, Act::Newline);
        add(plus(SPACE), nullptr, Act::Skip);
        add(lit(U"&nbsp;"), nullptr, Act::Skip);
        // Any other character: a token of its own, or dropped if the jar cannot place it.
        add(cls([](char32_t c) { return !isDeleted(c) && !isSpace(c) && !isNewline(c); }), nullptr,
            Act::Keep);
        add(ANY, nullptr, Act::Skip);
        return gr;
    }();
    return g;
}

// ---------------------------------------------------------------------------------------------
// Text in and out.

// UTF-8 -> code points; every byte of an invalid sequence becomes U+FFFD.
Text decodeUtf8(std::string_view s) {
    Text out;
    out.reserve(s.size());
    std::size_t i = 0;
    const std::size_t n = s.size();
    while (i < n) {
        const unsigned char b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            out.push_back(b);
            ++i;
            continue;
        }
        int len = 0;
        char32_t cp = 0, min = 0;
        if (b >= 0xC2 && b <= 0xDF) {
            len = 2;
            cp = b & 0x1F;
            min = 0x80;
        } else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            cp = b & 0x0F;
            min = 0x800;
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4;
            cp = b & 0x07;
            min = 0x10000;
        }
        bool ok = len > 0 && i + len <= n;
        for (int k = 1; ok && k < len; ++k) {
            const unsigned char c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80)
                ok = false;
            else
                cp = (cp << 6) | (c & 0x3F);
        }
        if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
            ok = false;
        if (ok) {
            out.push_back(cp);
            i += len;
        } else {
            out.push_back(0xFFFD);
            ++i;
        }
    }
    return out;
}

void appendUtf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (c >> 6)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (c >> 12)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (c >> 18)));
        out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
}

// Java's word-break iterator: a word is letters (with their marks) and digits; some punctuation
// joins two letters (dashes, soft hyphen, apostrophe, quote, period, underscore) or two digits
// (apostrophe, quote, comma, period). A capital sigma's lower case depends on its word.
bool javaLetter(char32_t c) {
    const std::int8_t type = u_charType(static_cast<UChar32>(c));
    return u_isalpha(static_cast<UChar32>(c)) || type == U_NON_SPACING_MARK ||
           type == U_COMBINING_SPACING_MARK || type == U_ENCLOSING_MARK;
}
bool javaDigit(char32_t c) {
    const std::int8_t type = u_charType(static_cast<UChar32>(c));
    return type == U_DECIMAL_DIGIT_NUMBER || type == U_LETTER_NUMBER || type == U_OTHER_NUMBER;
}
bool joinsLetters(char32_t c) {
    return c == '_' || c == '\'' || c == '"' || c == '.' || c == 0x00AD || c == 0x2027 ||
           u_charType(static_cast<UChar32>(c)) == U_DASH_PUNCTUATION;
}
bool joinsDigits(char32_t c) {
    return c == '\'' || c == '"' || c == ',' || c == '.' || c == 0x066B;
}
// Whether t[k] (a joiner) sits inside a word between t[k-1] and t[k+1].
bool joinedAt(const Text& t, std::size_t k) {
    if (k == 0 || k + 1 >= t.size())
        return false;
    return (joinsLetters(t[k]) && javaLetter(t[k - 1]) && javaLetter(t[k + 1])) ||
           (joinsDigits(t[k]) && javaDigit(t[k - 1]) && javaDigit(t[k + 1]));
}
bool inJavaWord(const Text& t, std::size_t k) {
    return javaLetter(t[k]) || javaDigit(t[k]) || joinedAt(t, k);
}
bool isCased(char32_t c) {
    return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_CASED);
}

// Java's rule for Σ: final (ς) when a cased letter precedes it in its word and none follows.
bool javaFinalSigma(const Text& t, std::size_t i) {
    bool before = false;
    for (std::size_t j = i; j > 0 && inJavaWord(t, j - 1) && !before; --j)
        before = isCased(t[j - 1]);
    if (!before)
        return false;
    for (std::size_t j = i + 1; j < t.size() && inJavaWord(t, j); ++j)
        if (isCased(t[j]))
            return false;
    return true;
}

// Whether Java 17 (Unicode 13.0), which ran the jar for the tests, knows the character: it
// leaves newer ones as they are where ICU would lowercase them.
bool knownToJava(char32_t c) {
    UVersionInfo age;
    u_charAge(static_cast<UChar32>(c), age);
    return age[0] <= 13;
}

// Lowercased as Java's String.toLowerCase does (full case mapping; its final-sigma rule).
std::string lowerUtf8(const Text& token) {
    bool ascii = true;
    for (char32_t c : token)
        ascii = ascii && c < 0x80;
    std::string out;
    if (ascii) {
        for (char32_t c : token)
            out.push_back(static_cast<char>(asciiFold(c)));
        return out;
    }
    // Runs of characters Java knows are lowercased by ICU; a sigma is decided first.
    std::string run;
    auto flush = [&] {
        if (run.empty())
            return;
        icu::UnicodeString u = icu::UnicodeString::fromUTF8(run);
        u.toLower(icu::Locale::getRoot());
        u.toUTF8String(out);
        run.clear();
    };
    for (std::size_t i = 0; i < token.size(); ++i) {
        const char32_t c = token[i];
        if (c == 0x03A3) {
            appendUtf8(run, javaFinalSigma(token, i) ? 0x03C2 : 0x03C3);
        } else if (c < 0x80 || knownToJava(c)) {
            appendUtf8(run, c);
        } else {
            flush();
            appendUtf8(out, c);
        }
    }
    flush();
    return out;
}

void replaceAll(Text& t, std::u32string_view from, std::u32string_view to) {
    if (from.empty())
        return;
    Text out;
    std::size_t i = 0;
    while (i < t.size()) {
        if (t.compare(i, from.size(), from) == 0) {
            out.append(to);
            i += from.size();
        } else {
            out.push_back(t[i++]);
        }
    }
    t.swap(out);
}

// "&amp;" (any case) -> "&".
Text replaceAmp(const Text& t) {
    Text out;
    for (std::size_t i = 0; i < t.size();) {
        if (t[i] == '&' && i + 5 <= t.size() && asciiFold(t[i + 1]) == 'a' &&
            asciiFold(t[i + 2]) == 'm' && asciiFold(t[i + 3]) == 'p' && t[i + 4] == ';') {
            out.push_back('&');
            i += 5;
        } else {
            out.push_back(t[i++]);
        }
    }
    return out;
}

// The jar's quote handling (latexQuotes with ascii conversion).
Text quotes(const Text& tok, bool left) {
    if (tok == U"''")
        return tok;
    Text out;
    for (char32_t c : tok) {
        switch (c) {
        case '\'':
            out += left ? U"`" : U"'";
            break;
        case '"':
            out += left ? U"``" : U"''";
            break;
        case 0x2018:
        case 0x0091:
        case 0x201B:
        case 0x2039:
            out += U"`";
            break;
        case 0x2019:
        case 0x0092:
        case 0x203A:
            out += U"'";
            break;
        case 0x201C:
        case 0x0093:
        case 0x00AB:
            out += U"``";
            break;
        case 0x201D:
        case 0x0094:
        case 0x00BB:
            out += U"''";
            break;
        default:
            out.push_back(c);
        }
    }
    replaceAll(out, U"&apos;", U"'");
    replaceAll(out, U"&quot;", left ? U"``" : U"''");
    return out;
}

Text parens(Text t) {
    Text out;
    for (char32_t c : t) {
        if (c == '(')
            out += U"-LRB-";
        else if (c == ')')
            out += U"-RRB-";
        else
            out.push_back(c);
    }
    return out;
}

// One line break in the token stream.
const Text kNewlineToken = U"\n";

// Tokenizes `t`; a line break in it gives kNewlineToken.
std::vector<Text> lex(const Text& t) {
    const Grammar& g = grammar();
    std::vector<Text> out;
    std::uint32_t pos = 0;
    const std::uint32_t n = static_cast<std::uint32_t>(t.size());
    Set start, ends, look, one;
    // Where an '@' lies ahead before any character an e-mail address cannot hold, and where a '>'
    // lies ahead on the line: without them the e-mail and tag rules cannot match.
    // And where a '-' follows a run of [A-Za-z0-9.,] (hyphenated words).
    std::vector<bool> atAhead(n + 1, false), gtAhead(n + 1, false), hyphenAhead(n + 1, false);
    for (std::uint32_t i = n; i-- > 0;) {
        const char32_t c = t[i];
        const bool stopsEmail = c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' ||
                                c == '"' || c == '<' || c == '|' || c == '(' || c == ')' ||
                                c == '{' || c == '}' || c == 0x00A0;
        atAhead[i] = c == '@' || (!stopsEmail && atAhead[i + 1]);
        gtAhead[i] = c == '>' || (c != '\n' && c != '\r' && gtAhead[i + 1]);
        hyphenAhead[i] = c == '-' || ((isAsciiAlnum(c) || c == '.' || c == ',' || c == 0xAD) &&
                                      hyphenAhead[i + 1]);
    }
    while (pos < n) {
        start.assign(1, pos);
        std::uint32_t bestTotal = 0, bestTok = 0;
        const Rule* best = nullptr;
        for (const Rule& r : g.rules) {
            if (!r.body->mayMatchAt(t, pos))
                continue;
            if (r.need == Need::AtAhead && !atAhead[pos] && !(t[pos] == '<' && atAhead[pos + 1]))
                continue;
            if (r.need == Need::GreaterAhead && !gtAhead[pos])
                continue;
            if (r.need == Need::HyphenAhead && !hyphenAhead[pos])
                continue;
            ends.clear();
            r.body->run(t, start, ends);
            if (ends.empty())
                continue;
            normalize(ends);
            std::uint32_t total = 0, tok = 0;
            bool matched = false;
            if (!r.look) {
                tok = total = ends.back();
                matched = tok > pos;
            } else {
                for (std::uint32_t e : ends) {
                    if (e == pos)
                        continue;
                    look.clear();
                    one.assign(1, e);
                    r.look->run(t, one, look);
                    if (look.empty())
                        continue;
                    const std::uint32_t te = *std::max_element(look.begin(), look.end());
                    if (!matched || te > total || (te == total && e > tok)) {
                        total = te;
                        tok = e;
                        matched = true;
                    }
                }
            }
            if (matched && (best == nullptr || total > bestTotal)) {
                best = &r;
                bestTotal = total;
                bestTok = tok;
            }
        }
        if (best == nullptr) { // cannot happen: the last rule takes any character
            ++pos;
            continue;
        }
        Text tok(t.begin() + pos, t.begin() + bestTok);
        std::uint32_t next = bestTok;
        switch (best->act) {
        case Act::Keep:
            out.push_back(tok);
            break;
        case Act::DropLast:
            out.push_back(tok.substr(0, tok.size() - 1));
            next = bestTok - 1;
            break;
        case Act::Word: {
            Text w;
            for (char32_t c : tok)
                if (c != 0x00AD)
                    w.push_back(c);
            out.push_back(w.empty() ? Text(U"-") : w);
            break;
        }
        case Act::Can:
            out.push_back(tok.substr(0, 3));
            next = pos + 3;
            break;
        case Act::SplitKeep:
            out.push_back(tok);
            next = bestTok - 1;
            break;
        case Act::Dash:
            out.push_back(U"--");
            break;
        case Act::Amp:
            out.push_back(replaceAmp(tok));
            break;
        case Act::Quote:
            out.push_back(quotes(tok, false));
            break;
        case Act::QuoteLeft:
            out.push_back(quotes(tok, true));
            break;
        case Act::DoubleLeft:
            out.push_back(U"``");
            break;
        case Act::DoubleRight:
            out.push_back(U"''");
            break;
        case Act::Currency:
            switch (tok[0]) {
            case 0x00A2:
                out.push_back(U"cents");
                break;
            case 0x00A3:
                out.push_back(U"#");
                break;
            case 0x0080:
            case 0x00A4:
            case 0x20A0:
            case 0x20AC:
                out.push_back(U"$");
                break;
            default:
                out.push_back(tok);
            }
            break;
        case Act::Fraction:
            switch (tok[0]) {
            case 0x00BC:
                out.push_back(U"1/4");
                break;
            case 0x00BD:
                out.push_back(U"1/2");
                break;
            case 0x00BE:
                out.push_back(U"3/4");
                break;
            case 0x2153:
                out.push_back(U"1/3");
                break;
            case 0x2154:
                out.push_back(U"2/3");
                break;
            default:
                out.push_back(tok);
            }
            break;
        case Act::Nbsp:
            for (char32_t& c : tok)
                if (c == ' ')
                    c = 0x00A0;
            out.push_back(tok);
            break;
        case Act::Phone:
            for (char32_t& c : tok)
                if (c == ' ')
                    c = 0x00A0;
            out.push_back(parens(tok));
            break;
        case Act::Smiley:
            out.push_back(parens(tok));
            break;
        case Act::Hyphens:
            out.push_back(tok.size() == 1 ? Text(U"-") : tok.size() <= 4 ? Text(U"--") : tok);
            break;
        case Act::Ellipsis:
            out.push_back(U"...");
            break;
        case Act::Bracket:
            if (tok == U"(")
                out.push_back(U"-LRB-");
            else if (tok == U")")
                out.push_back(U"-RRB-");
            else if (tok == U"[")
                out.push_back(U"-LSB-");
            else if (tok == U"]")
                out.push_back(U"-RSB-");
            else if (tok == U"{")
                out.push_back(U"-LCB-");
            else if (tok == U"}")
                out.push_back(U"-RCB-");
            else if (tok[0] == '&')
                out.push_back(asciiFold(tok[1]) == 'l' ? Text(U"<") : Text(U">"));
            else
                out.push_back(tok);
            break;
        case Act::Newline:
            out.push_back(kNewlineToken);
            break;
        case Act::Skip:
            break;
        }
        pos = next > pos ? next : pos + 1;
    }
    return out;
}

// A caption as one line: every line break a space.
Text captionText(std::string_view caption) {
    Text t = decodeUtf8(caption);
    for (char32_t& c : t)
        if (isNewline(c))
            c = ' ';
    return t;
}

std::string joinCoco(const std::vector<std::string>& tokens) {
    std::string out;
    for (const std::string& tok : tokens) {
        if (isCocoPunctuation(tok))
            continue;
        if (!out.empty())
            out.push_back(' ');
        out += tok;
    }
    return out;
}

} // namespace

bool isCocoPunctuation(std::string_view token) {
    static constexpr std::array<std::string_view, 17> kPunct = {
        "''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".",
        "?",  "!", ",",  ":", "-",     "--",    "...",   ";"};
    return std::find(kPunct.begin(), kPunct.end(), token) != kPunct.end();
}

std::vector<std::string> ptbTokenize(std::string_view line) {
    // Followed by a line break and a caption that begins with a lower-case letter: the context
    // most lines of pycocoevalcap's file have, and one in which no later caption changes this one.
    Text t = captionText(line);
    t += U"\nx";
    std::vector<std::string> out;
    for (const Text& tok : lex(t)) {
        if (tok == kNewlineToken)
            break;
        out.push_back(lowerUtf8(tok));
    }
    return out;
}

std::string cocoTokenize(std::string_view caption) {
    return joinCoco(ptbTokenize(caption));
}

std::vector<std::vector<std::string>> ptbTokenizeLines(const std::vector<std::string>& lines) {
    Text t;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (i > 0)
            t.push_back('\n');
        t += captionText(lines[i]);
    }
    std::vector<std::vector<std::string>> out(lines.size());
    std::size_t line = 0;
    for (const Text& tok : lex(t)) {
        if (tok == kNewlineToken) {
            ++line;
            continue;
        }
        if (line < out.size())
            out[line].push_back(lowerUtf8(tok));
    }
    return out;
}

std::vector<std::string> cocoTokenizeLines(const std::vector<std::string>& captions) {
    std::vector<std::string> out;
    out.reserve(captions.size());
    for (const std::vector<std::string>& tokens : ptbTokenizeLines(captions))
        out.push_back(joinCoco(tokens));
    return out;
}

} // namespace vqa::eval
