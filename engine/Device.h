// Which device runs the model. LibTorch's CUDA part is loaded on first use, when the
// library and a GPU are there; otherwise everything runs on the CPU.
#pragma once

#include <string>

namespace vqa {

// Loads libtorch_cuda once and asks it for a GPU. Never throws; false on any failure.
bool cudaAvailable();

// Why CUDA is not available, for messages ("" when it is).
std::string cudaUnavailableReason();

// Decode steps on the GPU recorded as CUDA graphs and replayed (models/StepGraph.h): on
// loads the CUDA plugin (libvqa_cuda_graphs.so, engine/cuda) once and installs its recorder;
// off removes it. Turning it on returns "" when it is on, else why not (no GPU, no plugin,
// VQA_CUDA_GRAPHS=0 in the environment). Never throws.
std::string setCudaGraphs(bool on);

// Loads the CUDA graph plugin (once) and makes a recorder with it for `cuda_device`: "" when
// it could, else why not. Needs LibTorch's CUDA library, not a GPU: recorders touch the GPU
// only when they record. For checking the plugin on machines without one.
std::string probeCudaGraphPlugin(int cuda_device = 0);

}  // namespace vqa
