// The COCO caption evaluation's tokenizer (CoreNLP 3.4.1's PTBTokenizer, -preserveLines
// -lowerCase), re-implemented from the jar's observed behaviour; see CocoTokenizer.h.
//
// How: the jar is a JFlex lexer. At every position it takes the longest match among its rules
// (a rule's lookahead counts towards the length but is not consumed), the earliest rule on a
// tie; literals are case-insensitive, character classes are not. This file does the same with a
// small regular-expression engine over sets of positions (exact longest match, no backtracking
// surprises), a list of rules whose patterns were worked out by probing the jar, and character
// tables measured from it (every BMP code point in several contexts).
#include "engine/eval/CocoTokenizer.h"

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

// ---------------------------------------------------------------------------------------------
// Characters as the jar classifies them. Its lexer sees UTF-16 units; a character outside the BMP
// is two surrogates it cannot place and drops, which `isDeleted` reproduces for the code point.

struct Range {
    char32_t lo, hi;
};

// the lexer's [:letter:] beyond ASCII (368 ranges)
constexpr Range kLetters[] = {
    {0x00AA, 0x00AA}, {0x00B5, 0x00B5}, {0x00BA, 0x00BA}, {0x00C0, 0x00D6}, {0x00D8, 0x00F6},
    {0x00F8, 0x02C1}, {0x02C6, 0x02D1}, {0x02E0, 0x02E4}, {0x02EC, 0x02EC}, {0x02EE, 0x02EE},
    {0x0370, 0x0374}, {0x0376, 0x0377}, {0x037A, 0x037D}, {0x0386, 0x0386}, {0x0388, 0x038A},
    {0x038C, 0x038C}, {0x038E, 0x03A1}, {0x03A3, 0x03F5}, {0x03F7, 0x0481}, {0x048A, 0x0527},
    {0x0531, 0x0556}, {0x0559, 0x0559}, {0x0561, 0x0587}, {0x05D0, 0x05EA}, {0x05F0, 0x05F2},
    {0x0620, 0x064A}, {0x066E, 0x066F}, {0x0671, 0x06D3}, {0x06D5, 0x06D5}, {0x06E5, 0x06E6},
    {0x06EE, 0x06EF}, {0x06FA, 0x06FC}, {0x06FF, 0x06FF}, {0x0710, 0x0710}, {0x0712, 0x072F},
    {0x074D, 0x07A5}, {0x07B1, 0x07B1}, {0x07CA, 0x07EA}, {0x07F4, 0x07F5}, {0x07FA, 0x07FA},
    {0x0800, 0x0815}, {0x081A, 0x081A}, {0x0824, 0x0824}, {0x0828, 0x0828}, {0x0840, 0x0858},
    {0x08A0, 0x08A0}, {0x08A2, 0x08AC}, {0x0904, 0x0939}, {0x093D, 0x093D}, {0x0950, 0x0950},
    {0x0958, 0x0961}, {0x0971, 0x0977}, {0x0979, 0x097F}, {0x0985, 0x098C}, {0x098F, 0x0990},
    {0x0993, 0x09A8}, {0x09AA, 0x09B0}, {0x09B2, 0x09B2}, {0x09B6, 0x09B9}, {0x09BD, 0x09BD},
    {0x09CE, 0x09CE}, {0x09DC, 0x09DD}, {0x09DF, 0x09E1}, {0x09F0, 0x09F1}, {0x0A05, 0x0A0A},
    {0x0A0F, 0x0A10}, {0x0A13, 0x0A28}, {0x0A2A, 0x0A30}, {0x0A32, 0x0A33}, {0x0A35, 0x0A36},
    {0x0A38, 0x0A39}, {0x0A59, 0x0A5C}, {0x0A5E, 0x0A5E}, {0x0A72, 0x0A74}, {0x0A85, 0x0A8D},
    {0x0A8F, 0x0A91}, {0x0A93, 0x0AA8}, {0x0AAA, 0x0AB0}, {0x0AB2, 0x0AB3}, {0x0AB5, 0x0AB9},
    {0x0ABD, 0x0ABD}, {0x0AD0, 0x0AD0}, {0x0AE0, 0x0AE1}, {0x0B05, 0x0B0C}, {0x0B0F, 0x0B10},
    {0x0B13, 0x0B28}, {0x0B2A, 0x0B30}, {0x0B32, 0x0B33}, {0x0B35, 0x0B39}, {0x0B3D, 0x0B3D},
    {0x0B5C, 0x0B5D}, {0x0B5F, 0x0B61}, {0x0B71, 0x0B71}, {0x0B83, 0x0B83}, {0x0B85, 0x0B8A},
    {0x0B8E, 0x0B90}, {0x0B92, 0x0B95}, {0x0B99, 0x0B9A}, {0x0B9C, 0x0B9C}, {0x0B9E, 0x0B9F},
    {0x0BA3, 0x0BA4}, {0x0BA8, 0x0BAA}, {0x0BAE, 0x0BB9}, {0x0BD0, 0x0BD0}, {0x0C05, 0x0C0C},
    {0x0C0E, 0x0C10}, {0x0C12, 0x0C28}, {0x0C2A, 0x0C33}, {0x0C35, 0x0C39}, {0x0C3D, 0x0C3D},
    {0x0C58, 0x0C59}, {0x0C60, 0x0C61}, {0x0C85, 0x0C8C}, {0x0C8E, 0x0C90}, {0x0C92, 0x0CA8},
    {0x0CAA, 0x0CB3}, {0x0CB5, 0x0CB9}, {0x0CBD, 0x0CBD}, {0x0CDE, 0x0CDE}, {0x0CE0, 0x0CE1},
    {0x0CF1, 0x0CF2}, {0x0D05, 0x0D0C}, {0x0D0E, 0x0D10}, {0x0D12, 0x0D3A}, {0x0D3D, 0x0D3D},
    {0x0D4E, 0x0D4E}, {0x0D60, 0x0D61}, {0x0D7A, 0x0D7F}, {0x0D85, 0x0D96}, {0x0D9A, 0x0DB1},
    {0x0DB3, 0x0DBB}, {0x0DBD, 0x0DBD}, {0x0DC0, 0x0DC6}, {0x0E01, 0x0E30}, {0x0E32, 0x0E33},
    {0x0E40, 0x0E46}, {0x0E81, 0x0E82}, {0x0E84, 0x0E84}, {0x0E87, 0x0E88}, {0x0E8A, 0x0E8A},
    {0x0E8D, 0x0E8D}, {0x0E94, 0x0E97}, {0x0E99, 0x0E9F}, {0x0EA1, 0x0EA3}, {0x0EA5, 0x0EA5},
    {0x0EA7, 0x0EA7}, {0x0EAA, 0x0EAB}, {0x0EAD, 0x0EB0}, {0x0EB2, 0x0EB3}, {0x0EBD, 0x0EBD},
    {0x0EC0, 0x0EC4}, {0x0EC6, 0x0EC6}, {0x0EDC, 0x0EDF}, {0x0F00, 0x0F00}, {0x0F40, 0x0F47},
    {0x0F49, 0x0F6C}, {0x0F88, 0x0F8C}, {0x1000, 0x102A}, {0x103F, 0x103F}, {0x1050, 0x1055},
    {0x105A, 0x105D}, {0x1061, 0x1061}, {0x1065, 0x1066}, {0x106E, 0x1070}, {0x1075, 0x1081},
    {0x108E, 0x108E}, {0x10A0, 0x10C5}, {0x10C7, 0x10C7}, {0x10CD, 0x10CD}, {0x10D0, 0x10FA},
    {0x10FC, 0x1248}, {0x124A, 0x124D}, {0x1250, 0x1256}, {0x1258, 0x1258}, {0x125A, 0x125D},
    {0x1260, 0x1288}, {0x128A, 0x128D}, {0x1290, 0x12B0}, {0x12B2, 0x12B5}, {0x12B8, 0x12BE},
    {0x12C0, 0x12C0}, {0x12C2, 0x12C5}, {0x12C8, 0x12D6}, {0x12D8, 0x1310}, {0x1312, 0x1315},
    {0x1318, 0x135A}, {0x1380, 0x138F}, {0x13A0, 0x13F4}, {0x1401, 0x166C}, {0x166F, 0x167F},
    {0x1681, 0x169A}, {0x16A0, 0x16EA}, {0x1700, 0x170C}, {0x170E, 0x1711}, {0x1720, 0x1731},
    {0x1740, 0x1751}, {0x1760, 0x176C}, {0x176E, 0x1770}, {0x1780, 0x17B3}, {0x17D7, 0x17D7},
    {0x17DC, 0x17DC}, {0x1820, 0x1877}, {0x1880, 0x18A8}, {0x18AA, 0x18AA}, {0x18B0, 0x18F5},
    {0x1900, 0x191C}, {0x1950, 0x196D}, {0x1970, 0x1974}, {0x1980, 0x19AB}, {0x19C1, 0x19C7},
    {0x1A00, 0x1A16}, {0x1A20, 0x1A54}, {0x1AA7, 0x1AA7}, {0x1B05, 0x1B33}, {0x1B45, 0x1B4B},
    {0x1B83, 0x1BA0}, {0x1BAE, 0x1BAF}, {0x1BBA, 0x1BE5}, {0x1C00, 0x1C23}, {0x1C4D, 0x1C4F},
    {0x1C5A, 0x1C7D}, {0x1CE9, 0x1CEC}, {0x1CEE, 0x1CF1}, {0x1CF5, 0x1CF6}, {0x1D00, 0x1DBF},
    {0x1E00, 0x1F15}, {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57},
    {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4},
    {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3},
    {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2071, 0x2071},
    {0x207F, 0x207F}, {0x2090, 0x209C}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113},
    {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128},
    {0x212A, 0x212D}, {0x212F, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149}, {0x214E, 0x214E},
    {0x2183, 0x2184}, {0x2C00, 0x2C2E}, {0x2C30, 0x2C5E}, {0x2C60, 0x2CE4}, {0x2CEB, 0x2CEE},
    {0x2CF2, 0x2CF3}, {0x2D00, 0x2D25}, {0x2D27, 0x2D27}, {0x2D2D, 0x2D2D}, {0x2D30, 0x2D67},
    {0x2D6F, 0x2D6F}, {0x2D80, 0x2D96}, {0x2DA0, 0x2DA6}, {0x2DA8, 0x2DAE}, {0x2DB0, 0x2DB6},
    {0x2DB8, 0x2DBE}, {0x2DC0, 0x2DC6}, {0x2DC8, 0x2DCE}, {0x2DD0, 0x2DD6}, {0x2DD8, 0x2DDE},
    {0x2E2F, 0x2E2F}, {0x3005, 0x3006}, {0x3031, 0x3035}, {0x303B, 0x303C}, {0x3041, 0x3096},
    {0x309D, 0x309F}, {0x30A1, 0x30FA}, {0x30FC, 0x30FF}, {0x3105, 0x312D}, {0x3131, 0x318E},
    {0x31A0, 0x31BA}, {0x31F0, 0x31FF}, {0x3400, 0x4DB5}, {0x4E00, 0x9FCC}, {0xA000, 0xA48C},
    {0xA4D0, 0xA4FD}, {0xA500, 0xA60C}, {0xA610, 0xA61F}, {0xA62A, 0xA62B}, {0xA640, 0xA66E},
    {0xA67F, 0xA697}, {0xA6A0, 0xA6E5}, {0xA717, 0xA71F}, {0xA722, 0xA788}, {0xA78B, 0xA78E},
    {0xA790, 0xA793}, {0xA7A0, 0xA7AA}, {0xA7F8, 0xA801}, {0xA803, 0xA805}, {0xA807, 0xA80A},
    {0xA80C, 0xA822}, {0xA840, 0xA873}, {0xA882, 0xA8B3}, {0xA8F2, 0xA8F7}, {0xA8FB, 0xA8FB},
    {0xA90A, 0xA925}, {0xA930, 0xA946}, {0xA960, 0xA97C}, {0xA984, 0xA9B2}, {0xA9CF, 0xA9CF},
    {0xAA00, 0xAA28}, {0xAA40, 0xAA42}, {0xAA44, 0xAA4B}, {0xAA60, 0xAA76}, {0xAA7A, 0xAA7A},
    {0xAA80, 0xAAAF}, {0xAAB1, 0xAAB1}, {0xAAB5, 0xAAB6}, {0xAAB9, 0xAABD}, {0xAAC0, 0xAAC0},
    {0xAAC2, 0xAAC2}, {0xAADB, 0xAADD}, {0xAAE0, 0xAAEA}, {0xAAF2, 0xAAF4}, {0xAB01, 0xAB06},
    {0xAB09, 0xAB0E}, {0xAB11, 0xAB16}, {0xAB20, 0xAB26}, {0xAB28, 0xAB2E}, {0xABC0, 0xABE2},
    {0xAC00, 0xD7A3}, {0xD7B0, 0xD7C6}, {0xD7CB, 0xD7FB}, {0xF900, 0xFA6D}, {0xFA70, 0xFAD9},
    {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFB1D, 0xFB1D}, {0xFB1F, 0xFB28}, {0xFB2A, 0xFB36},
    {0xFB38, 0xFB3C}, {0xFB3E, 0xFB3E}, {0xFB40, 0xFB41}, {0xFB43, 0xFB44}, {0xFB46, 0xFBB1},
    {0xFBD3, 0xFD3D}, {0xFD50, 0xFD8F}, {0xFD92, 0xFDC7}, {0xFDF0, 0xFDFB}, {0xFE70, 0xFE74},
    {0xFE76, 0xFEFC}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0xFF66, 0xFFBE}, {0xFFC2, 0xFFC7},
    {0xFFCA, 0xFFCF}, {0xFFD2, 0xFFD7}, {0xFFDA, 0xFFDC},
};
// its [:digit:] beyond ASCII (34 ranges)
constexpr Range kDigits[] = {
    {0x0660, 0x0669}, {0x06F0, 0x06F9}, {0x07C0, 0x07C9}, {0x0966, 0x096F}, {0x09E6, 0x09EF},
    {0x0A66, 0x0A6F}, {0x0AE6, 0x0AEF}, {0x0B66, 0x0B6F}, {0x0BE6, 0x0BEF}, {0x0C66, 0x0C6F},
    {0x0CE6, 0x0CEF}, {0x0D66, 0x0D6F}, {0x0E50, 0x0E59}, {0x0ED0, 0x0ED9}, {0x0F20, 0x0F29},
    {0x1040, 0x1049}, {0x1090, 0x1099}, {0x17E0, 0x17E9}, {0x1810, 0x1819}, {0x1946, 0x194F},
    {0x19D0, 0x19D9}, {0x1A80, 0x1A89}, {0x1A90, 0x1A99}, {0x1B50, 0x1B59}, {0x1BB0, 0x1BB9},
    {0x1C40, 0x1C49}, {0x1C50, 0x1C59}, {0xA620, 0xA629}, {0xA8D0, 0xA8D9}, {0xA900, 0xA909},
    {0xA9D0, 0xA9D9}, {0xAA50, 0xAA59}, {0xABF0, 0xABF9}, {0xFF10, 0xFF19},
};
// characters its words take after a letter, which begin no number-word (combining marks and the
// like) (59 ranges)
constexpr Range kMarks[] = {
    {0x02C2, 0x02C5}, {0x02D2, 0x02DF}, {0x02E5, 0x02EB}, {0x02ED, 0x02ED}, {0x02EF, 0x036F},
    {0x0375, 0x0375}, {0x0378, 0x0379}, {0x0384, 0x0385}, {0x03F6, 0x03F6}, {0x0483, 0x0487},
    {0x055A, 0x055F}, {0x0591, 0x05BD}, {0x05BF, 0x05BF}, {0x05C1, 0x05C2}, {0x05C4, 0x05C5},
    {0x05C7, 0x05C7}, {0x0615, 0x061A}, {0x064B, 0x065E}, {0x0670, 0x0670}, {0x06D6, 0x06E4},
    {0x06E7, 0x06ED}, {0x06FD, 0x06FE}, {0x070F, 0x070F}, {0x0711, 0x0711}, {0x0730, 0x074C},
    {0x07A6, 0x07B0}, {0x07EB, 0x07F3}, {0x0900, 0x0903}, {0x093C, 0x093C}, {0x093E, 0x094E},
    {0x0951, 0x0955}, {0x0962, 0x0963}, {0x0981, 0x0983}, {0x09BC, 0x09BC}, {0x09BE, 0x09C4},
    {0x09C7, 0x09C8}, {0x09CB, 0x09CD}, {0x09D7, 0x09D7}, {0x09E2, 0x09E3}, {0x0A01, 0x0A03},
    {0x0A3C, 0x0A3C}, {0x0A3E, 0x0A4F}, {0x0A81, 0x0A83}, {0x0ABC, 0x0ABC}, {0x0ABE, 0x0ACF},
    {0x0B82, 0x0B82}, {0x0BBE, 0x0BC2}, {0x0BC6, 0x0BC8}, {0x0BCA, 0x0BCD}, {0x0C01, 0x0C03},
    {0x0C3E, 0x0C56}, {0x0D3E, 0x0D44}, {0x0D46, 0x0D48}, {0x0E31, 0x0E31}, {0x0E34, 0x0E3A},
    {0x0E47, 0x0E4E}, {0x0EB1, 0x0EB1}, {0x0EB4, 0x0EBC}, {0x0EC8, 0x0ECD},
};
// its [:uppercase:] beyond ASCII (577 ranges)
constexpr Range kUppercase[] = {
    {0x00C0, 0x00D6}, {0x00D8, 0x00DE}, {0x0100, 0x0100}, {0x0102, 0x0102}, {0x0104, 0x0104},
    {0x0106, 0x0106}, {0x0108, 0x0108}, {0x010A, 0x010A}, {0x010C, 0x010C}, {0x010E, 0x010E},
    {0x0110, 0x0110}, {0x0112, 0x0112}, {0x0114, 0x0114}, {0x0116, 0x0116}, {0x0118, 0x0118},
    {0x011A, 0x011A}, {0x011C, 0x011C}, {0x011E, 0x011E}, {0x0120, 0x0120}, {0x0122, 0x0122},
    {0x0124, 0x0124}, {0x0126, 0x0126}, {0x0128, 0x0128}, {0x012A, 0x012A}, {0x012C, 0x012C},
    {0x012E, 0x012E}, {0x0130, 0x0130}, {0x0132, 0x0132}, {0x0134, 0x0134}, {0x0136, 0x0136},
    {0x0139, 0x0139}, {0x013B, 0x013B}, {0x013D, 0x013D}, {0x013F, 0x013F}, {0x0141, 0x0141},
    {0x0143, 0x0143}, {0x0145, 0x0145}, {0x0147, 0x0147}, {0x014A, 0x014A}, {0x014C, 0x014C},
    {0x014E, 0x014E}, {0x0150, 0x0150}, {0x0152, 0x0152}, {0x0154, 0x0154}, {0x0156, 0x0156},
    {0x0158, 0x0158}, {0x015A, 0x015A}, {0x015C, 0x015C}, {0x015E, 0x015E}, {0x0160, 0x0160},
    {0x0162, 0x0162}, {0x0164, 0x0164}, {0x0166, 0x0166}, {0x0168, 0x0168}, {0x016A, 0x016A},
    {0x016C, 0x016C}, {0x016E, 0x016E}, {0x0170, 0x0170}, {0x0172, 0x0172}, {0x0174, 0x0174},
    {0x0176, 0x0176}, {0x0178, 0x0179}, {0x017B, 0x017B}, {0x017D, 0x017D}, {0x0181, 0x0182},
    {0x0184, 0x0184}, {0x0186, 0x0187}, {0x0189, 0x018B}, {0x018E, 0x0191}, {0x0193, 0x0194},
    {0x0196, 0x0198}, {0x019C, 0x019D}, {0x019F, 0x01A0}, {0x01A2, 0x01A2}, {0x01A4, 0x01A4},
    {0x01A6, 0x01A7}, {0x01A9, 0x01A9}, {0x01AC, 0x01AC}, {0x01AE, 0x01AF}, {0x01B1, 0x01B3},
    {0x01B5, 0x01B5}, {0x01B7, 0x01B8}, {0x01BC, 0x01BC}, {0x01C4, 0x01C4}, {0x01C7, 0x01C7},
    {0x01CA, 0x01CA}, {0x01CD, 0x01CD}, {0x01CF, 0x01CF}, {0x01D1, 0x01D1}, {0x01D3, 0x01D3},
    {0x01D5, 0x01D5}, {0x01D7, 0x01D7}, {0x01D9, 0x01D9}, {0x01DB, 0x01DB}, {0x01DE, 0x01DE},
    {0x01E0, 0x01E0}, {0x01E2, 0x01E2}, {0x01E4, 0x01E4}, {0x01E6, 0x01E6}, {0x01E8, 0x01E8},
    {0x01EA, 0x01EA}, {0x01EC, 0x01EC}, {0x01EE, 0x01EE}, {0x01F1, 0x01F1}, {0x01F4, 0x01F4},
    {0x01F6, 0x01F8}, {0x01FA, 0x01FA}, {0x01FC, 0x01FC}, {0x01FE, 0x01FE}, {0x0200, 0x0200},
    {0x0202, 0x0202}, {0x0204, 0x0204}, {0x0206, 0x0206}, {0x0208, 0x0208}, {0x020A, 0x020A},
    {0x020C, 0x020C}, {0x020E, 0x020E}, {0x0210, 0x0210}, {0x0212, 0x0212}, {0x0214, 0x0214},
    {0x0216, 0x0216}, {0x0218, 0x0218}, {0x021A, 0x021A}, {0x021C, 0x021C}, {0x021E, 0x021E},
    {0x0220, 0x0220}, {0x0222, 0x0222}, {0x0224, 0x0224}, {0x0226, 0x0226}, {0x0228, 0x0228},
    {0x022A, 0x022A}, {0x022C, 0x022C}, {0x022E, 0x022E}, {0x0230, 0x0230}, {0x0232, 0x0232},
    {0x023A, 0x023B}, {0x023D, 0x023E}, {0x0241, 0x0241}, {0x0243, 0x0246}, {0x0248, 0x0248},
    {0x024A, 0x024A}, {0x024C, 0x024C}, {0x024E, 0x024E}, {0x0370, 0x0370}, {0x0372, 0x0372},
    {0x0376, 0x0376}, {0x0386, 0x0386}, {0x0388, 0x038A}, {0x038C, 0x038C}, {0x038E, 0x038F},
    {0x0391, 0x03A1}, {0x03A3, 0x03AB}, {0x03CF, 0x03CF}, {0x03D2, 0x03D4}, {0x03D8, 0x03D8},
    {0x03DA, 0x03DA}, {0x03DC, 0x03DC}, {0x03DE, 0x03DE}, {0x03E0, 0x03E0}, {0x03E2, 0x03E2},
    {0x03E4, 0x03E4}, {0x03E6, 0x03E6}, {0x03E8, 0x03E8}, {0x03EA, 0x03EA}, {0x03EC, 0x03EC},
    {0x03EE, 0x03EE}, {0x03F4, 0x03F4}, {0x03F7, 0x03F7}, {0x03F9, 0x03FA}, {0x03FD, 0x042F},
    {0x0460, 0x0460}, {0x0462, 0x0462}, {0x0464, 0x0464}, {0x0466, 0x0466}, {0x0468, 0x0468},
    {0x046A, 0x046A}, {0x046C, 0x046C}, {0x046E, 0x046E}, {0x0470, 0x0470}, {0x0472, 0x0472},
    {0x0474, 0x0474}, {0x0476, 0x0476}, {0x0478, 0x0478}, {0x047A, 0x047A}, {0x047C, 0x047C},
    {0x047E, 0x047E}, {0x0480, 0x0480}, {0x048A, 0x048A}, {0x048C, 0x048C}, {0x048E, 0x048E},
    {0x0490, 0x0490}, {0x0492, 0x0492}, {0x0494, 0x0494}, {0x0496, 0x0496}, {0x0498, 0x0498},
    {0x049A, 0x049A}, {0x049C, 0x049C}, {0x049E, 0x049E}, {0x04A0, 0x04A0}, {0x04A2, 0x04A2},
    {0x04A4, 0x04A4}, {0x04A6, 0x04A6}, {0x04A8, 0x04A8}, {0x04AA, 0x04AA}, {0x04AC, 0x04AC},
    {0x04AE, 0x04AE}, {0x04B0, 0x04B0}, {0x04B2, 0x04B2}, {0x04B4, 0x04B4}, {0x04B6, 0x04B6},
    {0x04B8, 0x04B8}, {0x04BA, 0x04BA}, {0x04BC, 0x04BC}, {0x04BE, 0x04BE}, {0x04C0, 0x04C1},
    {0x04C3, 0x04C3}, {0x04C5, 0x04C5}, {0x04C7, 0x04C7}, {0x04C9, 0x04C9}, {0x04CB, 0x04CB},
    {0x04CD, 0x04CD}, {0x04D0, 0x04D0}, {0x04D2, 0x04D2}, {0x04D4, 0x04D4}, {0x04D6, 0x04D6},
    {0x04D8, 0x04D8}, {0x04DA, 0x04DA}, {0x04DC, 0x04DC}, {0x04DE, 0x04DE}, {0x04E0, 0x04E0},
    {0x04E2, 0x04E2}, {0x04E4, 0x04E4}, {0x04E6, 0x04E6}, {0x04E8, 0x04E8}, {0x04EA, 0x04EA},
    {0x04EC, 0x04EC}, {0x04EE, 0x04EE}, {0x04F0, 0x04F0}, {0x04F2, 0x04F2}, {0x04F4, 0x04F4},
    {0x04F6, 0x04F6}, {0x04F8, 0x04F8}, {0x04FA, 0x04FA}, {0x04FC, 0x04FC}, {0x04FE, 0x04FE},
    {0x0500, 0x0500}, {0x0502, 0x0502}, {0x0504, 0x0504}, {0x0506, 0x0506}, {0x0508, 0x0508},
    {0x050A, 0x050A}, {0x050C, 0x050C}, {0x050E, 0x050E}, {0x0510, 0x0510}, {0x0512, 0x0512},
    {0x0514, 0x0514}, {0x0516, 0x0516}, {0x0518, 0x0518}, {0x051A, 0x051A}, {0x051C, 0x051C},
    {0x051E, 0x051E}, {0x0520, 0x0520}, {0x0522, 0x0522}, {0x0524, 0x0524}, {0x0526, 0x0526},
    {0x0531, 0x0556}, {0x10A0, 0x10C5}, {0x10C7, 0x10C7}, {0x10CD, 0x10CD}, {0x1E00, 0x1E00},
    {0x1E02, 0x1E02}, {0x1E04, 0x1E04}, {0x1E06, 0x1E06}, {0x1E08, 0x1E08}, {0x1E0A, 0x1E0A},
    {0x1E0C, 0x1E0C}, {0x1E0E, 0x1E0E}, {0x1E10, 0x1E10}, {0x1E12, 0x1E12}, {0x1E14, 0x1E14},
    {0x1E16, 0x1E16}, {0x1E18, 0x1E18}, {0x1E1A, 0x1E1A}, {0x1E1C, 0x1E1C}, {0x1E1E, 0x1E1E},
    {0x1E20, 0x1E20}, {0x1E22, 0x1E22}, {0x1E24, 0x1E24}, {0x1E26, 0x1E26}, {0x1E28, 0x1E28},
    {0x1E2A, 0x1E2A}, {0x1E2C, 0x1E2C}, {0x1E2E, 0x1E2E}, {0x1E30, 0x1E30}, {0x1E32, 0x1E32},
    {0x1E34, 0x1E34}, {0x1E36, 0x1E36}, {0x1E38, 0x1E38}, {0x1E3A, 0x1E3A}, {0x1E3C, 0x1E3C},
    {0x1E3E, 0x1E3E}, {0x1E40, 0x1E40}, {0x1E42, 0x1E42}, {0x1E44, 0x1E44}, {0x1E46, 0x1E46},
    {0x1E48, 0x1E48}, {0x1E4A, 0x1E4A}, {0x1E4C, 0x1E4C}, {0x1E4E, 0x1E4E}, {0x1E50, 0x1E50},
    {0x1E52, 0x1E52}, {0x1E54, 0x1E54}, {0x1E56, 0x1E56}, {0x1E58, 0x1E58}, {0x1E5A, 0x1E5A},
    {0x1E5C, 0x1E5C}, {0x1E5E, 0x1E5E}, {0x1E60, 0x1E60}, {0x1E62, 0x1E62}, {0x1E64, 0x1E64},
    {0x1E66, 0x1E66}, {0x1E68, 0x1E68}, {0x1E6A, 0x1E6A}, {0x1E6C, 0x1E6C}, {0x1E6E, 0x1E6E},
    {0x1E70, 0x1E70}, {0x1E72, 0x1E72}, {0x1E74, 0x1E74}, {0x1E76, 0x1E76}, {0x1E78, 0x1E78},
    {0x1E7A, 0x1E7A}, {0x1E7C, 0x1E7C}, {0x1E7E, 0x1E7E}, {0x1E80, 0x1E80}, {0x1E82, 0x1E82},
    {0x1E84, 0x1E84}, {0x1E86, 0x1E86}, {0x1E88, 0x1E88}, {0x1E8A, 0x1E8A}, {0x1E8C, 0x1E8C},
    {0x1E8E, 0x1E8E}, {0x1E90, 0x1E90}, {0x1E92, 0x1E92}, {0x1E94, 0x1E94}, {0x1E9E, 0x1E9E},
    {0x1EA0, 0x1EA0}, {0x1EA2, 0x1EA2}, {0x1EA4, 0x1EA4}, {0x1EA6, 0x1EA6}, {0x1EA8, 0x1EA8},
    {0x1EAA, 0x1EAA}, {0x1EAC, 0x1EAC}, {0x1EAE, 0x1EAE}, {0x1EB0, 0x1EB0}, {0x1EB2, 0x1EB2},
    {0x1EB4, 0x1EB4}, {0x1EB6, 0x1EB6}, {0x1EB8, 0x1EB8}, {0x1EBA, 0x1EBA}, {0x1EBC, 0x1EBC},
    {0x1EBE, 0x1EBE}, {0x1EC0, 0x1EC0}, {0x1EC2, 0x1EC2}, {0x1EC4, 0x1EC4}, {0x1EC6, 0x1EC6},
    {0x1EC8, 0x1EC8}, {0x1ECA, 0x1ECA}, {0x1ECC, 0x1ECC}, {0x1ECE, 0x1ECE}, {0x1ED0, 0x1ED0},
    {0x1ED2, 0x1ED2}, {0x1ED4, 0x1ED4}, {0x1ED6, 0x1ED6}, {0x1ED8, 0x1ED8}, {0x1EDA, 0x1EDA},
    {0x1EDC, 0x1EDC}, {0x1EDE, 0x1EDE}, {0x1EE0, 0x1EE0}, {0x1EE2, 0x1EE2}, {0x1EE4, 0x1EE4},
    {0x1EE6, 0x1EE6}, {0x1EE8, 0x1EE8}, {0x1EEA, 0x1EEA}, {0x1EEC, 0x1EEC}, {0x1EEE, 0x1EEE},
    {0x1EF0, 0x1EF0}, {0x1EF2, 0x1EF2}, {0x1EF4, 0x1EF4}, {0x1EF6, 0x1EF6}, {0x1EF8, 0x1EF8},
    {0x1EFA, 0x1EFA}, {0x1EFC, 0x1EFC}, {0x1EFE, 0x1EFE}, {0x1F08, 0x1F0F}, {0x1F18, 0x1F1D},
    {0x1F28, 0x1F2F}, {0x1F38, 0x1F3F}, {0x1F48, 0x1F4D}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F5F}, {0x1F68, 0x1F6F}, {0x1FB8, 0x1FBB}, {0x1FC8, 0x1FCB},
    {0x1FD8, 0x1FDB}, {0x1FE8, 0x1FEC}, {0x1FF8, 0x1FFB}, {0x2102, 0x2102}, {0x2107, 0x2107},
    {0x210B, 0x210D}, {0x2110, 0x2112}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124},
    {0x2126, 0x2126}, {0x2128, 0x2128}, {0x212A, 0x212D}, {0x2130, 0x2133}, {0x213E, 0x213F},
    {0x2145, 0x2145}, {0x2160, 0x216F}, {0x2183, 0x2183}, {0x24B6, 0x24CF}, {0x2C00, 0x2C2E},
    {0x2C60, 0x2C60}, {0x2C62, 0x2C64}, {0x2C67, 0x2C67}, {0x2C69, 0x2C69}, {0x2C6B, 0x2C6B},
    {0x2C6D, 0x2C70}, {0x2C72, 0x2C72}, {0x2C75, 0x2C75}, {0x2C7E, 0x2C80}, {0x2C82, 0x2C82},
    {0x2C84, 0x2C84}, {0x2C86, 0x2C86}, {0x2C88, 0x2C88}, {0x2C8A, 0x2C8A}, {0x2C8C, 0x2C8C},
    {0x2C8E, 0x2C8E}, {0x2C90, 0x2C90}, {0x2C92, 0x2C92}, {0x2C94, 0x2C94}, {0x2C96, 0x2C96},
    {0x2C98, 0x2C98}, {0x2C9A, 0x2C9A}, {0x2C9C, 0x2C9C}, {0x2C9E, 0x2C9E}, {0x2CA0, 0x2CA0},
    {0x2CA2, 0x2CA2}, {0x2CA4, 0x2CA4}, {0x2CA6, 0x2CA6}, {0x2CA8, 0x2CA8}, {0x2CAA, 0x2CAA},
    {0x2CAC, 0x2CAC}, {0x2CAE, 0x2CAE}, {0x2CB0, 0x2CB0}, {0x2CB2, 0x2CB2}, {0x2CB4, 0x2CB4},
    {0x2CB6, 0x2CB6}, {0x2CB8, 0x2CB8}, {0x2CBA, 0x2CBA}, {0x2CBC, 0x2CBC}, {0x2CBE, 0x2CBE},
    {0x2CC0, 0x2CC0}, {0x2CC2, 0x2CC2}, {0x2CC4, 0x2CC4}, {0x2CC6, 0x2CC6}, {0x2CC8, 0x2CC8},
    {0x2CCA, 0x2CCA}, {0x2CCC, 0x2CCC}, {0x2CCE, 0x2CCE}, {0x2CD0, 0x2CD0}, {0x2CD2, 0x2CD2},
    {0x2CD4, 0x2CD4}, {0x2CD6, 0x2CD6}, {0x2CD8, 0x2CD8}, {0x2CDA, 0x2CDA}, {0x2CDC, 0x2CDC},
    {0x2CDE, 0x2CDE}, {0x2CE0, 0x2CE0}, {0x2CE2, 0x2CE2}, {0x2CEB, 0x2CEB}, {0x2CED, 0x2CED},
    {0x2CF2, 0x2CF2}, {0xA640, 0xA640}, {0xA642, 0xA642}, {0xA644, 0xA644}, {0xA646, 0xA646},
    {0xA648, 0xA648}, {0xA64A, 0xA64A}, {0xA64C, 0xA64C}, {0xA64E, 0xA64E}, {0xA650, 0xA650},
    {0xA652, 0xA652}, {0xA654, 0xA654}, {0xA656, 0xA656}, {0xA658, 0xA658}, {0xA65A, 0xA65A},
    {0xA65C, 0xA65C}, {0xA65E, 0xA65E}, {0xA660, 0xA660}, {0xA662, 0xA662}, {0xA664, 0xA664},
    {0xA666, 0xA666}, {0xA668, 0xA668}, {0xA66A, 0xA66A}, {0xA66C, 0xA66C}, {0xA680, 0xA680},
    {0xA682, 0xA682}, {0xA684, 0xA684}, {0xA686, 0xA686}, {0xA688, 0xA688}, {0xA68A, 0xA68A},
    {0xA68C, 0xA68C}, {0xA68E, 0xA68E}, {0xA690, 0xA690}, {0xA692, 0xA692}, {0xA694, 0xA694},
    {0xA696, 0xA696}, {0xA722, 0xA722}, {0xA724, 0xA724}, {0xA726, 0xA726}, {0xA728, 0xA728},
    {0xA72A, 0xA72A}, {0xA72C, 0xA72C}, {0xA72E, 0xA72E}, {0xA732, 0xA732}, {0xA734, 0xA734},
    {0xA736, 0xA736}, {0xA738, 0xA738}, {0xA73A, 0xA73A}, {0xA73C, 0xA73C}, {0xA73E, 0xA73E},
    {0xA740, 0xA740}, {0xA742, 0xA742}, {0xA744, 0xA744}, {0xA746, 0xA746}, {0xA748, 0xA748},
    {0xA74A, 0xA74A}, {0xA74C, 0xA74C}, {0xA74E, 0xA74E}, {0xA750, 0xA750}, {0xA752, 0xA752},
    {0xA754, 0xA754}, {0xA756, 0xA756}, {0xA758, 0xA758}, {0xA75A, 0xA75A}, {0xA75C, 0xA75C},
    {0xA75E, 0xA75E}, {0xA760, 0xA760}, {0xA762, 0xA762}, {0xA764, 0xA764}, {0xA766, 0xA766},
    {0xA768, 0xA768}, {0xA76A, 0xA76A}, {0xA76C, 0xA76C}, {0xA76E, 0xA76E}, {0xA779, 0xA779},
    {0xA77B, 0xA77B}, {0xA77D, 0xA77E}, {0xA780, 0xA780}, {0xA782, 0xA782}, {0xA784, 0xA784},
    {0xA786, 0xA786}, {0xA78B, 0xA78B}, {0xA78D, 0xA78D}, {0xA790, 0xA790}, {0xA792, 0xA792},
    {0xA7A0, 0xA7A0}, {0xA7A2, 0xA7A2}, {0xA7A4, 0xA7A4}, {0xA7A6, 0xA7A6}, {0xA7A8, 0xA7A8},
    {0xA7AA, 0xA7AA}, {0xFF21, 0xFF3A},
};
// characters it drops where no rule takes them (untokenizable), beyond ASCII (382 ranges)
constexpr Range kDeleted[] = {
    {0x0081, 0x0084}, {0x0086, 0x0090}, {0x0095, 0x0095}, {0x0098, 0x009F}, {0x037F, 0x0383},
    {0x038B, 0x038B}, {0x038D, 0x038D}, {0x03A2, 0x03A2}, {0x0482, 0x0482}, {0x0488, 0x0489},
    {0x0528, 0x0530}, {0x0557, 0x0558}, {0x0560, 0x0560}, {0x0588, 0x0588}, {0x058B, 0x0590},
    {0x05C8, 0x05CF}, {0x05EB, 0x05EF}, {0x05F5, 0x05FF}, {0x0604, 0x0605}, {0x060D, 0x0613},
    {0x061C, 0x061D}, {0x065F, 0x065F}, {0x066B, 0x066C}, {0x070E, 0x070E}, {0x07B2, 0x07BF},
    {0x07F9, 0x07F9}, {0x07FB, 0x07FF}, {0x0816, 0x0819}, {0x081B, 0x0823}, {0x0825, 0x0827},
    {0x0829, 0x083F}, {0x0859, 0x089F}, {0x08A1, 0x08A1}, {0x08AD, 0x08FF}, {0x093A, 0x093B},
    {0x094F, 0x094F}, {0x0956, 0x0957}, {0x0970, 0x0970}, {0x0978, 0x0978}, {0x0980, 0x0980},
    {0x0984, 0x0984}, {0x098D, 0x098E}, {0x0991, 0x0992}, {0x09A9, 0x09A9}, {0x09B1, 0x09B1},
    {0x09B3, 0x09B5}, {0x09BA, 0x09BB}, {0x09C5, 0x09C6}, {0x09C9, 0x09CA}, {0x09CF, 0x09D6},
    {0x09D8, 0x09DB}, {0x09DE, 0x09DE}, {0x09E4, 0x09E5}, {0x09F2, 0x0A00}, {0x0A04, 0x0A04},
    {0x0A0B, 0x0A0E}, {0x0A11, 0x0A12}, {0x0A29, 0x0A29}, {0x0A31, 0x0A31}, {0x0A34, 0x0A34},
    {0x0A37, 0x0A37}, {0x0A3A, 0x0A3B}, {0x0A3D, 0x0A3D}, {0x0A50, 0x0A58}, {0x0A5D, 0x0A5D},
    {0x0A5F, 0x0A65}, {0x0A70, 0x0A71}, {0x0A75, 0x0A80}, {0x0A84, 0x0A84}, {0x0A8E, 0x0A8E},
    {0x0A92, 0x0A92}, {0x0AA9, 0x0AA9}, {0x0AB1, 0x0AB1}, {0x0AB4, 0x0AB4}, {0x0ABA, 0x0ABB},
    {0x0AD1, 0x0ADF}, {0x0AE2, 0x0AE5}, {0x0AF0, 0x0B04}, {0x0B0D, 0x0B0E}, {0x0B11, 0x0B12},
    {0x0B29, 0x0B29}, {0x0B31, 0x0B31}, {0x0B34, 0x0B34}, {0x0B3A, 0x0B3C}, {0x0B3E, 0x0B5B},
    {0x0B5E, 0x0B5E}, {0x0B62, 0x0B65}, {0x0B70, 0x0B70}, {0x0B72, 0x0B81}, {0x0B84, 0x0B84},
    {0x0B8B, 0x0B8D}, {0x0B91, 0x0B91}, {0x0B96, 0x0B98}, {0x0B9B, 0x0B9B}, {0x0B9D, 0x0B9D},
    {0x0BA0, 0x0BA2}, {0x0BA5, 0x0BA7}, {0x0BAB, 0x0BAD}, {0x0BBA, 0x0BBD}, {0x0BC3, 0x0BC5},
    {0x0BC9, 0x0BC9}, {0x0BCE, 0x0BCF}, {0x0BD1, 0x0BE5}, {0x0BF0, 0x0C00}, {0x0C04, 0x0C04},
    {0x0C0D, 0x0C0D}, {0x0C11, 0x0C11}, {0x0C29, 0x0C29}, {0x0C34, 0x0C34}, {0x0C3A, 0x0C3C},
    {0x0C57, 0x0C57}, {0x0C5A, 0x0C5F}, {0x0C62, 0x0C65}, {0x0C70, 0x0C84}, {0x0C8D, 0x0C8D},
    {0x0C91, 0x0C91}, {0x0CA9, 0x0CA9}, {0x0CB4, 0x0CB4}, {0x0CBA, 0x0CBC}, {0x0CBE, 0x0CDD},
    {0x0CDF, 0x0CDF}, {0x0CE2, 0x0CE5}, {0x0CF0, 0x0CF0}, {0x0CF3, 0x0D04}, {0x0D0D, 0x0D0D},
    {0x0D11, 0x0D11}, {0x0D3B, 0x0D3C}, {0x0D45, 0x0D45}, {0x0D49, 0x0D4D}, {0x0D4F, 0x0D5F},
    {0x0D62, 0x0D65}, {0x0D70, 0x0D79}, {0x0D80, 0x0D84}, {0x0D97, 0x0D99}, {0x0DB2, 0x0DB2},
    {0x0DBC, 0x0DBC}, {0x0DBE, 0x0DBF}, {0x0DC7, 0x0E00}, {0x0E3B, 0x0E3E}, {0x0E5A, 0x0E80},
    {0x0E83, 0x0E83}, {0x0E85, 0x0E86}, {0x0E89, 0x0E89}, {0x0E8B, 0x0E8C}, {0x0E8E, 0x0E93},
    {0x0E98, 0x0E98}, {0x0EA0, 0x0EA0}, {0x0EA4, 0x0EA4}, {0x0EA6, 0x0EA6}, {0x0EA8, 0x0EA9},
    {0x0EAC, 0x0EAC}, {0x0EBE, 0x0EBF}, {0x0EC5, 0x0EC5}, {0x0EC7, 0x0EC7}, {0x0ECE, 0x0ECF},
    {0x0EDA, 0x0EDB}, {0x0EE0, 0x0EFF}, {0x0F01, 0x0F1F}, {0x0F2A, 0x0F3F}, {0x0F48, 0x0F48},
    {0x0F6D, 0x0F87}, {0x0F8D, 0x0FFF}, {0x102B, 0x103E}, {0x104A, 0x104F}, {0x1056, 0x1059},
    {0x105E, 0x1060}, {0x1062, 0x1064}, {0x1067, 0x106D}, {0x1071, 0x1074}, {0x1082, 0x108D},
    {0x108F, 0x108F}, {0x109A, 0x109F}, {0x10C6, 0x10C6}, {0x10C8, 0x10CC}, {0x10CE, 0x10CF},
    {0x10FB, 0x10FB}, {0x1249, 0x1249}, {0x124E, 0x124F}, {0x1257, 0x1257}, {0x1259, 0x1259},
    {0x125E, 0x125F}, {0x1289, 0x1289}, {0x128E, 0x128F}, {0x12B1, 0x12B1}, {0x12B6, 0x12B7},
    {0x12BF, 0x12BF}, {0x12C1, 0x12C1}, {0x12C6, 0x12C7}, {0x12D7, 0x12D7}, {0x1311, 0x1311},
    {0x1316, 0x1317}, {0x135B, 0x137F}, {0x1390, 0x139F}, {0x13F5, 0x1400}, {0x166D, 0x166E},
    {0x1680, 0x1680}, {0x169B, 0x169F}, {0x16EB, 0x16FF}, {0x170D, 0x170D}, {0x1712, 0x171F},
    {0x1732, 0x173F}, {0x1752, 0x175F}, {0x176D, 0x176D}, {0x1771, 0x177F}, {0x17B4, 0x17D6},
    {0x17D8, 0x17DB}, {0x17DD, 0x17DF}, {0x17EA, 0x180F}, {0x181A, 0x181F}, {0x1878, 0x187F},
    {0x18A9, 0x18A9}, {0x18AB, 0x18AF}, {0x18F6, 0x18FF}, {0x191D, 0x1945}, {0x196E, 0x196F},
    {0x1975, 0x197F}, {0x19AC, 0x19C0}, {0x19C8, 0x19CF}, {0x19DA, 0x19FF}, {0x1A17, 0x1A1F},
    {0x1A55, 0x1A7F}, {0x1A8A, 0x1A8F}, {0x1A9A, 0x1AA6}, {0x1AA8, 0x1B04}, {0x1B34, 0x1B44},
    {0x1B4C, 0x1B4F}, {0x1B5A, 0x1B82}, {0x1BA1, 0x1BAD}, {0x1BE6, 0x1BFF}, {0x1C24, 0x1C3F},
    {0x1C4A, 0x1C4C}, {0x1C7E, 0x1CE8}, {0x1CED, 0x1CED}, {0x1CF2, 0x1CF4}, {0x1CF7, 0x1CFF},
    {0x1DC0, 0x1DFF}, {0x1F16, 0x1F17}, {0x1F1E, 0x1F1F}, {0x1F46, 0x1F47}, {0x1F4E, 0x1F4F},
    {0x1F58, 0x1F58}, {0x1F5A, 0x1F5A}, {0x1F5C, 0x1F5C}, {0x1F5E, 0x1F5E}, {0x1F7E, 0x1F7F},
    {0x1FB5, 0x1FB5}, {0x1FBF, 0x1FC1}, {0x1FC5, 0x1FC5}, {0x1FCD, 0x1FCF}, {0x1FD4, 0x1FD5},
    {0x1FDC, 0x1FDF}, {0x1FED, 0x1FF1}, {0x1FF5, 0x1FF5}, {0x1FFD, 0x1FFF}, {0x200B, 0x200F},
    {0x2012, 0x2012}, {0x2024, 0x2025}, {0x2027, 0x2027}, {0x202A, 0x202F}, {0x203C, 0x203D},
    {0x2043, 0x2043}, {0x2045, 0x206F}, {0x2072, 0x2073}, {0x208F, 0x208F}, {0x209D, 0x209F},
    {0x20A1, 0x20A3}, {0x20A5, 0x20AB}, {0x20AD, 0x20FF}, {0x2150, 0x2152}, {0x215F, 0x2182},
    {0x2185, 0x218F}, {0x2C2F, 0x2C2F}, {0x2C5F, 0x2C5F}, {0x2CE5, 0x2CEA}, {0x2CEF, 0x2CF1},
    {0x2CF4, 0x2CFF}, {0x2D26, 0x2D26}, {0x2D28, 0x2D2C}, {0x2D2E, 0x2D2F}, {0x2D68, 0x2D6E},
    {0x2D70, 0x2D7F}, {0x2D97, 0x2D9F}, {0x2DA7, 0x2DA7}, {0x2DAF, 0x2DAF}, {0x2DB7, 0x2DB7},
    {0x2DBF, 0x2DBF}, {0x2DC7, 0x2DC7}, {0x2DCF, 0x2DCF}, {0x2DD7, 0x2DD7}, {0x2DDF, 0x2E2E},
    {0x2E30, 0x2FFF}, {0x3003, 0x3004}, {0x3007, 0x3011}, {0x3013, 0x3030}, {0x3036, 0x303A},
    {0x303D, 0x3040}, {0x3097, 0x309C}, {0x30A0, 0x30A0}, {0x3100, 0x3104}, {0x312E, 0x3130},
    {0x318F, 0x319F}, {0x31BB, 0x31EF}, {0x3200, 0x33FF}, {0x4DB6, 0x4DFF}, {0x9FCD, 0x9FFF},
    {0xA48D, 0xA4CF}, {0xA4FE, 0xA4FF}, {0xA60D, 0xA60F}, {0xA62C, 0xA63F}, {0xA66F, 0xA67E},
    {0xA698, 0xA69F}, {0xA6E6, 0xA716}, {0xA720, 0xA721}, {0xA789, 0xA78A}, {0xA78F, 0xA78F},
    {0xA794, 0xA79F}, {0xA7AB, 0xA7F7}, {0xA802, 0xA802}, {0xA806, 0xA806}, {0xA80B, 0xA80B},
    {0xA823, 0xA83F}, {0xA874, 0xA881}, {0xA8B4, 0xA8CF}, {0xA8DA, 0xA8F1}, {0xA8F8, 0xA8FA},
    {0xA8FC, 0xA8FF}, {0xA926, 0xA92F}, {0xA947, 0xA95F}, {0xA97D, 0xA983}, {0xA9B3, 0xA9CE},
    {0xA9DA, 0xA9FF}, {0xAA29, 0xAA3F}, {0xAA43, 0xAA43}, {0xAA4C, 0xAA4F}, {0xAA5A, 0xAA5F},
    {0xAA77, 0xAA79}, {0xAA7B, 0xAA7F}, {0xAAB0, 0xAAB0}, {0xAAB2, 0xAAB4}, {0xAAB7, 0xAAB8},
    {0xAABE, 0xAABF}, {0xAAC1, 0xAAC1}, {0xAAC3, 0xAADA}, {0xAADE, 0xAADF}, {0xAAEB, 0xAAF1},
    {0xAAF5, 0xAB00}, {0xAB07, 0xAB08}, {0xAB0F, 0xAB10}, {0xAB17, 0xAB1F}, {0xAB27, 0xAB27},
    {0xAB2F, 0xABBF}, {0xABE3, 0xABEF}, {0xABFA, 0xABFF}, {0xD7A4, 0xD7AF}, {0xD7C7, 0xD7CA},
    {0xD7FC, 0xD7FF}, {0xE000, 0xF8FF}, {0xFA6E, 0xFA6F}, {0xFADA, 0xFAFF}, {0xFB07, 0xFB12},
    {0xFB18, 0xFB1C}, {0xFB1E, 0xFB1E}, {0xFB29, 0xFB29}, {0xFB37, 0xFB37}, {0xFB3D, 0xFB3D},
    {0xFB3F, 0xFB3F}, {0xFB42, 0xFB42}, {0xFB45, 0xFB45}, {0xFBB2, 0xFBD2}, {0xFD3E, 0xFD4F},
    {0xFD90, 0xFD91}, {0xFDC8, 0xFDEF}, {0xFDFC, 0xFE6F}, {0xFE75, 0xFE75}, {0xFEFD, 0xFF00},
    {0xFFBF, 0xFFC1}, {0xFFC8, 0xFFC9}, {0xFFD0, 0xFFD1}, {0xFFD8, 0xFFD9}, {0xFFDD, 0xFFDF},
    {0xFFE2, 0xFFE4}, {0xFFE7, 0xFFFF},
};

