#include "engine/io/Checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "models/base/Error.h"

namespace fs = std::filesystem;

namespace vqa {

namespace {

std::string shapeText(c10::IntArrayRef shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        s += (i ? "," : "");
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

} // namespace

std::unique_ptr<Checkpoint> Checkpoint::open(const std::string& model_dir) {
    const fs::path dir(model_dir);
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw Error(model_dir + ": the model folder does not exist or is not a folder");

    std::unique_ptr<Checkpoint> ckpt(new Checkpoint());
    ckpt->dir_ = model_dir;
    auto add_file = [&](const fs::path& p) {
        ckpt->files_.push_back(SafetensorsFile::open(p.string()));
        const std::size_t idx = ckpt->files_.size() - 1;
        for (const auto& e : ckpt->files_.back()->entries()) {
            auto [it, fresh] = ckpt->where_.emplace(e.name, idx);
            if (!fresh)
                throw Error(model_dir + ": tensor '" + e.name + "' is stored twice, in " +
                            ckpt->files_[it->second]->path() + " and in " + p.string());
        }
    };

    const fs::path single = dir / "model.safetensors";
    const fs::path index = dir / "model.safetensors.index.json";
    if (fs::is_regular_file(single, ec)) {
        add_file(single);
    } else if (fs::is_regular_file(index, ec)) {
        nlohmann::json j;
        std::ifstream in(index);
        if (!in)
            throw Error(index.string() + ": cannot be read");
        try {
            j = nlohmann::json::parse(in);
        } catch (const nlohmann::json::exception& e) {
            throw Error(index.string() + ": is not valid JSON (" + e.what() + ")");
        }
        if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
            throw Error(index.string() + ": has no \"weight_map\" object naming each tensor's "
                                         "shard");
        // Shards in the order they are first named, so the files list is stable.
        std::vector<std::string> shards;
        std::multimap<std::string, std::string> named; // shard -> tensor
        for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
            if (!it.value().is_string())
                throw Error(index.string() + ": weight_map entry for '" + it.key() +
                            "' is not a file name");
            auto shard = it.value().get<std::string>();
            if (shard.empty() || fs::path(shard).filename() != fs::path(shard))
                throw Error(index.string() + ": weight_map names shard '" + shard +
                            "', which is not a plain file name in the model folder");
            if (std::find(shards.begin(), shards.end(), shard) == shards.end())
                shards.push_back(shard);
            named.emplace(shard, it.key());
        }
        if (shards.empty())
            throw Error(index.string() + ": weight_map is empty");
        for (const auto& shard : shards)
            if (!fs::is_regular_file(dir / shard, ec))
                throw Error(index.string() + ": names shard '" + shard + "' (holding e.g. '" +
                            named.find(shard)->second + "'), which is not in " + model_dir +
                            "; the download is incomplete — download the missing file");
        for (const auto& shard : shards)
            add_file(dir / shard);
        for (const auto& [shard, tensor] : named) {
            auto it = ckpt->where_.find(tensor);
            if (it == ckpt->where_.end())
                throw Error(index.string() + ": says tensor '" + tensor + "' is in " + shard +
                            ", but no shard holds it; the shard is damaged or from another "
                            "version of the model");
        }
    } else {
        std::vector<fs::path> found;
        for (const auto& f : fs::directory_iterator(dir, ec))
            if (f.is_regular_file() && f.path().extension() == ".safetensors")
                found.push_back(f.path());
        std::sort(found.begin(), found.end());
        if (found.empty())
            throw Error(model_dir + ": has no weights: neither model.safetensors, nor "
                                    "model.safetensors.index.json, nor any other .safetensors "
                                    "file");
        if (found.size() > 1) {
            std::string list;
            for (const auto& f : found)
                list += (list.empty() ? "" : ", ") + f.filename().string();
            throw Error(model_dir + ": has several .safetensors files (" + list +
                        ") but no model.safetensors.index.json saying which hold the model");
        }
        add_file(found.front());
    }
    return ckpt;
}

bool Checkpoint::contains(const std::string& name) const {
    return where_.count(name) != 0;
}

const SafetensorsEntry* Checkpoint::entry(const std::string& name) const {
    auto it = where_.find(name);
    return it == where_.end() ? nullptr : files_[it->second]->find(name);
}

torch::Tensor Checkpoint::get(const std::string& name) const {
    auto it = where_.find(name);
    if (it == where_.end())
        throw Error(dir_ + ": the checkpoint has no tensor named '" + name +
                    "'; it does not match this model family or config.json");
    return files_[it->second]->tensor(name);
}

std::uint64_t Checkpoint::populate(const std::function<bool(const std::string&)>& wanted) const {
    std::uint64_t bytes = 0;
    for (const auto& f : files_)
        bytes += f->populate(wanted);
    return bytes;
}

void Checkpoint::release(const std::string& name) const {
    if (auto it = where_.find(name); it != where_.end())
        files_[it->second]->release(name);
}

torch::Tensor Checkpoint::get(const std::string& name, c10::IntArrayRef expected_shape) const {
    auto t = get(name);
    checkShape(t, expected_shape, name, dir_);
    return t;
}

void Checkpoint::checkShape(const torch::Tensor& t, c10::IntArrayRef expected,
                            const std::string& name, const std::string& where) {
    if (t.sizes() != expected)
        throw Error(where + ": tensor '" + name + "' has shape " + shapeText(t.sizes()) + ", but " +
                    shapeText(expected) +
                    " was expected from config.json; the weights and config.json do not match");
}

std::vector<std::string> Checkpoint::names() const {
    std::vector<std::string> out;
    out.reserve(where_.size());
    for (const auto& [name, idx] : where_)
        out.push_back(name);
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> Checkpoint::files() const {
    std::vector<std::string> out;
    for (const auto& f : files_)
        out.push_back(f->path());
    return out;
}

std::int64_t Checkpoint::parameterCount() const {
    std::int64_t n = 0;
    for (const auto& f : files_)
        n += f->parameterCount();
    return n;
}

std::uint64_t Checkpoint::byteSize() const {
    std::uint64_t n = 0;
    for (const auto& f : files_)
        n += f->dataBytes();
    return n;
}

std::string Checkpoint::predominantDtype() const {
    std::map<std::string, std::int64_t> count;
    for (const auto& f : files_)
        for (const auto& e : f->entries())
            if (torch::isFloatingType(e.scalar_type))
                count[e.dtype] += e.numel();
    std::string best;
    std::int64_t most = -1;
    for (const auto& [dtype, n] : count)
        if (n > most) {
            best = dtype;
            most = n;
        }
    return best;
}

} // namespace vqa
