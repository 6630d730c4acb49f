// A model folder's weights in the Hugging Face layout: model.safetensors, or shards listed by
// model.safetensors.index.json, or one other *.safetensors file. All files are memory-mapped
// and validated when the checkpoint is opened; tensors are views into the mappings.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <torch/torch.h>

#include "engine/io/SafetensorsFile.h"
#include "models/WeightSource.h"

namespace vqa {

class Checkpoint : public models::WeightSource {
  public:
    // Throws vqa::Error naming the folder or file and the problem.
    static std::unique_ptr<Checkpoint> open(const std::string& model_dir);

    bool contains(const std::string& name) const override;
    // The stored tensor (CPU, stored dtype, aliases the mapping). Throws vqa::Error naming the
    // tensor and the folder when absent.
    torch::Tensor get(const std::string& name) const override;
    // Same, and checks the shape: throws vqa::Error "<dir>: tensor 'x' has shape [a,b], but
    // the config implies [c,d]" when it differs.
    torch::Tensor get(const std::string& name, c10::IntArrayRef expected_shape) const;
    std::vector<std::string> names() const override; // sorted
    void release(const std::string& name) const override;
    // SafetensorsFile::populate over every file: for weights used in place from the mapping.
    std::uint64_t populate(const std::function<bool(const std::string&)>& wanted) const;

    // The stored dtype and shape of a tensor without touching its data (nullptr when absent).
    const SafetensorsEntry* entry(const std::string& name) const;

    const std::string& directory() const { return dir_; }
    std::vector<std::string> files() const; // the .safetensors files read
    std::int64_t parameterCount() const;    // elements over all tensors
    std::uint64_t byteSize() const;         // bytes of tensor data over all tensors
    // The floating-point dtype holding most parameters ("BF16", "F32", ...; "" when none).
    std::string predominantDtype() const;

    // Throws vqa::Error "<where>: tensor '<name>' has shape [..], but [..] was expected"
    // when `t` does not have `expected` shape. For any WeightSource.
    static void checkShape(const torch::Tensor& t, c10::IntArrayRef expected,
                           const std::string& name, const std::string& where);

  private:
    Checkpoint() = default;
    std::string dir_;
    std::vector<std::shared_ptr<SafetensorsFile>> files_;
    std::unordered_map<std::string, std::size_t> where_; // tensor -> index in files_
};

} // namespace vqa