template <std::size_t N> bool inRanges(const Range (&table)[N], char32_t c) {
    const Range* end = table + N;
    const Range* it =
        std::upper_bound(table, end, c, [](char32_t v, const Range& r) { return v < r.lo; });
    return it != table && c <= (it - 1)->hi;
}

bool isAsciiUpper(char32_t c) {
    return c >= 'A' && c <= 'Z';
}
bool isAsciiLower(char32_t c) {
    return c >= 'a' && c <= 'z';
}
bool isAsciiAlpha(char32_t c) {
    return isAsciiUpper(c) || isAsciiLower(c);
}
bool isAsciiDigit(char32_t c) {
    return c >= '0' && c <= '9';
}
bool isAsciiAlnum(char32_t c) {
    return isAsciiAlpha(c) || isAsciiDigit(c);
}

// [:letter:]
bool isJLetter(char32_t c) {
    if (c < 0x80)
        return isAsciiAlpha(c);
    return c < 0x10000 && inRanges(kLetters, c);
}
// [:digit:]
bool isJDigit(char32_t c) {
    if (c < 0x80)
        return isAsciiDigit(c);
    return c < 0x10000 && inRanges(kDigits, c);
}
bool isJAlnum(char32_t c) {
    return isJLetter(c) || isJDigit(c);
}
// The letters its words are made of: [:letter:], combining marks and the like, the soft hyphen.
bool isWordLetter(char32_t c) {
    if (isJLetter(c))
        return true;
    return c == 0x00AD || (c >= 0x80 && c < 0x10000 && inRanges(kMarks, c));
}
bool isUpper(char32_t c) {
    if (c < 0x80)
        return isAsciiUpper(c);
    return c < 0x10000 && inRanges(kUppercase, c);
}
bool isSpace(char32_t c) {
    return c == ' ' || c == '\t' || c == 0x00A0 || (c >= 0x2000 && c <= 0x200A) || c == 0x3000;
}
bool isNewline(char32_t c) {
    return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x2028 || c == 0x2029;
}
bool isDeleted(char32_t c) {
    if (c < 0x20)
        return c != '\t' && !isNewline(c);
    if (c == 0x7F)
        return true;
    if (c < 0x80)
        return false;
    if (c >= 0x10000)
        return true;
    // Hyphens and Arabic separators that only join inside words and numbers.
    if (c == 0x058A || c == 0x2010 || c == 0x2011 || c == 0x066B || c == 0x066C)
        return true;
    return inRanges(kDeleted, c);
}

