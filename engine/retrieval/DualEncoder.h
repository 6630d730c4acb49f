// A dual encoder: an image tower and a text tower trained so that an image and a text that
// describes it map to nearby vectors. Two families, loaded from their Hugging Face folders:
//   - CLIP (model_type "clip": openai/clip-vit-base-patch32, -large-patch14): text transformer
//     with a causal mask pooled at the end-of-text token, projections, logits =
//     exp(logit_scale) * cosine; zero-shot labels by softmax over the labels.
//   - SigLIP (model_type "siglip": google/siglip-base-patch16-224): text tower pooled at its
//     last position (texts padded to 64 tokens as the model was trained), attention-pooling
//     head on the image side, logits = exp(logit_scale) * cosine + logit_bias; each label
//     scored on its own by a sigmoid. SigLIP 2's fixed-resolution checkpoints
//     (google/siglip2-base-patch16-224 and the like) are the same network with Gemma's
//     tokenizer (tokenizer.json, byte fallback, <eos> after the text): the family "siglip",
//     their texts lower-cased first as the model was trained.
// Runs on the CPU in float32 (the parity mode). Torch-free header: the window and the CLI
// include it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/retrieval/ImageEmbedder.h"

namespace vqa::retrieval {

class DualEncoder final : public ImageEmbedder {
  public:
    // Reads config.json, the processor settings, the tokenizer and the weights of `folder`.
    // Throws vqa::Error naming the file and the problem (not a dual encoder: says which
    // model_type it found and which are supported). `threads` > 0 sets the CPU threads the
    // process's tensor work uses (LoadOptions::threads does the same for the question engine).
    static std::unique_ptr<DualEncoder> load(const std::string& folder, int threads = 0);
    ~DualEncoder() override;

    std::string modelId() const override;
    int dim() const override;
    std::vector<float> embedImages(const std::vector<RgbImage>& images) const override;

    // One L2-normalized vector per text, row after row. An empty list gives an empty result.
    std::vector<float> embedTexts(const std::vector<std::string>& texts) const;

    // "clip" or "siglip".
    const std::string& family() const;
    const std::string& folder() const;
    // exp(logit_scale), and logit_bias (0 for CLIP): logit = scale * cosine + bias.
    float logitScale() const;
    float logitBias() const;
    // The token ids the text tower reads for `text` (special tokens, truncation and padding
    // as the reference processor applies them; SigLIP 2: of the lower-cased text).
    std::vector<std::int32_t> textIds(const std::string& text) const;

    // Zero-shot tags: how well each label describes the image whose vector is given. CLIP:
    // softmax of the logits over the labels (they sum to 1); SigLIP: sigmoid of each logit
    // (independent, in 0..1).
    std::vector<float> labelScores(const std::vector<float>& image_vector,
                                   const std::vector<std::string>& labels) const;

    struct Impl;

  private:
    explicit DualEncoder(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace vqa::retrieval
