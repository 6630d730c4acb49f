#include "engine/Device.h"

#include <dlfcn.h>
#include <cstdlib>
#include <memory>
#include <mutex>

#include <torch/torch.h>

#include "models/StepGraph.h"

namespace vqa {

namespace {

// dlopen, with the loader's own words in `reason` when it fails.
void* openLibrary(const char* file, int flags, const std::string& what, std::string& reason) {
    void* handle = dlopen(file, flags);
    if (!handle) {
        const char* err = dlerror();
        reason = what + " could not be loaded (" + (err ? err : "unknown") + ")";
    }
    return handle;
}

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
        if (!openLibrary("libtorch_cuda.so", RTLD_NOW | RTLD_GLOBAL, "LibTorch's CUDA library", state.reason))
            return;
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

// The plugin's entry point (engine/cuda/CudaStepGraph.cpp).
using MakeStepGraph = models::StepGraph* (*)(int device_type, int device_index);

struct Plugin {
    MakeStepGraph make = nullptr;
    std::string reason;
};

const Plugin& cudaGraphPlugin() {
    static Plugin plugin;
    static std::once_flag once;
    std::call_once(once, [] {
        // Found through the program's RUNPATH: beside LibTorch's libraries once installed,
        // in the build's lib/ folder before. Never unloaded.
        void* handle = openLibrary("libvqa_cuda_graphs.so", RTLD_NOW | RTLD_LOCAL, "the CUDA graph plugin", plugin.reason);
        if (!handle)
            return;
        plugin.make = reinterpret_cast<MakeStepGraph>(dlsym(handle, "vqa_make_cuda_step_graph"));
        if (!plugin.make)
            plugin.reason = "the CUDA graph plugin has no vqa_make_cuda_step_graph";
    });
    return plugin;
}

}  // namespace

std::string setCudaGraphs(bool on) {
    if (!on) {
        models::setStepGraphMaker({});
        return "";
    }
    if (const char* env = std::getenv("VQA_CUDA_GRAPHS"); env && std::string(env) == "0") {
        models::setStepGraphMaker({});
        return "VQA_CUDA_GRAPHS=0 turns them off";
    }
    if (!cudaAvailable())
        return cudaUnavailableReason();
    const Plugin& plugin = cudaGraphPlugin();
    if (!plugin.make)
        return plugin.reason;
    models::setStepGraphMaker([make = plugin.make](torch::Device device) {
        return std::unique_ptr<models::StepGraph>(make(static_cast<int>(device.type()), device.index()));
    });
    return "";
}

std::string probeCudaGraphPlugin(int cuda_device) {
    cudaAvailable(); // loads LibTorch's CUDA library, which the plugin needs
    const Plugin& plugin = cudaGraphPlugin();
    if (!plugin.make)
        return plugin.reason;
    if (std::unique_ptr<models::StepGraph> none(plugin.make(static_cast<int>(torch::kCPU), -1)); none)
        return "the CUDA graph plugin made a recorder for the CPU";
    std::unique_ptr<models::StepGraph> graph(plugin.make(static_cast<int>(torch::kCUDA), cuda_device));
    return graph ? "" : "the CUDA graph plugin made no recorder for CUDA device " + std::to_string(cuda_device);
}

bool cudaAvailable() { return cudaState().available; }
std::string cudaUnavailableReason() { return cudaState().reason; }

}  // namespace vqa
