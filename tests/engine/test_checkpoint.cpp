#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/base/Error.h"
#include "engine/io/Checkpoint.h"
#include "tests/engine/test_safetensors_util.h"

namespace fs = std::filesystem;
using vqa::Checkpoint;
using vqa::test::freshDir;
using vqa::test::writeF32Safetensors;

namespace {

std::string openError(const fs::path& dir) {
    try {
        Checkpoint::open(dir.string());
    } catch (const vqa::Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "opening " << dir << " succeeded";
    return {};
}

void writeText(const fs::path& path, const std::string& text) {
    std::ofstream(path) << text;
}

} // namespace

TEST(Checkpoint, SingleFile) {
    auto dir = freshDir("ck-single");
    writeF32Safetensors(dir / "model.safetensors",
                        {{"a.weight", {2, 2}, {1, 2, 3, 4}}, {"a.bias", {2}, {5, 6}}});
    auto ck = Checkpoint::open(dir.string());
    EXPECT_EQ(ck->names(), (std::vector<std::string>{"a.bias", "a.weight"}));
    EXPECT_TRUE(ck->contains("a.bias"));
    EXPECT_FALSE(ck->contains("b"));
    EXPECT_EQ(ck->parameterCount(), 6);
    EXPECT_EQ(ck->byteSize(), 24u);
    EXPECT_EQ(ck->predominantDtype(), "F32");
    EXPECT_FLOAT_EQ(ck->get("a.bias")[1].item<float>(), 6.f);
    EXPECT_EQ(ck->entry("a.weight")->shape, (std::vector<std::int64_t>{2, 2}));
    // Through the interface the models use.
    const vqa::models::WeightSource& ws = *ck;
    EXPECT_FLOAT_EQ(ws.get("a.weight")[1][0].item<float>(), 3.f);
    fs::remove_all(dir);
}

TEST(Checkpoint, MissingTensorNamesTensorAndFolder) {
    auto dir = freshDir("ck-missing-tensor");
    writeF32Safetensors(dir / "model.safetensors", {{"x", {1}, {1}}});
    auto ck = Checkpoint::open(dir.string());
    try {
        ck->get("model.text_model.norm.weight");
        FAIL() << "get of a missing tensor succeeded";
    } catch (const vqa::Error& e) {
        std::string msg = e.what();
        EXPECT_NE(msg.find("'model.text_model.norm.weight'"), std::string::npos) << msg;
        EXPECT_NE(msg.find(dir.string()), std::string::npos) << msg;
    }
    fs::remove_all(dir);
}

TEST(Checkpoint, ShapeCheck) {
    auto dir = freshDir("ck-shape");
    writeF32Safetensors(dir / "model.safetensors", {{"w", {2, 3}, {1, 2, 3, 4, 5, 6}}});
    auto ck = Checkpoint::open(dir.string());
    EXPECT_EQ(ck->get("w", {2, 3}).size(1), 3);
    try {
        ck->get("w", {3, 2});
        FAIL() << "a wrong shape passed the check";
    } catch (const vqa::Error& e) {
        std::string msg = e.what();
        EXPECT_NE(msg.find("tensor 'w' has shape [2,3], but [3,2] was expected"), std::string::npos)
            << msg;
    }
    EXPECT_THROW(Checkpoint::checkShape(torch::zeros({4}), {4, 1}, "v", "here"), vqa::Error);
    EXPECT_NO_THROW(Checkpoint::checkShape(torch::zeros({4, 1}), {4, 1}, "v", "here"));
    fs::remove_all(dir);
}

TEST(Checkpoint, Sharded) {
    auto dir = freshDir("ck-sharded");
    writeF32Safetensors(dir / "model-00001-of-00002.safetensors",
                        {{"a", {2}, {1, 2}}, {"b", {1}, {3}}});
    writeF32Safetensors(dir / "model-00002-of-00002.safetensors", {{"c", {3}, {4, 5, 6}}});
    writeText(dir / "model.safetensors.index.json",
              R"({"metadata":{"total_size":24},"weight_map":{
                   "a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors",
                   "c":"model-00002-of-00002.safetensors"}})");
    auto ck = Checkpoint::open(dir.string());
    EXPECT_EQ(ck->names(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(ck->files().size(), 2u);
    EXPECT_EQ(ck->parameterCount(), 6);
    EXPECT_FLOAT_EQ(ck->get("c")[2].item<float>(), 6.f);
    EXPECT_FLOAT_EQ(ck->get("a")[0].item<float>(), 1.f);
    fs::remove_all(dir);
}

TEST(CheckpointErrors, IndexNamesMissingShard) {
    auto dir = freshDir("ck-missing-shard");
    writeF32Safetensors(dir / "model-00001-of-00002.safetensors", {{"a", {1}, {1}}});
    writeText(dir / "model.safetensors.index.json",
              R"({"weight_map":{"a":"model-00001-of-00002.safetensors",
                                "lm_head.weight":"model-00002-of-00002.safetensors"}})");
    auto msg = openError(dir);
    EXPECT_NE(msg.find("model-00002-of-00002.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("lm_head.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("download"), std::string::npos) << msg;
    fs::remove_all(dir);
}

