// A gate at one stage of the engine (engine/EngineTesting.h): the first time the engine's
// thread reaches that stage it marks the gate reached and waits there until the test opens
// it. A test that needs "the engine is busy with this request" waits for reached(), which
// is then certain and stays true until open(): no polling of a state a fast machine may
// already have left.
//
// The stage hook is one global and is not synchronised with the engine's thread: install
// the gate while that thread is idle, and uninstall it after the thread has been joined.
// Open it before joining, or the join waits on the gate.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>

#include "engine/EngineTesting.h"

namespace vqa::test {

class StageGate {
public:
    explicit StageGate(std::string stage) : stage_(std::move(stage)) {
        testhooks::setStageHook([this](std::string_view stage) { arrive(stage); });
    }
    ~StageGate() {
        open();
        testhooks::setStageHook({});
    }
    StageGate(const StageGate&) = delete;
    StageGate& operator=(const StageGate&) = delete;

    bool reached() const {
        std::lock_guard lock(mutex_);
        return reached_;
    }
    void open() {
        {
            std::lock_guard lock(mutex_);
            open_ = true;
        }
        cv_.notify_all();
    }

private:
    void arrive(std::string_view stage) {
        std::unique_lock lock(mutex_);
        if (stage != stage_ || reached_)
            return;  // only the first arrival waits
        reached_ = true;
        cv_.wait(lock, [this] { return open_; });
    }

    const std::string stage_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    bool reached_ = false;
    bool open_ = false;
};

}  // namespace vqa::test
