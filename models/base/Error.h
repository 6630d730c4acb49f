// The project's one exception type: a message a person can act on. It lives in the bottom
// layer (models/base/: plain C++, no LibTorch, no Qt) so that the networks and the engine both throw
// it without models/ depending on the engine.
#pragma once

#include <stdexcept>
#include <string>

namespace vqa {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace vqa