// ---------------------------------------------------------------------------------------------
// Patterns over a text: each maps a set of start offsets to the set of offsets where a match
// can end. The end of the text matches no character (as in JFlex) except through `eof()`.

using Text = std::u32string;
using Set = std::vector<std::uint32_t>; // sorted, unique

void normalize(Set& s) {
    if (s.size() > 1) {
        std::sort(s.begin(), s.end());
        s.erase(std::unique(s.begin(), s.end()), s.end());
    }
}

// Positions a repetition has already expanded, marked with that run's number, so that a long
// repetition costs linear time even from many starts.
struct Marks {
    std::vector<std::uint32_t> stamp; // per text position
    std::uint32_t run = 0;
};
Marks& marks() {
    thread_local Marks m;
    return m;
}

// Scratch sets, reused so that matching allocates nothing once warm.
class Scratch {
public:
    Scratch() {
        std::vector<Set>& pool = freeList();
        if (!pool.empty()) {
            set_ = std::move(pool.back());
            pool.pop_back();
            set_.clear();
        }
    }
    ~Scratch() { freeList().push_back(std::move(set_)); }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    Set& operator*() { return set_; }

private:
    static std::vector<Set>& freeList() {
        thread_local std::vector<Set> pool;
        return pool;
    }
    Set set_;
};

