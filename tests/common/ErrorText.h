// What a call's vqa::Error says, for tests that check the words a person reads.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "models/base/Error.h"

namespace vqa::test {

// The message of the vqa::Error `f` throws; "" and a test failure when it throws none.
template <typename F>
std::string errorOf(F&& f) {
    try {
        f();
    } catch (const vqa::Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no vqa::Error was thrown";
    return {};
}

}  // namespace vqa::test
