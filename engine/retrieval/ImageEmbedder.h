// What an image index needs from a model: images in, unit vectors out. The dual encoders
// (DualEncoder: CLIP, SigLIP) implement it; the index (ImageIndex) and its tests use only this.
// Torch-free: the window and the CLI include it.
#pragma once

#include <string>
#include <vector>

#include "engine/Types.h"

namespace vqa::retrieval {

class ImageEmbedder {
  public:
    virtual ~ImageEmbedder() = default;
    // Names the model and whatever changes its vectors (the folder's weights and settings):
    // vectors made under another id are never compared with these.
    virtual std::string modelId() const = 0;
    // The length of one vector.
    virtual int dim() const = 0;
    // One L2-normalized vector per image, row after row: images.size() * dim() floats, in the
    // order given. Throws vqa::Error (an empty image, an interrupted run).
    virtual std::vector<float> embedImages(const std::vector<RgbImage>& images) const = 0;
};

} // namespace vqa::retrieval
