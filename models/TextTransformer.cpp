#include "models/TextTransformer.h"

#include "models/Interrupt.h"
#include "models/base/Error.h"

namespace vqa::models {

TextTransformer::TextTransformer(const TextEncoderConfig& config, WeightLoader& w, const std::string& prefix,
                                 bool causal)
    : config_(config), causal_(causal) {
    const auto& c = config;
    if (c.vocab_size <= 0 || c.max_position_embeddings <= 0 || c.num_hidden_layers < 0 || c.intermediate_size <= 0)
        throw Error("text_config: vocab_size, max_position_embeddings and intermediate_size must be positive");
    if (c.hidden_size <= 0 || c.num_attention_heads <= 0 || c.hidden_size % c.num_attention_heads != 0)
        throw Error("text_config: hidden_size " + std::to_string(c.hidden_size) +
                    " is not a positive multiple of num_attention_heads " + std::to_string(c.num_attention_heads));
    if (!isKnownActivation(c.hidden_act))
        throw Error("text_config: hidden_act '" + c.hidden_act + "' is not implemented");
    // The encoder layer is the ViT's: it reads these fields of a vision config, nothing else.
    layer_config_.hidden_size = c.hidden_size;
    layer_config_.intermediate_size = c.intermediate_size;
    layer_config_.num_hidden_layers = c.num_hidden_layers;
    layer_config_.num_attention_heads = c.num_attention_heads;
    layer_config_.layer_norm_eps = c.layer_norm_eps;
    layer_config_.hidden_act = c.hidden_act;

    const std::int64_t hidden = c.hidden_size;
    token_embedding = w.take(prefix + ".embeddings.token_embedding.weight", {c.vocab_size, hidden});
    position_embedding = w.take(prefix + ".embeddings.position_embedding.weight", {c.max_position_embeddings, hidden});
    for (int i = 0; i < c.num_hidden_layers; ++i)
        layers_.push_back(
            VisionEncoderLayer::load(layer_config_, w, prefix + ".encoder.layers." + std::to_string(i) + "."));
    final_layer_norm_weight = w.take(prefix + ".final_layer_norm.weight", {hidden});
    final_layer_norm_bias = w.take(prefix + ".final_layer_norm.bias", {hidden});
}

torch::Tensor TextTransformer::forward(const torch::Tensor& input_ids) const {
    if (input_ids.dim() != 2 || input_ids.size(1) < 1)
        throw Error("the text tower takes token ids of [N, S] with S >= 1");
    const auto seq = input_ids.size(1);
    if (seq > config_.max_position_embeddings)
        throw Error("the text has " + std::to_string(seq) + " tokens; the text tower reads at most " +
                    std::to_string(config_.max_position_embeddings));
    auto ids = input_ids.to(torch::kInt64);
    if (ids.numel() > 0 && (ids.min().item<std::int64_t>() < 0 || ids.max().item<std::int64_t>() >= config_.vocab_size))
        throw Error("a token id is outside the text tower's vocabulary of " + std::to_string(config_.vocab_size));
    auto h = at::embedding(token_embedding, ids) + position_embedding.narrow(0, 0, seq).unsqueeze(0);
    torch::Tensor mask;  // true = may attend
    if (causal_)
        mask = torch::ones({seq, seq}, torch::dtype(torch::kBool).device(h.device())).tril().view({1, 1, seq, seq});
    for (const auto& layer : layers_) {
        checkInterrupt();
        h = layer(h, layer_config_, mask);
    }
    return layerNorm(h, final_layer_norm_weight, final_layer_norm_bias, config_.layer_norm_eps);
}

} // namespace vqa::models
