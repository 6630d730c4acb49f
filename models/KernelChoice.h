// What the CPU kernel choices share (CpuGemv.h's Bf16Kernels, CpuAttention.h's Bf16Attention):
// one of three ways, the fastest of them timed on this machine, in force from the first time it
// matters unless set before.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <limits>
#include <mutex>
#include <vector>

namespace vqa::models {

// Each of `runs` timed: the best of five runs of it, in milliseconds, after one untimed (its
// first call sets kernels, threads and scratch up). The runs take turns, so that a moment when
// the machine is busy slows each of them about alike instead of the one being timed then.
inline std::vector<double> bestMilliseconds(const std::vector<std::function<void()>>& runs) {
    std::vector<double> best(runs.size(), std::numeric_limits<double>::infinity());
    for (int round = 0; round < 6; ++round)
        for (std::size_t i = 0; i < runs.size(); ++i) {
            const auto start = std::chrono::steady_clock::now();
            runs[i]();
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
            if (round > 0)
                best[i] = std::min(best[i], ms);
        }
    return best;
}

// run(native), run(widened) and, where `with_ours`, run(ours) timed in turns by
// bestMilliseconds: their times, the last 0 without ours.
template <typename Way, typename Run>
std::array<double, 3> timeWays(const Run& run, Way native, Way widened, Way ours, bool with_ours) {
    std::vector<std::function<void()>> runs = {[&] { run(native); }, [&] { run(widened); }};
    if (with_ours)
        runs.push_back([&] { run(ours); });
    const auto ms = bestMilliseconds(runs);
    return {ms[0], ms[1], with_ours ? ms[2] : 0.0};
}

// The fastest of LibTorch's own way (native_ms), the widened one and ours (ours_ms 0: it cannot
// run here); ties go to the first.
template <typename Way>
Way fastestWay(double native_ms, double widened_ms, double ours_ms, Way native, Way widened, Way ours) {
    Way best = widened_ms < native_ms ? widened : native;
    if (ours_ms > 0 && ours_ms < std::min(native_ms, widened_ms))
        best = ours;
    return best;
}

// A choice that is Auto until set, or until get() measures it: once, whichever thread asks first,
// the others waiting for it.
template <typename Way>
class MeasuredChoice {
  public:
    void set(Way way) { value_ = way; }
    template <typename Measure>
    Way get(const Measure& measure) {
        Way way = value_.load();
        if (way != Way::Auto)
            return way;
        std::lock_guard lock(measuring_);
        way = value_.load();
        if (way == Way::Auto) {
            way = measure();
            value_ = way;
        }
        return way;
    }

  private:
    std::atomic<Way> value_{Way::Auto};
    std::mutex measuring_;
};

} // namespace vqa::models
