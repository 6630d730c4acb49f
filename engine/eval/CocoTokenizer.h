// The tokenization the COCO caption evaluation (pycocoevalcap's PTBTokenizer) applies before it
// scores captions: the Stanford PTBTokenizer of CoreNLP 3.4.1, run as
//   java -cp stanford-corenlp-3.4.1.jar edu.stanford.nlp.process.PTBTokenizer
//        -preserveLines -lowerCase FILE
// on a file holding one caption a line, then each output line split at ' ' and pycocoevalcap's
// punctuation tokens dropped. Re-implemented from the jar's observed behaviour (no Java, no jar),
// so that BLEU, ROUGE-L and CIDEr-D computed on these tokens equal pycocoevalcap's.
//
// What the jar does, and so this (tests/engine/test_coco_tokenizer.cpp has the cases):
//  - every token lowercased, Unicode included ("Éclair" -> "éclair", Java's final sigma);
//  - . , ; : ? ! split off words, except in abbreviations: titles and the like ("Mr.", "Dr.",
//    "St.", "vs."), single letters ("A."), acronyms ("U.S.", "T.V.", "a.m.", "e.g."), months,
//    days, states, company words ("Jan.", "Inc.", "etc."; before a capital letter these also
//    give a sentence-final "." token), "No."/"Fig."/"pp." before a number only; a word before
//    , ; : keeps its period ("may.,"); a few file names stay whole ("photo.jpg");
//  - "..." (three to five dots, ". . .", "…") becomes "..."; "?!" and "!!" stay one token;
//  - quotes: " becomes `` before a letter, digit or $ and '' otherwise; ' becomes ` when it opens
//    a word of two or more letters and stays ' otherwise; “ ” ‘ ’ « » ‹ › become `` '' ` ' `` ''
//    ` ' ("„" and "‚" stay);
//  - ( ) [ ] { } become -lrb- -rrb- -lsb- -rsb- -lcb- -rcb- (the jar's -LRB- lowercased, which
//    pycocoevalcap's filter then keeps: it drops only the upper-case forms);
//  - clitics split: "don't" -> "do n't", "can't" -> "ca n't", "cannot" -> "can not",
//    "it's" -> "it 's", "dogs'" -> "dogs '", "I'm", "we'll", "they've", "you're", "he'd";
//    "gonna" -> "gon na" (also wanna, gotta, lemme, gimme); "y'all" -> "y' all"; but "o'clock",
//    "ma'am", "'90s", "rock 'n' roll" stay;
//  - hyphenated words stay whole ("black-and-white", "t-shirt", "3-year-old"); "-" stays; two to
//    four hyphens, "—", "–" and "&mdash;" become "--";
//  - numbers stay whole ("1,000", "3.5", ".5", "-5", "10:30", "1/2", "24/7", "11/22/33");
//    "$5" -> "$ 5", "US$5" -> "us$ 5", "50%" -> "50 %", "#1" -> "# 1", "€" -> "$", "£" -> "#",
//    "¢" -> "cents", "½" -> "1/2"; "1 1/2" and telephone numbers ("(555) 555-1234",
//    "12 345 6789") are one token holding no-break spaces (U+00A0), as are SGML/HTML tags;
//  - "a/b", "and/or" (up to three parts) stay whole; "/" and "*" are not escaped;
//  - "&amp;" -> "&"; "AT&T", "Q&A" (capitals) stay whole; "@user", "#tag", e-mail addresses and
//    URLs (http(s)://..., www...., ....com/net/org/edu) stay whole; smileys like ":)" become
//    ":-rrb-";
//  - British spellings stay ("colour", "grey": 3.4.1's command line does not americanize);
//  - spaces, tabs and Unicode spaces (U+00A0, U+2000..U+200A, U+3000) separate tokens; control
//    and format characters, unassigned code points, U+FFFD and everything outside the BMP
//    (emoji) are dropped.
//
// Context. The jar tokenizes the whole file, and some of its rules look past the end of a line.
// ptbTokenize and cocoTokenize tokenize a caption as the jar does when the next line of the file
// begins with a lower-case letter. Where the next caption is different:
//  - a capital letter (or a space) there adds a "." token after a line-final "etc.", "Inc." and
//    the like (cocoTokenize drops it anyway);
//  - a common sentence opener there (A, An, The, This, It, He, She, There, In, At, ...) splits
//    the period off a line-final single letter ("vitamin C." -> "c ." instead of "c.") and adds a
//    "." after a line-final acronym ("T.V." -> "t.v. .");
//  - a digit there keeps the period of a line-final "No.", "Fig.", "pp." ("no." instead of "no .");
//  - the file's last line (nothing after it) differs in a few more corners ("we'll" -> "we ` ll",
//    "'90" -> "' 90", "etc." -> "etc. .", ":)" -> ": -rrb-").
// ptbTokenizeLines and cocoTokenizeLines take the whole list, as pycocoevalcap writes it (one
// file, one caption a line, in that order), and reproduce these too.
//
// Known divergences from the jar:
//  - a caption holding \r, \v, \f, U+2028 or U+2029: the jar starts a new output line there,
//    which shifts every later caption in pycocoevalcap's output; here they are spaces, like \n
//    (which pycocoevalcap itself replaces by a space);
//  - invalid UTF-8 (which pycocoevalcap cannot write): each invalid byte is read as U+FFFD;
//  - case mapping follows ICU for characters Java 17 knows (Unicode 13) and leaves newer ones
//    alone, as Java 17 does; another JVM's Unicode version may lowercase a few rare letters
//    differently;
//  - "'_<" (one token in the jar) and other emoticon corners; abbreviations of five or more
//    letters that were not among the probed words (every shorter letter string was probed, in
//    lower, capitalized and upper case, and every case variant of the abbreviations found).
// Everything else probed came out identical: some 1.2 million lines (caption-like sentences,
// model-style answers, random punctuation and symbols, random Unicode, every string of up to
// three characters from a 50-character alphabet), each tokenized both on its own and within a
// file, and some 240 lines at the end of a file.
//
// Cost: about 40 microseconds for a caption. Lines without spaces many thousands of characters
// long take time quadratic in their length (as in the jar). Never throws on any input (memory
// exhaustion aside); torch- and Qt-free; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vqa::eval {

// The Stanford PTBTokenizer (CoreNLP 3.4.1) as the COCO caption evaluation runs it
// (-preserveLines -lowerCase): one line in, its tokens out, lowercased. A line break inside the
// line counts as a space. Input is UTF-8.
std::vector<std::string> ptbTokenize(std::string_view line);

// What the COCO evaluation scores: ptbTokenize's tokens less its punctuation tokens, joined by
// one space.
std::string cocoTokenize(std::string_view caption);

// Every line's tokens when the lines are tokenized together, one a line, as pycocoevalcap writes
// them to its temporary file (the last one ends the file). As many results as lines.
std::vector<std::vector<std::string>> ptbTokenizeLines(const std::vector<std::string>& lines);

// cocoTokenize for every caption, the captions tokenized together as pycocoevalcap does.
std::vector<std::string> cocoTokenizeLines(const std::vector<std::string>& captions);

// Whether pycocoevalcap drops this token: exactly '' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : -
// -- ... ; (so the lowercased "-lrb-" is kept).
bool isCocoPunctuation(std::string_view token);

} // namespace vqa::eval
