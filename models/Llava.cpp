#include "models/Llava.h"

#include "models/base/Error.h"

namespace vqa::models {

LlavaTensorNames LlavaTensorNames::detect(const WeightSource& w) {
    LlavaTensorNames n;
    for (const char* v : {"vision_tower.vision_model", "vision_tower", "model.vision_tower.vision_model",
                          "model.vision_tower"})
        if (w.contains(std::string(v) + ".embeddings.class_embedding")) {
            n.vision = v;
            break;
        }
    for (const char* p : {"multi_modal_projector", "model.multi_modal_projector"})
        if (w.contains(std::string(p) + ".linear_1.weight")) {
            n.projector = p;
            break;
        }
    if (w.contains("language_model.model.embed_tokens.weight")) {
        n.text = "language_model.model";
        n.lm_head = "language_model.lm_head.weight";
    } else if (w.contains("model.language_model.embed_tokens.weight")) {
        n.text = "model.language_model";
        n.lm_head = "lm_head.weight";
    }
    if (n.vision.empty() || n.projector.empty() || n.text.empty())
        throw Error(std::string("the weights are not a LLaVA checkpoint's: no ") +
                    (n.vision.empty() ? "vision_tower[.vision_model].embeddings.class_embedding"
                     : n.projector.empty() ? "multi_modal_projector.linear_1.weight"
                                           : "language_model.model.embed_tokens.weight") +
                    " (nor the same under 'model.')");
    return n;
}

LlavaModel::LlavaModel(const LlavaConfig& config, const WeightSource& weights, torch::Device device,
                       torch::ScalarType dtype, const Quantization& quantization, torch::ScalarType vision_dtype)
    : LlamaBackedModel(device, dtype, vision_dtype), config_(config) {
    const auto names = LlavaTensorNames::detect(weights);
    torch::NoGradGuard no_grad;
    WeightLoader w(weights, device, dtype), wv(weights, device, vision_dtype_);
    vision_ = std::make_unique<ClipVisionModel>(config.vision, wv, names.vision, config.feature_layers);
    const std::int64_t in = std::int64_t(config.vision.hidden_size) * std::int64_t(config.feature_layers.size());
    const std::int64_t hidden = config.text.hidden_size;
    linear_1_ = wv.linear(names.projector + ".linear_1", in, hidden, config.projector_bias);
    linear_2_ = wv.linear(names.projector + ".linear_2", hidden, hidden, config.projector_bias);
    if (!isKnownActivation(config.projector_hidden_act))
        throw Error("config.json: projector_hidden_act '" + config.projector_hidden_act + "' is not implemented");
    text_ = std::make_unique<LlamaDecoder>(config.text, w, names.text, names.lm_head, quantization);
    parameters_ = w.parameterCount() + wv.parameterCount();
}

std::int64_t LlavaModel::tokensPerImage() const {
    const std::int64_t side = vision_->patchesPerSide();
    return side * side + (config_.drop_cls ? 0 : 1);
}

torch::Tensor LlavaModel::encodeImages(const torch::Tensor& pixel_values, const torch::Tensor&) {
    auto states = vision_->forward(pixel_values.to(device_, vision_dtype_));
    for (auto& s : states)
        if (config_.drop_cls)
            s = s.narrow(1, 1, s.size(1) - 1);
    auto features = states.size() == 1 ? states[0] : torch::cat(states, -1);
    return linear_2_(activation(config_.projector_hidden_act, linear_1_(features))).to(dtype_);
}

torch::Tensor LlavaModel::visionRollout(const torch::Tensor& pixel_values, const torch::Tensor&) {
    AttentionRollout rollout;
    vision_->forward(pixel_values.to(device_, vision_dtype_), &rollout);
    return rollout.result();
}

std::unique_ptr<VisionLanguageModel> makeLlava(const LlavaConfig& config, const WeightSource& weights,
                                               torch::Device device, torch::ScalarType dtype, const Quantization& quantization,
                                               torch::ScalarType vision_dtype) {
    return std::make_unique<LlavaModel>(config, weights, device, dtype, quantization, vision_dtype);
}

}  // namespace vqa::models
