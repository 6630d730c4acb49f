// How images go into a prompt: the prompt's token embeddings with each image's features
// written over the rows of its image tokens. The engine embeds every prompt through this, and
// the parity tests check the networks through it too.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "models/VisionLanguageModel.h"

namespace vqa {

// Where the image tokens of a prompt are, ascending.
std::vector<std::int64_t> imageTokenPositions(const std::vector<std::int64_t>& ids, std::int64_t image_token_id);

// The embeddings [T - from, hidden] of positions [from, T) of the prompt `ids`, with
// `image_features` ([..., hidden]: one row per entry of `image_positions`, in order, as
// encodeImages gives them; undefined when there are none) written over the rows at
// `image_positions` (ascending positions into `ids`). With `from` > 0 only what a cached prefix
// lacks is embedded, and the features of the image positions before `from` are skipped. Out of
// place (fine under autograd). Throws vqa::Error when the positions and the feature rows differ
// in number.
torch::Tensor embedPrompt(models::VisionLanguageModel& model, const std::vector<std::int64_t>& ids,
                          const std::vector<std::int64_t>& image_positions, const torch::Tensor& image_features,
                          std::int64_t from = 0);

// What a family with per-layer image features (DeepStack) adds after the decoder's first
// layers for positions [from, T) of a prompt: `layers` holds, per decoder layer, the rows of
// every image token in order ([image tokens, hidden], like embedPrompt's features); rows before
// `from` are skipped, the rest indexed from `from`. Empty when there are no layers or no image
// tokens in [from, T).
models::LayerAdditions promptAdditions(const std::vector<std::int64_t>& image_positions,
                                       const std::vector<torch::Tensor>& layers, std::int64_t from = 0);

// The same for a prompt `ids` ([T] int64) whose every image token (model.imageTokenId())
// stands for a feature row, as a processor writes it.
torch::Tensor embedPrompt(models::VisionLanguageModel& model, const torch::Tensor& ids,
                          const torch::Tensor& image_features, std::int64_t from = 0);

}  // namespace vqa
