#include "engine/explain/Relevancy.h"

#include "engine/Error.h"

namespace vqa {

torch::Tensor relevancyOverPositions(models::VisionLanguageModel& net, const torch::Tensor& embeds,
                                     std::int64_t target, const torch::Tensor& positions) {
    if (c10::InferenceMode::is_enabled())
        throw Error("relevancy needs autograd, but was asked for inside inference mode");
    torch::AutoGradMode autograd(true);
    // The weights need no gradient; making the input require one puts every attention row
    // in the graph.
    auto x = embeds.detach().requires_grad_(true);
    models::KvCache cache = net.newCache(x.size(0));
    models::AttentionCapture capture;
    capture.positions = positions;
    torch::Tensor logits = net.forward(x, cache, /*all_logits=*/false, &capture);
    if (capture.full_rows.empty())
        throw Error("this model does not report attention rows for relevancy");
    torch::Tensor score = logits.reshape({-1}).select(0, target).to(torch::kFloat32);
    std::vector<torch::Tensor> rows;
    for (const auto& r : capture.full_rows)
        rows.push_back(r);
    auto grads = torch::autograd::grad({score}, rows, /*grad_outputs=*/{}, /*retain_graph=*/false,
                                       /*create_graph=*/false, /*allow_unused=*/true);
    torch::Tensor relevancy;
    for (std::size_t l = 0; l < rows.size(); ++l) {
        if (!grads[l].defined())
            continue;
        auto layer = (grads[l] * rows[l].detach()).clamp_min(0).mean(0);  // [keys]
        relevancy = relevancy.defined() ? relevancy + layer : layer;
    }
    if (!relevancy.defined())
        throw Error("the token's logit does not depend on the attention; no relevancy to show");
    return relevancy.index_select(0, positions.to(relevancy.device())).detach().to(torch::kCPU, torch::kFloat32);
}

}  // namespace vqa
