// The engine's one exception type: a message a person can act on.
#pragma once

#include <stdexcept>
#include <string>

namespace vqa {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace vqa
