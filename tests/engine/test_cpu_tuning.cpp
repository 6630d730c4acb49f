// The CPU kernel choices (engine/CpuTuning.h), the bfloat16 products', the attention's and the
// float32 rows': measured once
// and recorded for this CPU and LibTorch, read back after, overridden by the environment, and a
// damaged record measured past.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include "engine/CpuTuning.h"
#include "models/CpuAttention.h"
#include "models/CpuGemmF32.h"
#include "models/CpuGemmHalf.h"
#include "models/CpuGemv.h"

namespace fs = std::filesystem;

namespace {

class CpuTuningTest : public ::testing::Test {
protected:
    void SetUp() override {
        chosen_ = vqa::models::bf16Kernels();
        attention_ = vqa::models::bf16Attention();
        rows_ = vqa::models::f32Rows();
        dir_ = fs::temp_directory_path() / ("vqa-cpu-tuning-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        file_ = dir_ / "cpu-tuning.json";
        ::unsetenv("VQA_BF16_KERNELS");
        ::unsetenv("VQA_BF16_ATTENTION");
        ::unsetenv("VQA_F32_ROWS");
    }
    void TearDown() override {
        ::unsetenv("VQA_BF16_KERNELS");
        ::unsetenv("VQA_BF16_ATTENTION");
        ::unsetenv("VQA_F32_ROWS");
        vqa::models::setBf16Kernels(chosen_);
        vqa::models::setBf16Attention(attention_);
        vqa::models::setF32Rows(rows_);
        fs::remove_all(dir_);
    }
    vqa::models::Bf16Kernels chosen_{};
    vqa::models::Bf16Attention attention_{};
    vqa::models::F32Rows rows_{};
    fs::path dir_, file_;
};

// The machine as these tests want it, whatever else runs beside them.
const auto kQuiet = [] { return false; };
const auto kBusy = [] { return true; };

TEST_F(CpuTuningTest, MeasuredOnceThenRecorded) {
    const auto first = vqa::tuneCpuKernels(file_, kQuiet);
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
    // The attention too: ours measured where the CPU can run it.
    EXPECT_GT(first.attention_native_ms, 0.0);
    EXPECT_GT(first.attention_widened_ms, 0.0);
    EXPECT_EQ(first.attention_ours_ms > 0.0, vqa::models::cpuAttentionSupported());
    vqa::models::Bf16AttentionTimes attention;
    attention.native_ms = first.attention_native_ms, attention.widened_ms = first.attention_widened_ms,
    attention.ours_ms = first.attention_ours_ms;
    EXPECT_EQ(first.bf16_attention, vqa::models::bf16AttentionName(attention.fastest()));
    EXPECT_EQ(vqa::models::bf16AttentionName(vqa::models::bf16Attention()), first.bf16_attention);
    EXPECT_EQ(first.attention_source, "measured");
    // The float32 rows too: ours measured where the CPU can run it.
    EXPECT_GT(first.f32_native_ms, 0.0);
    EXPECT_EQ(first.f32_ours_ms > 0.0, vqa::models::cpuGemmF32Supported());
    EXPECT_EQ(first.f32_rows,
              vqa::models::f32RowsName(vqa::models::F32RowsTimes{first.f32_native_ms, first.f32_ours_ms}.fastest()));
    EXPECT_EQ(vqa::models::f32RowsName(vqa::models::f32Rows()), first.f32_rows);
    EXPECT_EQ(first.f32_rows_source, "measured");
    std::cout << "[ measured ] products " << first.native_ms << " / " << first.widened_ms << " / " << first.half_ms
              << " ms (native / widened / half): " << first.bf16_kernels << "; attention " << attention.native_ms
              << " / " << attention.widened_ms << " / " << attention.ours_ms << " ms (native / widened / ours): "
              << first.bf16_attention << "; float32 rows " << first.f32_native_ms << " / " << first.f32_ours_ms
              << " ms (native / ours): " << first.f32_rows << "\n";
    ASSERT_TRUE(fs::exists(file_));
    for (const auto& entry : fs::directory_iterator(dir_))  // no temporary file left behind
        EXPECT_EQ(entry.path(), file_);

    const auto second = vqa::tuneCpuKernels(file_, kQuiet);
    EXPECT_EQ(second.source, "recorded");
    EXPECT_EQ(second.bf16_kernels, first.bf16_kernels);
    EXPECT_EQ(second.cpu, first.cpu);
    EXPECT_EQ(second.half_ms, first.half_ms);
    EXPECT_EQ(second.bf16_attention, first.bf16_attention);
    EXPECT_EQ(second.attention_source, "recorded");
    EXPECT_EQ(second.attention_ours_ms, first.attention_ours_ms);
    EXPECT_EQ(second.f32_rows, first.f32_rows);
    EXPECT_EQ(second.f32_rows_source, "recorded");
    EXPECT_EQ(second.f32_ours_ms, first.f32_ours_ms);

    // A record says which way; the engine follows it (here the other way round, by hand).
    auto record = nlohmann::json::parse(std::ifstream(file_));
    const std::string other = first.bf16_kernels == "native" ? "widened" : "native";
    const std::string other_attention = first.bf16_attention == "native" ? "widened" : "native";
    const std::string other_rows = first.f32_rows == "native" ? "ours" : "native";
    ASSERT_EQ(record.size(), 1u);
    for (auto& [key, value] : record.items()) {
        EXPECT_NE(key.find("half"), std::string::npos) << key;  // the choices measured are in the key
        EXPECT_NE(key.find("ours"), std::string::npos) << key;
        EXPECT_NE(key.find("float32 rows"), std::string::npos) << key;
        value["bf16_kernels"] = other;
        value["bf16_attention"] = other_attention;
        value["f32_rows"] = other_rows;
    }
    std::ofstream(file_) << record.dump();
    const auto third = vqa::tuneCpuKernels(file_, kQuiet);
    EXPECT_EQ(third.bf16_kernels, other);
    EXPECT_EQ(third.bf16_attention, other_attention);
    // "ours" where the CPU cannot run it is LibTorch's way.
    EXPECT_EQ(third.f32_rows, vqa::models::cpuGemmF32Supported() ? other_rows : "native");
    EXPECT_EQ(vqa::models::f32RowsName(vqa::models::f32Rows()), third.f32_rows);
    EXPECT_EQ(vqa::models::cpuWidensBf16(), other == "widened");
    EXPECT_EQ(vqa::models::bf16AttentionName(vqa::models::bf16Attention()), other_attention);

    // A record without the attention (as written before it was measured) is measured again.
    for (auto& [key, value] : record.items())
        value.erase("bf16_attention");
    std::ofstream(file_) << record.dump();
    EXPECT_EQ(vqa::tuneCpuKernels(file_, kQuiet).source, "measured");
    // So is one without the float32 rows.
    record = nlohmann::json::parse(std::ifstream(file_));
    for (auto& [key, value] : record.items())
        value.erase("f32_rows");
    std::ofstream(file_) << record.dump();
    EXPECT_EQ(vqa::tuneCpuKernels(file_, kQuiet).f32_rows_source, "measured");
}

// Measured while other work competes for the cores: used by this process, not recorded, so the
// next one measures again; a record already there stays as it was.
TEST_F(CpuTuningTest, WhatIsMeasuredOnABusyMachineIsNotRecorded) {
    const auto busy = vqa::tuneCpuKernels(file_, kBusy);
    EXPECT_TRUE(busy.busy);
    EXPECT_EQ(busy.source, "measured");
    EXPECT_EQ(vqa::models::bf16KernelsName(vqa::models::bf16Kernels()), busy.bf16_kernels);
    EXPECT_EQ(vqa::models::bf16AttentionName(vqa::models::bf16Attention()), busy.bf16_attention);
    EXPECT_FALSE(fs::exists(file_));
    const auto quiet = vqa::tuneCpuKernels(file_, kQuiet);
    EXPECT_FALSE(quiet.busy);
    ASSERT_TRUE(fs::exists(file_));
    const std::string before = (std::stringstream() << std::ifstream(file_).rdbuf()).str();
    EXPECT_EQ(vqa::tuneCpuKernels(file_, kBusy).source, "recorded") << "a record is read whatever the load";
    EXPECT_EQ((std::stringstream() << std::ifstream(file_).rdbuf()).str(), before);
}

// Measured again on request (`vqa tune --again`): the record is replaced, on a quiet machine only,
// and says with how many threads it was measured.
TEST_F(CpuTuningTest, MeasuredAgainInPlaceOfTheRecord) {
    const auto first = vqa::tuneCpuKernels(file_, kQuiet);
    ASSERT_EQ(first.source, "measured");
    EXPECT_EQ(first.threads, at::get_num_threads());
    EXPECT_NE(first.key.find(first.cpu), std::string::npos) << first.key;
    auto record = nlohmann::json::parse(std::ifstream(file_));
    ASSERT_TRUE(record.contains(first.key));
    EXPECT_EQ(record[first.key]["threads"], first.threads);
    record[first.key]["native_ms"] = 1.5;  // a record of its own, to tell it from a measurement
    record[first.key]["threads"] = 99;
    std::ofstream(file_) << record.dump();
    const auto recorded = vqa::tuneCpuKernels(file_, kQuiet);
    EXPECT_EQ(recorded.source, "recorded");
    EXPECT_EQ(recorded.native_ms, 1.5);
    EXPECT_EQ(recorded.threads, 99);

    const std::string before = (std::stringstream() << std::ifstream(file_).rdbuf()).str();
    const auto busy = vqa::tuneCpuKernels(file_, kBusy, vqa::TuneFrom::Measure);
    EXPECT_EQ(busy.source, "measured");
    EXPECT_EQ(busy.attention_source, "measured");
    EXPECT_NE(busy.native_ms, 1.5);
    EXPECT_EQ((std::stringstream() << std::ifstream(file_).rdbuf()).str(), before) << "busy: not recorded";

    const auto again = vqa::tuneCpuKernels(file_, kQuiet, vqa::TuneFrom::Measure);
    EXPECT_EQ(again.source, "measured");
    record = nlohmann::json::parse(std::ifstream(file_));
    ASSERT_EQ(record.size(), 1u);
    EXPECT_EQ(record[first.key]["threads"], at::get_num_threads());
    EXPECT_EQ(record[first.key]["native_ms"], again.native_ms);
}

// More threads spinning than the machine has cores: busy, for certain (each is ready to run
// all the time it spins).
TEST(CpuTuning, MoreSpinningThreadsThanCoresIsBusy) {
    const unsigned spinners = std::max(1u, std::thread::hardware_concurrency()) + 1;
    std::atomic<bool> stop{false};
    std::atomic<unsigned> started{0};
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < spinners; ++i)
        threads.emplace_back([&] {
            started.fetch_add(1);
            while (!stop.load(std::memory_order_relaxed)) {
            }
        });
    while (started.load() < spinners)
        std::this_thread::yield();
    const bool busy = vqa::machineBusy();
    stop = true;
    for (auto& t : threads)
        t.join();
    EXPECT_TRUE(busy);
}

TEST_F(CpuTuningTest, TheEnvironmentOverridesAndDamageIsMeasuredPast) {
    ::setenv("VQA_BF16_KERNELS", "widened", 1);
    auto forced = vqa::tuneCpuKernels(file_, kQuiet);
    EXPECT_EQ(forced.source, "environment");
    // The float32 rows, not forced, are left to be measured by the first product they matter to.
    EXPECT_EQ(forced.f32_rows, "auto");
    EXPECT_EQ(forced.f32_rows_source, "at first use");
    ::setenv("VQA_F32_ROWS", "native", 1);
    forced = vqa::tuneCpuKernels(file_, kQuiet);
    EXPECT_EQ(forced.f32_rows, "native");
    EXPECT_EQ(forced.f32_rows_source, "environment");
    EXPECT_EQ(vqa::models::f32Rows(), vqa::models::F32Rows::Native);
    EXPECT_TRUE(vqa::models::cpuWidensBf16());
    // The attention, not forced, goes as the products: ours (where the CPU can run it) beside
    // widened products, LibTorch's bfloat16 kernel beside its bfloat16 products.
    EXPECT_EQ(forced.attention_source, "rule");
    EXPECT_EQ(forced.bf16_attention, vqa::models::cpuAttentionSupported() ? "ours" : "widened");
    EXPECT_FALSE(fs::exists(file_));
    ::setenv("VQA_BF16_KERNELS", "native", 1);
    const auto native = vqa::tuneCpuKernels(file_, kQuiet);
    EXPECT_EQ(native.bf16_kernels, "native");
    EXPECT_EQ(native.bf16_attention, "native");
    EXPECT_FALSE(vqa::models::cpuWidensBf16());
    ::setenv("VQA_BF16_ATTENTION", "widened", 1);
    EXPECT_EQ(vqa::tuneCpuKernels(file_).bf16_attention, "widened");
    EXPECT_EQ(vqa::models::bf16Attention(), vqa::models::Bf16Attention::Widened);
    EXPECT_FALSE(fs::exists(file_));
    ::unsetenv("VQA_BF16_ATTENTION");
    // "half" where the CPU has no AVX512-FP16 is the widened path it falls back to.
    ::setenv("VQA_BF16_KERNELS", "half", 1);
    EXPECT_EQ(vqa::tuneCpuKernels(file_).bf16_kernels, vqa::models::cpuGemmHalfSupported() ? "half" : "widened");
    EXPECT_TRUE(vqa::models::cpuWidensBf16());
    ::unsetenv("VQA_BF16_KERNELS");

    fs::create_directories(dir_);
    std::ofstream(file_) << "{ not json";
    const auto repaired = vqa::tuneCpuKernels(file_, kQuiet);
    EXPECT_EQ(repaired.source, "measured");
    EXPECT_NO_THROW(nlohmann::json::parse(std::ifstream(file_)));

    // The attention alone forced: the products as measured (here, recorded), the attention as set.
    ::setenv("VQA_BF16_ATTENTION", "native", 1);
    const auto attention_forced = vqa::tuneCpuKernels(file_, kQuiet);
    EXPECT_EQ(attention_forced.source, "recorded");
    EXPECT_EQ(attention_forced.bf16_kernels, repaired.bf16_kernels);
    EXPECT_EQ(attention_forced.attention_source, "environment");
    EXPECT_EQ(vqa::models::bf16Attention(), vqa::models::Bf16Attention::Native);
    ::unsetenv("VQA_BF16_ATTENTION");

    // The float32 rows alone forced: the rest as recorded, the rows as set ("ours" where the CPU
    // cannot run it is LibTorch's way).
    ::setenv("VQA_F32_ROWS", "ours", 1);
    const auto rows_forced = vqa::tuneCpuKernels(file_, kQuiet);
    EXPECT_EQ(rows_forced.source, "recorded");
    EXPECT_EQ(rows_forced.f32_rows_source, "environment");
    EXPECT_EQ(rows_forced.f32_rows, vqa::models::cpuGemmF32Supported() ? "ours" : "native");
    EXPECT_EQ(vqa::models::f32RowsName(vqa::models::f32Rows()), rows_forced.f32_rows);
}

}  // namespace
