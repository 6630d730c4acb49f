// Which device runs the model. LibTorch's CUDA part is loaded on first use, when the
// library and a GPU are there; otherwise everything runs on the CPU.
#pragma once

#include <string>

namespace vqa {

// Loads libtorch_cuda once and asks it for a GPU. Never throws; false on any failure.
bool cudaAvailable();

// Why CUDA is not available, for messages ("" when it is).
std::string cudaUnavailableReason();

}  // namespace vqa
