// A Llama decoder of a few random weights, held in memory: for tests of the shared decoder
// (rotary positions, quantized weights) that need no checkpoint.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/Config.h"
#include "models/StepGraph.h"
#include "models/WeightSource.h"
#include "models/base/Error.h"

namespace vqa::test {

class MapWeights : public models::WeightSource {
  public:
    std::map<std::string, torch::Tensor> tensors;
    bool contains(const std::string& name) const override { return tensors.count(name) > 0; }
    torch::Tensor get(const std::string& name) const override {
        auto it = tensors.find(name);
        if (it == tensors.end())
            throw Error("no tensor " + name);
        return it->second;
    }
    std::vector<std::string> names() const override {
        std::vector<std::string> out;
        for (const auto& [name, tensor] : tensors)
            out.push_back(name);
        return out;
    }
};

// Weights for a decoder under prefix "m" with lm_head "lm_head.weight": normal with standard
// deviation `scale`, norms of ones, q/k/v biases and q/k norms when the config has them.
inline MapWeights randomDecoderWeights(const models::LlamaConfig& c, std::uint64_t seed = 7,
                                       double scale = 0.3) {
    torch::manual_seed(seed);
    MapWeights w;
    const std::int64_t h = c.hidden_size, d = c.head_dim, q = c.num_attention_heads * d,
                       kv = c.num_key_value_heads * d, inter = c.intermediate_size;
    auto add = [&](const std::string& name, std::vector<std::int64_t> shape) {
        w.tensors[name] = torch::randn(shape) * scale;
    };
    add("m.embed_tokens.weight", {c.vocab_size, h});
    for (int i = 0; i < c.num_hidden_layers; ++i) {
        const std::string l = "m.layers." + std::to_string(i) + ".";
        w.tensors[l + "input_layernorm.weight"] = torch::ones({h});
        w.tensors[l + "post_attention_layernorm.weight"] = torch::ones({h});
        add(l + "self_attn.q_proj.weight", {q, h});
        add(l + "self_attn.k_proj.weight", {kv, h});
        add(l + "self_attn.v_proj.weight", {kv, h});
        if (c.qkv_bias || c.attention_bias) {
            add(l + "self_attn.q_proj.bias", {q});
            add(l + "self_attn.k_proj.bias", {kv});
            add(l + "self_attn.v_proj.bias", {kv});
        }
        if (c.qk_norm) { // not ones, so that a missed norm shows
            w.tensors[l + "self_attn.q_norm.weight"] = 1 + torch::randn({d}) * 0.2;
            w.tensors[l + "self_attn.k_norm.weight"] = 1 + torch::randn({d}) * 0.2;
        }
        add(l + "self_attn.o_proj.weight", {h, q});
        add(l + "mlp.gate_proj.weight", {inter, h});
        add(l + "mlp.up_proj.weight", {inter, h});
        add(l + "mlp.down_proj.weight", {h, inter});
    }
    w.tensors["m.norm.weight"] = torch::ones({h});
    add("lm_head.weight", {c.vocab_size, h});
    return w;
}

// A step recorder for the CPU: records by running the step, replays by running it again, so
// the recorded-step path (LlamaGraphStep.cpp, CUDA graphs on a GPU) runs in tests here.
struct RerunStepGraph : models::StepGraph {
    std::function<void()> body;
    void record(const std::function<void()>& b) override {
        b();
        body = b;
    }
    void replay() override { body(); }
};

}  // namespace vqa::test
