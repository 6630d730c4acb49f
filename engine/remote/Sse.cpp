#include "engine/remote/Sse.h"

namespace vqa::remote {

void SseParser::feed(const char* bytes, std::size_t n, const OnEvent& on_event) {
    for (std::size_t i = 0; i < n; ++i) {
        const char c = bytes[i];
        if (c == '\n' && last_was_cr_) { // the LF of a CRLF: the line already ended
            last_was_cr_ = false;
            continue;
        }
        last_was_cr_ = c == '\r';
        if (c == '\n' || c == '\r')
            endLine(on_event);
        else
            line_ += c;
    }
}

void SseParser::endLine(const OnEvent& on_event) {
    if (line_.empty()) { // a blank line dispatches the event
        if (has_data_)
            on_event(data_);
        data_.clear();
        has_data_ = false;
        return;
    }
    std::string field = line_, value;
    if (const auto colon = line_.find(':'); colon != std::string::npos) {
        field = line_.substr(0, colon);
        value = line_.substr(colon + 1);
        if (!value.empty() && value.front() == ' ')
            value.erase(0, 1);
    }
    line_.clear();
    if (field != "data") // comments (empty field), event:, id:, retry:
        return;
    if (has_data_)
        data_ += '\n';
    data_ += value;
    has_data_ = true;
}

}  // namespace vqa::remote
