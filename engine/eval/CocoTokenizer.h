// The tokenization the COCO caption evaluation (pycocoevalcap's PTBTokenizer) applies before it
// scores a caption: the Stanford PTBTokenizer of CoreNLP 3.4.1, run as
//   java -cp stanford-corenlp-3.4.1.jar edu.stanford.nlp.process.PTBTokenizer
//        -preserveLines -lowerCase FILE
// on a file with one caption a line, then every output line split at ' ' and its punctuation
// tokens dropped. Re-implemented here from the jar's observed behaviour, so BLEU, ROUGE-L and
// CIDEr-D computed on these tokens equal pycocoevalcap's.
//
// What it does (all checked against the jar, see tests/engine/test_coco_tokenizer.cpp):
//  - lowercases every token (full Unicode: "Éclair" -> "éclair", final sigma, "İ" -> "i̇");
//  - splits . , ; : ? ! off words, but keeps abbreviations whole: titles and the like ("Mr.",
//    "Dr.", "St.", "vs."), single letters ("A."), acronyms ("U.S.", "T.V.", "a.m.", "e.g."),
//    months, days, states, company words ("Jan.", "Inc.", "etc.": before a capital letter or
//    the end of the text they also give a sentence-final "." token), "No."/"Fig."/"pp." only
//    before a number; a word before , ; : keeps its period ("may.,");
//  - "..." (3 to 5 dots, ". . .", "…") -> "...", "?!" and "!!" stay one token;
//  - quotes: " -> `` (before a letter, digit or $) or ''; ' -> ` (before a letter that is not
//    the last of its word) or '; “ ” ‘ ’ « » ‹ › -> `` '' ` ' ` '' ` ' ("„" and "‚" are kept);
//  - brackets -> -lrb- -rrb- -lsb- -rsb- -lcb- -rcb- (lowercased too, so the COCO evaluation
//    keeps "-lrb-" and "-rrb-": they are not among its punctuation);
//  - clitics: "don't" -> "do n't", "can't" -> "ca n't", "cannot" -> "can not", "it's" -> "it 's",
//    "dogs'" -> "dogs '", "I'm", "we'll", "they've", "you're", "he'd"; "gonna" -> "gon na",
//    "wanna", "gotta", "lemme", "gimme"; "y'all" -> "y' all"; "o'clock", "rock 'n' roll", "ma'am";
//  - hyphenated words stay whole ("black-and-white", "t-shirt", "3-year-old"), "-" stays,
//    two or more hyphens and the dashes — – become "--";
//  - numbers: "1,000", "3.5", ".5", "-5", "10:30", "1/2", "24/7" stay whole, "$5" -> "$ 5",
//    "US$5" -> "us$ 5", "50%" -> "50 %", "#1" -> "# 1", "€" -> "$", "£" -> "#", "¢" -> "cents",
//    "½" -> "1/2", "1 1/2" is one token holding a no-break space (U+00A0), so are phone numbers
//    ("555 123 4567") and HTML-like tags ("<a href>");
//  - "a/b" and "and/or" (up to three parts) stay whole, "/" and "*" are not escaped;
//  - "&" stays, "&amp;" -> "&", "AT&T" and "Q&A" (capitals) stay whole, "@user", "#tag",
//    e-mail addresses and URLs (http://..., www...., ....com/net/org/edu) stay whole;
//  - British spellings are kept ("colour", "grey": 3.4.1's command line does not americanize);
//  - spaces, tabs, no-break and other Unicode spaces separate tokens; control and format
//    characters, unassigned code points, U+FFFD and characters outside the BMP (emoji) are
//    dropped, as the jar drops them.
//
// Context: the jar tokenizes the whole file, and a few of its rules look past the end of a line.
// ptbTokenize/cocoTokenize tokenize a caption as the jar does when the caption is followed by
// another one that begins with a lower-case letter. Where the following caption differs:
//  - a capital letter or space after a line ending in an abbreviation such as "etc." or "Inc."
//    adds a "." token (cocoTokenize drops it anyway);
//  - a following caption that begins with a common sentence opener (A, An, The, This, It, ...)
//    splits the period off a single letter at the end ("vitamin C." -> "c ." instead of "c.")
//    and adds a "." after an acronym ("T.V." -> "t.v. .");
//  - the last caption of the file (nothing after it) differs in a few more corners ("we'll" at
//    the very end -> "we ` ll", "'90" -> "' 90", "etc." -> "etc. .").
// ptbTokenizeLines/cocoTokenizeLines tokenize a whole list as pycocoevalcap writes it (one file,
// one caption a line, in that order) and so reproduce these too.
//
// Known divergences from the jar (all outside what captions and short answers contain):
//  - a caption holding \r, \v, \f, U+2028 or U+2029: the jar starts a new output line there,
//    which shifts every later caption in pycocoevalcap; here they are spaces, like \n;
//  - invalid UTF-8 (pycocoevalcap cannot write it): each invalid byte is read as U+FFFD;
//  - characters outside the BMP inside URLs, e-mail addresses and tags count as one character
//    (the jar sees two UTF-16 units), which can only matter for those tokens' extent;
//  - abbreviations with unusual mixed case ("mR.", "eTc.") follow per-letter rules inferred
//    from the jar and were checked on all case forms of the listed abbreviations only;
//  - rare constructs not probed in depth: SGML/XML tags with unbalanced quotes, smileys other
//    than :) :( ;) :D :P and their -/o variants, file names, and very long URLs.
//
// Never throws on any input; torch- and Qt-free.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vqa::eval {

// The Stanford PTBTokenizer (CoreNLP 3.4.1) as the COCO caption evaluation runs it
// (-preserveLines -lowerCase): one line in, its tokens out, lowercased. A newline (or other line
// break) inside the line counts as a space.
std::vector<std::string> ptbTokenize(std::string_view line);

// What the COCO evaluation scores: ptbTokenize's tokens less its punctuation tokens, joined by
// one space.
std::string cocoTokenize(std::string_view caption);

// The tokens of every line when the lines are tokenized together, one a line, as pycocoevalcap
// writes them to its temporary file (the last one ends the file). Same size as `lines`.
std::vector<std::vector<std::string>> ptbTokenizeLines(const std::vector<std::string>& lines);

// cocoTokenize for every caption, tokenized together as pycocoevalcap does (see above).
std::vector<std::string> cocoTokenizeLines(const std::vector<std::string>& captions);

// Whether pycocoevalcap drops this token: '' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : - -- ... ;
// (exactly, so the lowercased "-lrb-" is kept).
bool isCocoPunctuation(std::string_view token);

} // namespace vqa::eval
