#include "models/Interrupt.h"

namespace vqa::models {

namespace {
thread_local InterruptCheck t_check;
}

InterruptScope::InterruptScope(InterruptCheck check) : previous_(std::move(t_check)) {
    t_check = std::move(check);
}

InterruptScope::~InterruptScope() { t_check = std::move(previous_); }

void checkInterrupt() {
    if (t_check)
        t_check();
}

} // namespace vqa::models
