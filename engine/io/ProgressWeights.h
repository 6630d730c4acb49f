// A WeightSource that tells how far a model's construction has come: it passes every call to
// the source it wraps and, as tensors are taken, reports the share of the source's elements
// handed out so far (every 2% at most). Building a model reads each tensor once, so this is
// the progress of the build, conversions and quantization included.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>

#include "models/QuantizedLinear.h"
#include "models/WeightSource.h"

namespace vqa {

class ProgressWeights : public models::WeightSource {
  public:
    // `total`: elements over all tensors of `source`; `report(fraction)` in 0..1.
    ProgressWeights(const models::WeightSource& source, std::int64_t total,
                    std::function<void(double)> report)
        : source_(source), total_(total > 0 ? total : 1), report_(std::move(report)) {}

    bool contains(const std::string& name) const override { return source_.contains(name); }
    std::vector<std::string> names() const override { return source_.names(); }
    void release(const std::string& name) const override { source_.release(name); }
    bool quantizedInto(const std::string& name, std::int64_t rows, models::QuantizedMatrix& into,
                       std::int64_t first_row) const override {
        tick();
        if (!source_.quantizedInto(name, rows, into, first_row))
            return false;
        done_ += rows * into.cols / 8;  // about what the source stored: 4 bits a weight
        return true;
    }
    torch::Tensor get(const std::string& name) const override {
        tick();
        auto t = source_.get(name);
        done_ += t.numel();
        return t;
    }

  private:
    // The previous tensor is done when the next one is asked for.
    void tick() const {
        if (report_ && done_ - reported_ >= total_ / 50) {
            reported_ = done_;
            report_(static_cast<double>(std::min(done_, total_)) / static_cast<double>(total_));
        }
    }

    const models::WeightSource& source_;
    std::int64_t total_;
    std::function<void(double)> report_;
    mutable std::int64_t done_ = 0, reported_ = 0;
};

}  // namespace vqa
