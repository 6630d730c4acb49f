// Characters as the COCO tokenizer's lexer (CoreNLP 3.4.1's PTBTokenizer, which CocoTokenizer
// re-implements) classifies them. Its lexer sees UTF-16 units; a character outside the BMP is two
// surrogates it cannot place and drops, which `isDeleted` reproduces for the code point.
#pragma once

namespace vqa::eval::ptb_chars {

bool isAsciiUpper(char32_t c);
bool isAsciiLower(char32_t c);
bool isAsciiAlpha(char32_t c);
bool isAsciiDigit(char32_t c);
bool isAsciiAlnum(char32_t c);
bool isJLetter(char32_t c);
bool isJDigit(char32_t c);
bool isJAlnum(char32_t c);
bool isWordLetter(char32_t c);
bool isUpper(char32_t c);
bool isSpace(char32_t c);
bool isNewline(char32_t c);
bool isDeleted(char32_t c);

} // namespace vqa::eval::ptb_chars