class Pat {
public:
    virtual ~Pat() = default;
    // `out` receives (unsorted, possibly repeated) end offsets for the starts in `in`.
    virtual void run(const Text& t, const Set& in, Set& out) const = 0;
    // Whether a match can be empty, and whether one can begin with `c` (a quick filter).
    virtual bool nullable() const = 0;
    virtual bool canStart(char32_t c) const = 0;

    // The same, cached once the pattern is built (see `finish`).
    bool mayBeEmpty() const { return empty_; }
    bool mayStart(char32_t c) const { return c < 128 ? ascii_[c] : canStart(c); }
    // Whether a match can start at `p` (end of text: only an empty one).
    bool mayMatchAt(const Text& t, std::uint32_t p) const {
        return empty_ || (p < t.size() && mayStart(t[p]));
    }

protected:
    void finish() {
        empty_ = nullable();
        for (char32_t c = 0; c < 128; ++c)
            ascii_[c] = canStart(c);
    }

private:
    bool empty_ = false;
    std::array<bool, 128> ascii_{};
};
using P = std::shared_ptr<const Pat>;

class ClassPat final : public Pat {
public:
    explicit ClassPat(std::function<bool(char32_t)> f) : f_(std::move(f)) { finish(); }
    void run(const Text& t, const Set& in, Set& out) const override {
        for (std::uint32_t p : in)
            if (p < t.size() && f_(t[p]))
                out.push_back(p + 1);
    }
    bool nullable() const override { return false; }
    bool canStart(char32_t c) const override { return f_(c); }

private:
    std::function<bool(char32_t)> f_;
};

