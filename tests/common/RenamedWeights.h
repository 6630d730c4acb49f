// A checkpoint's tensors under other names (prefix rewrites), for the tests that load one
// network from every tensor-name layout in use.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "models/WeightSource.h"
#include "models/base/Error.h"

namespace vqa::test {

class RenamedWeights : public vqa::models::WeightSource {
public:
    // `rules`: (from, to) prefixes; a name of `inner` that starts with `from` is seen as `to` + the rest.
    RenamedWeights(const vqa::models::WeightSource& inner, std::vector<std::pair<std::string, std::string>> rules)
        : inner_(inner), rules_(std::move(rules)) {
        for (const auto& name : inner_.names())
            to_inner_[rename(name)] = name;
    }
    bool contains(const std::string& name) const override { return to_inner_.count(name) > 0; }
    torch::Tensor get(const std::string& name) const override {
        auto it = to_inner_.find(name);
        if (it == to_inner_.end())
            throw vqa::Error("no tensor '" + name + "'");
        return inner_.get(it->second);
    }
    std::vector<std::string> names() const override {
        std::vector<std::string> out;
        for (const auto& [name, inner] : to_inner_)
            out.push_back(name);
        return out;
    }

private:
    std::string rename(const std::string& name) const {
        for (const auto& [from, to] : rules_)
            if (name.rfind(from, 0) == 0)
                return to + name.substr(from.size());
        return name;
    }
    const vqa::models::WeightSource& inner_;
    std::vector<std::pair<std::string, std::string>> rules_;
    std::map<std::string, std::string> to_inner_;
};

}  // namespace vqa::test
