#include "engine/explain/Relevancy.h"

#include "models/base/Error.h"

namespace vqa {

AttentionGradients attentionGradients(models::VisionLanguageModel& net, const torch::Tensor& embeds,
                                      std::int64_t target, const torch::Tensor& rope_positions,
                                      const models::LayerAdditions* additions) {
    if (c10::InferenceMode::is_enabled())
        throw Error("relevancy needs autograd, but was asked for inside inference mode");
    torch::AutoGradMode autograd(true);
    // The weights need no gradient; making the input require one puts every attention row
    // in the graph.
    auto x = embeds.detach().requires_grad_(true);
    models::KvCache cache = net.newCache(x.size(0));
    models::AttentionCapture capture;
    capture.positions = torch::empty({0}, torch::kInt64);
    torch::Tensor logits = net.forward(x, cache, /*all_logits=*/false, &capture, rope_positions, additions);
    if (capture.full_rows.empty())
        throw Error("this model does not report attention rows for relevancy");
    torch::Tensor score = logits.reshape({-1}).select(0, target).to(torch::kFloat32);
    AttentionGradients out;
    out.rows = capture.full_rows;
    out.grads = torch::autograd::grad({score}, out.rows, /*grad_outputs=*/{}, /*retain_graph=*/false,
                                      /*create_graph=*/false, /*allow_unused=*/true);
    for (auto& r : out.rows)
        r = r.detach();
    return out;
}

torch::Tensor combineRelevancy(const AttentionGradients& g, const torch::Tensor& positions) {
    torch::Tensor relevancy;
    for (std::size_t l = 0; l < g.rows.size() && l < g.grads.size(); ++l) {
        if (!g.grads[l].defined())
            continue;
        auto layer = (g.grads[l] * g.rows[l]).clamp_min(0).mean(0); // [keys]
        relevancy = relevancy.defined() ? relevancy + layer : layer;
    }
    if (!relevancy.defined())
        throw Error("the token's logit does not depend on the attention; no relevancy to show");
    return relevancy.index_select(0, positions.to(relevancy.device(), torch::kInt64))
        .to(torch::kCPU, torch::kFloat32);
}

torch::Tensor relevancyOverPositions(models::VisionLanguageModel& net, const torch::Tensor& embeds,
                                     std::int64_t target, const torch::Tensor& positions,
                                     const torch::Tensor& rope_positions,
                                     const models::LayerAdditions* additions) {
    return combineRelevancy(attentionGradients(net, embeds, target, rope_positions, additions), positions);
}

}  // namespace vqa