char32_t asciiFold(char32_t c) {
    return isAsciiUpper(c) ? c + 32 : c;
}

// A literal; ASCII letters match either case (JFlex's %caseless).
class LitPat final : public Pat {
public:
    explicit LitPat(std::u32string s) : s_(std::move(s)) {
        for (char32_t& c : s_)
            c = asciiFold(c);
        finish();
    }
    void run(const Text& t, const Set& in, Set& out) const override {
        for (std::uint32_t p : in) {
            if (p + s_.size() > t.size())
                continue;
            bool ok = true;
            for (std::size_t i = 0; i < s_.size() && ok; ++i)
                ok = asciiFold(t[p + i]) == s_[i];
            if (ok)
                out.push_back(static_cast<std::uint32_t>(p + s_.size()));
        }
    }
    bool nullable() const override { return s_.empty(); }
    bool canStart(char32_t c) const override { return !s_.empty() && asciiFold(c) == s_[0]; }

private:
    std::u32string s_;
};

class EofPat final : public Pat {
public:
    EofPat() { finish(); }
    void run(const Text& t, const Set& in, Set& out) const override {
        for (std::uint32_t p : in)
            if (p == t.size())
                out.push_back(p);
    }
    bool nullable() const override { return true; }
    bool canStart(char32_t) const override { return false; }
};

