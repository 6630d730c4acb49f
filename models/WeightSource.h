// Where a model's weights come from. models/ knows no file formats: the engine implements
// this over safetensors checkpoints, tests may implement it over tensors in memory.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace vqa::models {

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
};

}  // namespace vqa::models
