#include <gtest/gtest.h>

#include "engine/Device.h"
#include "models/StepGraph.h"

#include <torch/torch.h>

// Asking for CUDA never throws and agrees with LibTorch once its CUDA part is loaded; on a
// machine without a GPU it explains why.
TEST(Device, CudaProbeIsConsistent) {
    const bool available = vqa::cudaAvailable();
    EXPECT_EQ(available, torch::cuda::is_available());
    if (!available)
        EXPECT_FALSE(vqa::cudaUnavailableReason().empty());
    else
        EXPECT_TRUE(vqa::cudaUnavailableReason().empty());
    EXPECT_EQ(vqa::cudaAvailable(), available);  // cached, same answer
}

// The CUDA graph plugin, where this build made one, loads with LibTorch's CUDA library (a GPU
// is not needed for that), resolves every symbol, makes recorders for CUDA devices only, and
// turning graphs on without a GPU says why instead of installing them.
TEST(Device, CudaGraphPluginLoadsAndIsOnlyUsedWithAGpu) {
#ifndef VQA_CUDA_GRAPH_PLUGIN
    GTEST_SKIP() << "this build has no CUDA graph plugin (LibTorch is not a CUDA build, or the CUDA runtime's headers were missing)";
#else
    if (vqa::cudaUnavailableReason().find("could not be loaded") != std::string::npos)
        GTEST_SKIP() << "LibTorch's CUDA library does not load here: " << vqa::cudaUnavailableReason();
    EXPECT_EQ(vqa::probeCudaGraphPlugin(0), "");
    const std::string why = vqa::setCudaGraphs(true);
    if (vqa::cudaAvailable()) {
        EXPECT_EQ(why, "");
        EXPECT_TRUE(static_cast<bool>(vqa::models::stepGraphMaker()));
    } else {
        EXPECT_EQ(why, vqa::cudaUnavailableReason());
        EXPECT_FALSE(static_cast<bool>(vqa::models::stepGraphMaker()));
    }
    vqa::setCudaGraphs(false);
    EXPECT_FALSE(static_cast<bool>(vqa::models::stepGraphMaker()));
#endif
}