TEST(CheckpointErrors, IndexNamesTensorTheShardLacks) {
    auto dir = freshDir("ck-index-lies");
    writeF32Safetensors(dir / "s1.safetensors", {{"a", {1}, {1}}});
    writeText(dir / "model.safetensors.index.json",
              R"({"weight_map":{"a":"s1.safetensors","ghost":"s1.safetensors"}})");
    auto msg = openError(dir);
    EXPECT_NE(msg.find("'ghost'"), std::string::npos) << msg;
    fs::remove_all(dir);
}

TEST(CheckpointErrors, BadIndex) {
    auto dir = freshDir("ck-bad-index");
    writeText(dir / "model.safetensors.index.json", "{\"weight_map\": {");
    EXPECT_NE(openError(dir).find("not valid JSON"), std::string::npos);
    writeText(dir / "model.safetensors.index.json", R"({"metadata":{}})");
    EXPECT_NE(openError(dir).find("weight_map"), std::string::npos);
    writeText(dir / "model.safetensors.index.json", R"({"weight_map":{"a":"../x.safetensors"}})");
    EXPECT_NE(openError(dir).find("not a plain file name"), std::string::npos);
    fs::remove_all(dir);
}

TEST(CheckpointErrors, TensorInTwoShards) {
    auto dir = freshDir("ck-dup");
    writeF32Safetensors(dir / "s1.safetensors", {{"a", {1}, {1}}});
    writeF32Safetensors(dir / "s2.safetensors", {{"a", {1}, {2}}});
    writeText(dir / "model.safetensors.index.json",
              R"({"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}})");
    EXPECT_NE(openError(dir).find("stored twice"), std::string::npos);
    fs::remove_all(dir);
}

TEST(Checkpoint, OneOtherSafetensorsFile) {
    auto dir = freshDir("ck-other");
    writeF32Safetensors(dir / "weights.safetensors", {{"z", {1}, {9}}});
    auto ck = Checkpoint::open(dir.string());
    EXPECT_FLOAT_EQ(ck->get("z").item<float>(), 9.f);
    writeF32Safetensors(dir / "adapter.safetensors", {{"y", {1}, {8}}});
    auto msg = openError(dir);
    EXPECT_NE(msg.find("several .safetensors files (adapter.safetensors, weights.safetensors)"),
              std::string::npos)
        << msg;
    fs::remove_all(dir);
}

TEST(CheckpointErrors, NoWeightsOrNoFolder) {
    auto dir = freshDir("ck-none");
    EXPECT_NE(openError(dir).find("has no weights"), std::string::npos);
    EXPECT_NE(openError(dir / "nope").find("does not exist"), std::string::npos);
    fs::remove_all(dir);
}

TEST(CheckpointErrors, DamagedShardNamesTheFile) {
    auto dir = freshDir("ck-damaged");
    std::ofstream(dir / "model.safetensors") << "<html>404</html>";
    auto msg = openError(dir);
    EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
    fs::remove_all(dir);
}
