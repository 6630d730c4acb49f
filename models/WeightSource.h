// Where a model's weights come from. models/ knows no file formats: the engine implements
// this over safetensors checkpoints, tests may implement it over tensors in memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace vqa::models {

struct QuantizedMatrix;

class WeightSource {
public:
    virtual ~WeightSource() = default;
    virtual bool contains(const std::string& name) const = 0;
    // The tensor stored under `name` (on the CPU, in the stored dtype; may alias a
    // memory-mapped file). Throws vqa::Error when missing.
    virtual torch::Tensor get(const std::string& name) const = 0;
    virtual std::vector<std::string> names() const = 0;
    // The model has copied this tensor (converted or fused it) and will not read the stored
    // bytes again: a memory-mapped source may drop its pages. Only a hint.
    virtual void release(const std::string& name) const {}
    // A weight the checkpoint holds already quantized (an AWQ checkpoint's 4-bit linears):
    // writes the tensor `name` ([rows, into.cols], as get() would give it in floats) into rows
    // first_row.. of `into`, in into.format, and returns true. False when `name` is stored as
    // floats and the loader quantizes it itself. Throws vqa::Error when it is stored
    // quantized but not in a form `into` can hold.
    virtual bool quantizedInto(const std::string& name, std::int64_t rows, QuantizedMatrix& into,
                               std::int64_t first_row) const {
        return false;
    }
};

}  // namespace vqa::models
