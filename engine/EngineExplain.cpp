// What the engine computes to explain an answer already given: its tokens scored by teacher
// forcing (the counterfactual checks), the attention kept from it re-reduced (per layer and
// head too), carried through the vision tower (rollout), and gradient-weighted relevancy.
#include "engine/EngineImpl.h"

#include "engine/explain/Relevancy.h"
#include "models/Interrupt.h"

namespace vqa {

namespace {

// The logits that predict each token of `answer_ids` given the request's prompt and the
// answer's tokens before it ([n, vocab], float32 on the CPU): teacher forcing, one pass over
// the prompt and one over the answer. Undefined when `cancel` was set. What scoreAnswer and
// answerLogits share; the caller holds the engine's lock and an InferenceMode. (A template so that it may take the
// engine's private Impl, deduced where the members call it.)
template <class EngineImpl>
torch::Tensor teacherForcedLogits(EngineImpl& impl, const Request& request, const std::vector<std::int32_t>& answer_ids,
                                  const std::atomic<bool>* cancel) {
    auto& net = impl.model->runtime->model();
    // The encodings made only for this pass are forgotten after it: an occlusion sweep makes
    // dozens, which would push the conversation's own image out of the cache.
    std::vector<std::string> made_here;
    for (const auto& key : imageCacheKeys(*impl.model->runtime, request))
        if (!impl.images.count(key))
            made_here.push_back(key);
    struct Forget {
        EngineImpl& impl;
        const std::vector<std::string>& keys;
        ~Forget() {
            for (const auto& key : keys)
                impl.images.erase(key);
        }
    } forget{impl, made_here};
    models::InterruptScope interrupt([cancel] {
        if (cancel && cancel->load())
            throw Cancelled{};
    });
    try {
        Timings timings;
        const Prompt prompt = impl.buildPrompt(request, timings, cancel, {});
        const auto t = static_cast<std::int64_t>(prompt.ids.size());
        const auto n = static_cast<std::int64_t>(answer_ids.size());
        if (t + n > impl.model->runtime->contextLength())
            throw Error("the prompt and the answer are " + std::to_string(t + n) + " tokens, more than the model's context of " +
                        std::to_string(impl.model->runtime->contextLength()));
        impl.enterStage("prefill", "scoring the answer");
        models::KvCache cache = net.newCache(t + n);
        const models::LayerAdditions layer_additions = impl.additions(prompt, 0);
        // The logits after the prompt predict the answer's first token; the answer's tokens but
        // the last, read after it, predict the rest.
        std::vector<torch::Tensor> logits{net.forward(impl.embed(prompt, 0), cache, /*all_logits=*/false, nullptr,
                                                      prompt.ropePositionsFrom(0), &layer_additions)};
        const std::int64_t vocab = logits.front().size(-1);
        for (auto id : answer_ids)
            if (id < 0 || id >= vocab)
                throw Error("answer token id " + std::to_string(id) + " is outside the model's vocabulary of " +
                            std::to_string(vocab));
        if (n > 1) {
            auto before_last = torch::tensor(std::vector<std::int64_t>(answer_ids.begin(), answer_ids.end() - 1), torch::kInt64);
            logits.push_back(net.forward(net.embedTokens(before_last.to(net.device())), cache, /*all_logits=*/true));
        }
        return torch::cat(logits, 0).to(torch::kCPU, torch::kFloat32).contiguous();
    } catch (const Cancelled&) {
        return {};
    }
}

}  // namespace

std::optional<std::vector<float>> Engine::scoreAnswer(const Request& request,
                                                      const std::vector<std::int32_t>& answer_ids,
                                                      const std::atomic<bool>* cancel) {
    std::lock_guard lock(impl_->mutex);
    impl_->requireLocal("scoring an answer");
    if (answer_ids.empty())
        return std::vector<float>{};
    torch::InferenceMode inference;
    const auto logits = teacherForcedLogits(*impl_, request, answer_ids, cancel);
    if (!logits.defined())
        return std::nullopt;
    const auto n = static_cast<std::int64_t>(answer_ids.size());
    auto ids = torch::tensor(std::vector<std::int64_t>(answer_ids.begin(), answer_ids.end()), torch::kInt64);
    auto picked = torch::log_softmax(logits, -1).gather(1, ids.unsqueeze(1)).reshape({-1}).contiguous();
    return std::vector<float>(picked.data_ptr<float>(), picked.data_ptr<float>() + n);
}

std::vector<float> Engine::answerLogits(const Request& request, const std::vector<std::int32_t>& answer_ids,
                                        std::int64_t& vocab) {
    std::lock_guard lock(impl_->mutex);
    impl_->requireLocal("scoring logits");
    if (answer_ids.empty())
        throw Error("no token ids to score");
    torch::InferenceMode inference;
    const auto logits = teacherForcedLogits(*impl_, request, answer_ids, nullptr);
    vocab = logits.size(1);
    return {logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel()};
}

std::vector<HeatmapGrid> Engine::attentionGrids(int first, int last, const ExplainParams& params) {
    std::lock_guard lock(impl_->mutex);
    const auto& kept = impl_->kept;
    const auto mean = kept.meanOver(first, last, [&](const torch::Tensor& t) { return AttentionMapper::reduce(t, params); });
    return mean.defined() ? kept.mapper.split(mean) : std::vector<HeatmapGrid>{};
}

std::vector<HeadMap> Engine::headMaps(int first, int last) {
    std::lock_guard lock(impl_->mutex);
    const auto& kept = impl_->kept;
    torch::InferenceMode inference;
    // [layers, heads, image tokens]
    const auto mean = kept.meanOver(first, last, [](const torch::Tensor& t) { return t.to(torch::kFloat32); });
    if (!mean.defined())
        return {};
    const auto share = mean.sum(-1).contiguous();  // [layers, heads]
    const auto p = mean / share.unsqueeze(-1).clamp_min(1e-30);
    const auto entropy = (-(p * p.clamp_min(1e-30).log()).sum(-1)).contiguous();
    const auto shares = share.accessor<float, 2>();
    const auto entropies = entropy.accessor<float, 2>();
    std::vector<HeadMap> maps;
    for (std::int64_t l = 0; l < mean.size(0); ++l)
        for (std::int64_t h = 0; h < mean.size(1); ++h)
            maps.push_back({static_cast<int>(l), static_cast<int>(h), shares[l][h], entropies[l][h],
                            kept.mapper.split(mean[l][h].contiguous())});
    return maps;
}

std::vector<std::vector<HeatmapGrid>> Engine::rolloutGrids(const Request& request,
                                                           const std::vector<std::pair<int, int>>& ranges,
                                                           const ExplainParams& params) {
    std::lock_guard lock(impl_->mutex);
    impl_->requireLocal("attention rollout");
    if (impl_->kept.per_token.empty())
        throw Error("attention rollout needs the attention of an answer: ask with attention capture on first");
    torch::InferenceMode inference;
    auto& runtime = *impl_->model->runtime;
    auto& net = runtime.model();
    Timings timings;
    if (!request.videos.empty())
        throw Error("attention rollout is drawn over images; this conversation holds a video");
    const Prompt prompt = impl_->buildPrompt(request, timings, nullptr, {});
    // Each image's tiles again, through the tower with its attention rolled out.
    std::vector<PreparedImage> prepared;
    std::vector<torch::Tensor> rollouts;
    for (std::size_t i = 0; i < request.images.size(); ++i) {
        prepared.push_back(runtime.prepareImage(*request.images[i], request.image_options));
        const auto& p = prepared.back();
        auto mask = p.pixel_attention_mask.defined() ? p.pixel_attention_mask.to(net.device()) : torch::Tensor();
        rollouts.push_back(net.visionRollout(p.pixel_values.to(net.device(), net.dtype()), mask));
        if (!rollouts.back().defined())
            throw Error("the " + runtime.family() + " family's vision tower does not expose its attention: attention "
                        "rollout is drawn for SmolVLM (Idefics3) and LLaVA");
    }
    std::vector<std::vector<HeatmapGrid>> out;
    for (auto [first, last] : ranges) {
        const auto values = impl_->kept.meanOver(
            first, last, [&](const torch::Tensor& t) { return AttentionMapper::reduce(t, params); });
        std::vector<HeatmapGrid> grids;
        std::int64_t offset = 0;
        for (std::size_t i = 0; values.defined() && i < prepared.size(); ++i) {
            const std::int64_t n = prompt.images[i]->features.size(0);
            const auto tower = runtime.imageTokensToTower(values.narrow(0, offset, n), prepared[i]);  // [tiles, S]
            const auto carried = at::bmm(tower.unsqueeze(1).to(rollouts[i].device()), rollouts[i]).squeeze(1);
            for (auto& g : runtime.towerToGrids(carried, prepared[i])) {
                g.image = static_cast<int>(i);
                grids.push_back(std::move(g));
            }
            offset += n;
        }
        out.push_back(std::move(grids));
    }
    return out;
}

std::vector<HeatmapGrid> Engine::relevancy(const Request& request, const std::vector<std::int32_t>& answer_ids,
                                           int index) {
    std::lock_guard lock(impl_->mutex);
    impl_->requireLocal("relevancy");
    if (index < 0 || index >= static_cast<int>(answer_ids.size()))
        throw Error("relevancy asked for token " + std::to_string(index) + " of an answer of " +
                    std::to_string(answer_ids.size()) + " tokens");
    Timings timings;
    Prompt prompt;
    {
        torch::InferenceMode inference;  // images are encoded (and cached) without autograd
        prompt = impl_->buildPrompt(request, timings, nullptr, {});
    }
    if (prompt.image_positions.empty())
        throw Error("relevancy needs an image in the conversation");
    // The sequence that predicted the token: the prompt and the answer before it.
    prompt.ids.insert(prompt.ids.end(), answer_ids.begin(), answer_ids.begin() + index);
    auto& net = impl_->model->runtime->model();
    torch::Tensor embeds;
    models::LayerAdditions layer_additions;
    {
        torch::InferenceMode inference;
        embeds = impl_->embed(prompt, 0);
        layer_additions = impl_->additions(prompt, 0);
    }
    auto positions = torch::tensor(prompt.image_positions, torch::kInt64).to(net.device());
    // The answer's tokens continue after the prompt's largest rotary position.
    torch::Tensor rope_positions = prompt.rope_positions;
    if (rope_positions.defined() && index > 0) {
        const std::int64_t next = rope_positions.max().item<std::int64_t>() + 1;
        auto answer = torch::arange(next, next + index, torch::kInt64).unsqueeze(0).expand({rope_positions.size(0), index});
        rope_positions = torch::cat({rope_positions, answer}, 1);
    }
    // Out of inference mode, so autograd may use them (clones of inference tensors).
    for (auto& layer : layer_additions.per_layer)
        layer = layer.clone();
    if (layer_additions.rows.defined())
        layer_additions.rows = layer_additions.rows.clone();
    auto values = relevancyOverPositions(net, embeds.clone(), answer_ids[index], positions, rope_positions,
                                         &layer_additions);
    return impl_->mapperFor(prompt).split(values);
}

}  // namespace vqa
