// The CPU kernel choice (engine/CpuTuning.h): measured once and recorded for this CPU and
// LibTorch, read back after, overridden by the environment, and a damaged record measured past.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engine/CpuTuning.h"
#include "models/CpuGemmHalf.h"
#include "models/CpuGemv.h"

namespace fs = std::filesystem;

namespace {

class CpuTuningTest : public ::testing::Test {
protected:
    void SetUp() override {
        chosen_ = vqa::models::bf16Kernels();
        dir_ = fs::temp_directory_path() / ("vqa-cpu-tuning-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        file_ = dir_ / "cpu-tuning.json";
        ::unsetenv("VQA_BF16_KERNELS");
    }
    void TearDown() override {
        ::unsetenv("VQA_BF16_KERNELS");
        vqa::models::setBf16Kernels(chosen_);
        fs::remove_all(dir_);
    }
    vqa::models::Bf16Kernels chosen_{};
    fs::path dir_, file_;
};

TEST_F(CpuTuningTest, MeasuredOnceThenRecorded) {
    const auto first = vqa::tuneCpuKernels(file_);
    EXPECT_EQ(first.source, "measured");
    EXPECT_GT(first.native_ms, 0.0);
    EXPECT_GT(first.widened_ms, 0.0);
    // The float16 GEMM is measured where the CPU has it, and only there.
    EXPECT_EQ(first.half_ms > 0.0, vqa::models::cpuGemmHalfSupported());
    vqa::models::Bf16KernelTimes times;
    times.native_ms = first.native_ms, times.widened_ms = first.widened_ms, times.half_ms = first.half_ms;
    EXPECT_EQ(first.bf16_kernels, vqa::models::bf16KernelsName(times.fastest()));
    EXPECT_EQ(vqa::models::bf16KernelsName(vqa::models::bf16Kernels()), first.bf16_kernels);
    EXPECT_EQ(vqa::models::cpuWidensBf16(), first.bf16_kernels != "native");
    ASSERT_TRUE(fs::exists(file_));
    for (const auto& entry : fs::directory_iterator(dir_))  // no temporary file left behind
        EXPECT_EQ(entry.path(), file_);

    const auto second = vqa::tuneCpuKernels(file_);
    EXPECT_EQ(second.source, "recorded");
    EXPECT_EQ(second.bf16_kernels, first.bf16_kernels);
    EXPECT_EQ(second.cpu, first.cpu);
    EXPECT_EQ(second.half_ms, first.half_ms);

    // A record says which way; the engine follows it (here the other way round, by hand).
    auto record = nlohmann::json::parse(std::ifstream(file_));
    const std::string other = first.bf16_kernels == "native" ? "widened" : "native";
    ASSERT_EQ(record.size(), 1u);
    for (auto& [key, value] : record.items()) {
        EXPECT_NE(key.find("half"), std::string::npos) << key;  // the choices measured are in the key
        value["bf16_kernels"] = other;
    }
    std::ofstream(file_) << record.dump();
    EXPECT_EQ(vqa::tuneCpuKernels(file_).bf16_kernels, other);
    EXPECT_EQ(vqa::models::cpuWidensBf16(), other == "widened");
}

TEST_F(CpuTuningTest, TheEnvironmentOverridesAndDamageIsMeasuredPast) {
    ::setenv("VQA_BF16_KERNELS", "widened", 1);
    auto forced = vqa::tuneCpuKernels(file_);
    EXPECT_EQ(forced.source, "environment");
    EXPECT_TRUE(vqa::models::cpuWidensBf16());
    EXPECT_FALSE(fs::exists(file_));
    ::setenv("VQA_BF16_KERNELS", "native", 1);
    EXPECT_EQ(vqa::tuneCpuKernels(file_).bf16_kernels, "native");
    EXPECT_FALSE(vqa::models::cpuWidensBf16());
    // "half" where the CPU has no AVX512-FP16 is the widened path it falls back to.
    ::setenv("VQA_BF16_KERNELS", "half", 1);
    EXPECT_EQ(vqa::tuneCpuKernels(file_).bf16_kernels, vqa::models::cpuGemmHalfSupported() ? "half" : "widened");
    EXPECT_TRUE(vqa::models::cpuWidensBf16());
    ::unsetenv("VQA_BF16_KERNELS");

    fs::create_directories(dir_);
    std::ofstream(file_) << "{ not json";
    const auto repaired = vqa::tuneCpuKernels(file_);
    EXPECT_EQ(repaired.source, "measured");
    EXPECT_NO_THROW(nlohmann::json::parse(std::ifstream(file_)));
}

}  // namespace