class SeqPat final : public Pat {
public:
    explicit SeqPat(std::vector<P> parts) : parts_(std::move(parts)) { finish(); }
    void run(const Text& t, const Set& in, Set& out) const override {
        if (in.empty() || (in.size() == 1 && !mayMatchAt(t, in[0])))
            return;
        Scratch a, b;
        Set* cur = &*a;
        Set* next = &*b;
        *cur = in;
        for (const P& part : parts_) {
            next->clear();
            part->run(t, *cur, *next);
            normalize(*next);
            if (next->empty())
                return;
            std::swap(cur, next);
        }
        out.insert(out.end(), cur->begin(), cur->end());
    }
    bool nullable() const override {
        return std::all_of(parts_.begin(), parts_.end(),
                           [](const P& p) { return p->mayBeEmpty(); });
    }
    bool canStart(char32_t c) const override {
        for (const P& p : parts_) {
            if (p->mayStart(c))
                return true;
            if (!p->mayBeEmpty())
                return false;
        }
        return false;
    }

private:
    std::vector<P> parts_;
};

class AltPat final : public Pat {
public:
    explicit AltPat(std::vector<P> alts) : alts_(std::move(alts)) { finish(); }
    void run(const Text& t, const Set& in, Set& out) const override {
        for (const P& a : alts_)
            if (in.size() != 1 || a->mayMatchAt(t, in[0]))
                a->run(t, in, out);
    }
    bool nullable() const override {
        return std::any_of(alts_.begin(), alts_.end(), [](const P& p) { return p->mayBeEmpty(); });
    }
    bool canStart(char32_t c) const override {
        return std::any_of(alts_.begin(), alts_.end(), [c](const P& p) { return p->mayStart(c); });
    }

private:
    std::vector<P> alts_;
};

