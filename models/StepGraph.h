// A recorded decode step: on a GPU, the few hundred kernels of one token through the decoder
// are recorded once (a CUDA graph) and replayed with a single launch per token, instead of
// being launched one by one from the CPU. models/ only declares the recorder; the engine
// installs one made by its CUDA plugin (the engine's cuda/ folder) when a GPU is used, since recording
// needs LibTorch's CUDA library, which this library does not link.
//
// What the step reads and writes must stay at the same addresses from replay to replay:
// LlamaDecoder keeps its inputs (the token's embedding, its position, the key positions of
// an attention capture) and outputs in buffers owned by the KV cache, and attends over a
// fixed number of cached positions per recording (a bucket), masking the unfilled ones.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <torch/torch.h>

namespace vqa::models {

class StepGraph {
  public:
    virtual ~StepGraph() = default;
    // Runs `body` once (warm-up: libraries set up their handles and workspaces outside the
    // recording), then records it. `body` must read and write only tensors whose storage
    // outlives the recording, and must not synchronise with the host. Throws on failure;
    // the caller then runs the step without recording.
    virtual void record(const std::function<void()>& body) = 0;
    // Runs what was recorded, on the current stream.
    virtual void replay() = 0;
};

// Makes a recorder for a device, or returns null when it cannot record on that device.
using StepGraphMaker = std::function<std::unique_ptr<StepGraph>(torch::Device)>;

// Installs the maker used by every decoder from now on (an empty function: none, the
// default). Thread-safe; decoders ask for it when a cache first needs a recording.
void setStepGraphMaker(StepGraphMaker maker);
StepGraphMaker stepGraphMaker();

// Why a decoder stopped using recorded steps (the first failure, "" when none): for the
// engine's log and tests.
std::string stepGraphFailure();

} // namespace vqa::models
