// An answer's text as the one-shot uses keep it (a folder's captions, an evaluation's
// predictions): without surrounding white space and, from a thinking model, without the
// reasoning it starts with.
#pragma once

#include <string>

namespace vqa {

inline std::string trimmedText(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos)
        return "";
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// A thinking model's answer starts with its reasoning, ended by "</think>": what follows it.
inline std::string answerAfterReasoning(const std::string& answer, bool reasons_first) {
    if (reasons_first) {
        const auto end = answer.rfind("</think>");
        if (end != std::string::npos)
            return trimmedText(answer.substr(end + 8));
    }
    return trimmedText(answer);
}

} // namespace vqa