// body{min,max}; max < 0: unbounded. Every pattern repeated here consumes at least one character
// (the grammar below never repeats one that can match empty).
class RepPat final : public Pat {
public:
    RepPat(P body, int min, int max) : body_(std::move(body)), min_(min), max_(max) { finish(); }
    void run(const Text& t, const Set& in, Set& out) const override {
        if (min_ == 0)
            out.insert(out.end(), in.begin(), in.end());
        if (in.empty() || (in.size() == 1 && !body_->mayMatchAt(t, in[0])))
            return;
        Scratch a, b;
        Set* cur = &*a;
        Set* next = &*b;
        *cur = in;
        Marks& m = marks();
        if (m.stamp.size() <= t.size())
            m.stamp.assign(t.size() + 1, 0);
        if (++m.run == 0) { // wrapped: forget all marks
            std::fill(m.stamp.begin(), m.stamp.end(), 0);
            m.run = 1;
        }
        const std::uint32_t run = m.run;
        // Every iteration consumes at least one character, so this ends within the text.
        for (int i = 1; (max_ < 0 || i <= max_) && i <= static_cast<int>(t.size()) + 1; ++i) {
            next->clear();
            body_->run(t, *cur, *next);
            normalize(*next);
            if (i >= min_ && max_ < 0) {
                // Past the minimum, a position reached again goes on the same way: expand it once.
                std::size_t kept = 0;
                for (std::uint32_t p : *next) {
                    if (m.stamp[p] == run)
                        continue;
                    m.stamp[p] = run;
                    (*next)[kept++] = p;
                }
                next->resize(kept);
            }
            if (next->empty())
                break;
            if (i >= min_)
                out.insert(out.end(), next->begin(), next->end());
            std::swap(cur, next);
        }
    }
    bool nullable() const override { return min_ == 0 || body_->mayBeEmpty(); }
    bool canStart(char32_t c) const override { return body_->mayStart(c); }

private:
    P body_;
    int min_, max_;
};

