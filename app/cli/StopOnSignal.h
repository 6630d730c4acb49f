// Ctrl+C (SIGINT) or SIGTERM while long work runs (an answer, a folder's captions) stops that
// work at its next check, keeping what it made; outside such a scope the signals keep their
// usual meaning. The work polls stopRequested().
#pragma once

#include <atomic>
#include <csignal>

namespace vqa::cli {

inline std::atomic<bool>& stopRequested() {
    static std::atomic<bool> flag{false};
    static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");
    return flag;
}

extern "C" inline void vqaCliRequestStop(int) {
    stopRequested().store(true);
}

class StopOnSignal {
  public:
    StopOnSignal() {
        stopRequested().store(false);
        old_int_ = std::signal(SIGINT, vqaCliRequestStop);
        old_term_ = std::signal(SIGTERM, vqaCliRequestStop);
    }
    ~StopOnSignal() {
        std::signal(SIGINT, old_int_);
        std::signal(SIGTERM, old_term_);
    }
    StopOnSignal(const StopOnSignal&) = delete;
    StopOnSignal& operator=(const StopOnSignal&) = delete;

  private:
    void (*old_int_)(int) = SIG_DFL;
    void (*old_term_)(int) = SIG_DFL;
};

}  // namespace vqa::cli
