#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "engine/Engine.h"
#include "models/base/Error.h"

namespace fs = std::filesystem;

TEST(EngineLoad, MissingFolderSaysSo) {
    vqa::Engine engine;
    try {
        engine.load("/nonexistent/vqa/model");
        FAIL() << "load of a missing folder succeeded";
    } catch (const vqa::Error& e) {
        EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(engine.hasModel());
}

TEST(EngineLoad, FolderWithoutConfigSaysWhichFile) {
    auto dir = fs::temp_directory_path() / "vqa-empty-model";
    fs::create_directories(dir);
    vqa::Engine engine;
    try {
        engine.load(dir.string());
        FAIL() << "load of a folder without config.json succeeded";
    } catch (const vqa::Error& e) {
        EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
    }
    fs::remove_all(dir);
}

TEST(EngineGenerate, WithoutModelIsAnErrorNotACrash) {
    vqa::Engine engine;
    auto result = engine.generate(vqa::Request{});
    EXPECT_EQ(result.stop, vqa::StopReason::Error);
    EXPECT_NE(result.error.find("no model"), std::string::npos);
}