// Builders.
P cls(std::function<bool(char32_t)> f) {
    return std::make_shared<ClassPat>(std::move(f));
}
P ch(char32_t c) {
    return cls([c](char32_t x) { return x == c; });
}
P anyOf(std::u32string chars) {
    return cls(
        [chars = std::move(chars)](char32_t x) { return chars.find(x) != std::u32string::npos; });
}
// Any character but these (and not the end of the text).
P noneOf(std::u32string chars) {
    return cls(
        [chars = std::move(chars)](char32_t x) { return chars.find(x) == std::u32string::npos; });
}
P range(char32_t lo, char32_t hi) {
    return cls([lo, hi](char32_t x) { return x >= lo && x <= hi; });
}
P lit(std::u32string s) {
    return std::make_shared<LitPat>(std::move(s));
}
P eof() {
    return std::make_shared<EofPat>();
}
P seq(std::vector<P> parts) {
    return std::make_shared<SeqPat>(std::move(parts));
}
P alt(std::vector<P> alts) {
    return std::make_shared<AltPat>(std::move(alts));
}
P rep(P p, int min, int max) {
    return std::make_shared<RepPat>(std::move(p), min, max);
}
P star(P p) {
    return rep(std::move(p), 0, -1);
}
P plus(P p) {
    return rep(std::move(p), 1, -1);
}
P opt(P p) {
    return rep(std::move(p), 0, 1);
}
P lits(std::initializer_list<const char32_t*> words) {
    std::vector<P> alts;
    for (const char32_t* w : words)
        alts.push_back(lit(w));
    return alt(std::move(alts));
}

// An abbreviation as the jar's case rules have it: a lower-case letter matches either case, a
// capital only itself, and '_' before a letter makes that letter lower-case only.
P abbrevWord(std::u32string_view spec) {
    std::vector<P> parts;
    for (std::size_t i = 0; i < spec.size(); ++i) {
        char32_t c = spec[i];
        if (c == '_' && i + 1 < spec.size()) {
            parts.push_back(ch(spec[++i]));
        } else if (isAsciiUpper(c)) {
            parts.push_back(ch(c));
        } else {
            parts.push_back(lit(std::u32string(1, c)));
        }
    }
    return seq(std::move(parts));
}
P abbrevWords(std::initializer_list<const char32_t*> specs) {
    std::vector<P> alts;
    for (const char32_t* s : specs)
        alts.push_back(abbrevWord(s));
    return alt(std::move(alts));
}

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
