#include <gtest/gtest.h>

#include "engine/Device.h"

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
