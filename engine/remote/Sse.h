// Server-sent events, the framing of a streamed chat completion. Pure C++ (no HTTP, no JSON),
// so the parser can be fuzzed on its own (tests/fuzz/fuzz_chat_request.cpp).
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace vqa::remote {

// Splits a byte stream into server-sent events (the WHATWG format the API uses): lines end in
// LF, CRLF or CR, a blank line ends an event, `data:` lines are joined with newlines, other
// fields and `:` comments are ignored. Bytes may arrive split anywhere.
class SseParser {
public:
    using OnEvent = std::function<void(const std::string& data)>;
    void feed(const char* bytes, std::size_t n, const OnEvent& on_event);
    // Something came after the last complete event (a stream cut mid-event).
    bool pending() const { return !line_.empty() || has_data_; }
    // Bytes held for the event in progress (a caller bounds it against a server that never
    // ends a line).
    std::size_t buffered() const { return line_.size() + data_.size(); }

private:
    void endLine(const OnEvent& on_event);
    std::string line_;
    std::string data_;
    bool has_data_ = false;
    bool last_was_cr_ = false;
};

}  // namespace vqa::remote
