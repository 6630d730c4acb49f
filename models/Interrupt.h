// A check that long passes (the vision encoder's layers, the decoder's layers) make between
// layers, so the engine can stop an image encoding or a prefill promptly instead of only
// between generated tokens. The check is per thread: the engine installs one for the
// duration of a request; it throws to abandon the pass. Without one it costs a branch.
#pragma once

#include <functional>

namespace vqa::models {

using InterruptCheck = std::function<void()>;

// Installs `check` on the calling thread until the guard ends (restoring the one before).
class InterruptScope {
  public:
    explicit InterruptScope(InterruptCheck check);
    ~InterruptScope();
    InterruptScope(const InterruptScope&) = delete;
    InterruptScope& operator=(const InterruptScope&) = delete;

  private:
    InterruptCheck previous_;
};

// Called between layers: runs the calling thread's check, if any (which may throw).
void checkInterrupt();

} // namespace vqa::models
