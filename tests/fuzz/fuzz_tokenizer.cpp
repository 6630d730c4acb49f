// Tokenizer loading plus encode/decode. The input is a tokenizer.json, then a line
// "@@TEXT@@", then text to encode (any bytes, invalid UTF-8 included). Loading must end in
// a tokenizer or a vqa::Error; encoding any text must give ids in the vocabulary, and
// decoding (whole or streamed) must give valid UTF-8 equal between the two.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "models/base/Error.h"
#include "engine/text/BpeTokenizer.h"
#include "engine/text/StreamingDetokenizer.h"
#include "engine/text/Utf8.h"

namespace {

void check(bool ok) {
    if (!ok)
        std::abort();
}

bool validUtf8(const std::string& s) { return vqa::utf8::toValid(s) == s; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::string_view marker = "\n@@TEXT@@\n";
    const auto at = input.find(marker);
    const std::string_view spec_text = input.substr(0, at);
    const std::string_view text = at == std::string_view::npos ? std::string_view() : input.substr(at + marker.size());
    if (spec_text.size() > 200'000)
        return 0;

    nlohmann::json spec = nlohmann::json::parse(spec_text, nullptr, /*allow_exceptions=*/false);
    if (spec.is_discarded())
        return 0;
    std::unique_ptr<vqa::BpeTokenizer> tok;
    try {
        tok = std::make_unique<vqa::BpeTokenizer>(spec, "fuzz/tokenizer.json");
    } catch (const vqa::Error&) {
        return 0;
    }
    try {
        for (bool special : {false, true}) {
            const auto ids = tok->encode(text, special);
            for (auto id : ids)
                check(id >= 0 && !tok->idToPiece(id).empty());
            for (bool skip : {false, true}) {
                const std::string whole = tok->decode(ids, skip);
                check(validUtf8(whole));
                vqa::StreamingDetokenizer stream(*tok, skip);
                std::string streamed;
                for (auto id : ids)
                    streamed += stream.push(id);
                streamed += stream.finish();
                check(streamed == whole);
            }
        }
    } catch (const vqa::Error&) {
        // e.g. text that makes a configured pattern fail: reported, not a crash
    }
    return 0;
}
