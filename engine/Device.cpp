#include "engine/Device.h"

#include <dlfcn.h>
#include <mutex>

#include <torch/torch.h>

namespace vqa {

namespace {

struct CudaState {
    bool available = false;
    std::string reason;
};

const CudaState& cudaState() {
    static CudaState state;
    static std::once_flag once;
    std::call_once(once, [] {
        // Registering LibTorch's CUDA kernels and hooks happens in libtorch_cuda's static
        // initializers; loading it globally is all it takes.
        void* handle = dlopen("libtorch_cuda.so", RTLD_NOW | RTLD_GLOBAL);
        if (!handle) {
            const char* err = dlerror();
            state.reason = std::string("LibTorch's CUDA library could not be loaded (") + (err ? err : "unknown") + ")";
            return;
        }
        try {
            state.available = torch::cuda::is_available();
            if (!state.available)
                state.reason = "no CUDA GPU is visible to this process";
        } catch (const std::exception& e) {
            state.reason = e.what();
        }
    });
    return state;
}

}  // namespace

bool cudaAvailable() { return cudaState().available; }
std::string cudaUnavailableReason() { return cudaState().reason; }

}  // namespace vqa
