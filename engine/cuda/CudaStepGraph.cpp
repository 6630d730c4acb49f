// The CUDA plugin: records the decoder's one-token step as a CUDA graph (models/StepGraph.h).
//
// Built as its own shared library, linked against LibTorch's CUDA libraries, which the
// programs never link: the engine loads this plugin (engine/Device.cpp) only after it has
// loaded libtorch_cuda and found a GPU. Everything here is LibTorch's CUDA graph API.
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "models/StepGraph.h"

namespace {

class CudaStepGraph final : public vqa::models::StepGraph {
  public:
    explicit CudaStepGraph(c10::DeviceIndex device) : device_(device) {}

    void record(const std::function<void()>& body) override {
        c10::cuda::CUDAGuard device_guard(device_);
        // A graph is recorded on a stream of its own, ordered after the work already queued
        // on the current one and before what comes next.
        auto current = c10::cuda::getCurrentCUDAStream(device_);
        auto side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device_);
        at::cuda::CUDAEvent before, after;
        before.record(current);
        before.block(side);
        {
            c10::cuda::CUDAStreamGuard stream_guard(side);
            // Warm-up, outside the recording: cuBLAS handles and workspaces, lazily loaded
            // kernels, the caching allocator's first blocks.
            body();
            side.synchronize();
            graph_.emplace();
            graph_->capture_begin();
            try {
                body();
            } catch (...) {
                // End the capture so the stream is usable again; its error, if any, is not
                // the one to report.
                try {
                    graph_->capture_end();
                } catch (...) {
                }
                graph_.reset();
                throw;
            }
            graph_->capture_end();
        }
        after.record(side);
        after.block(current);
        body_ = body; // what the recording reads and writes stays alive with it
    }

    void replay() override {
        if (!graph_)
            throw std::logic_error("a CUDA graph was replayed before it was recorded");
        c10::cuda::CUDAGuard device_guard(device_);
        graph_->replay();
    }

  private:
    c10::DeviceIndex device_;
    std::optional<at::cuda::CUDAGraph> graph_;
    std::function<void()> body_;
};

} // namespace

// The plugin's one entry point: a recorder for a CUDA device, or null for any other device.
extern "C" __attribute__((visibility("default"))) vqa::models::StepGraph*
vqa_make_cuda_step_graph(int device_type, int device_index) {
    if (device_type != static_cast<int>(c10::DeviceType::CUDA))
        return nullptr;
    return new CudaStepGraph(static_cast<c10::DeviceIndex>(device_index < 0 ? 0 : device_index));
}
