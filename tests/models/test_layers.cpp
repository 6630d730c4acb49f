#include <gtest/gtest.h>

#include "models/Layers.h"

TEST(Layers, RmsNormMatchesDefinition) {
    torch::manual_seed(0);
    auto x = torch::randn({3, 8});
    auto w = torch::randn({8});
    auto y = vqa::models::rmsNorm(x, w, 1e-5);
    for (int r = 0; r < 3; ++r) {
        double ms = 0;
        for (int c = 0; c < 8; ++c)
            ms += x[r][c].item<double>() * x[r][c].item<double>();
        ms /= 8;
        for (int c = 0; c < 8; ++c)
            EXPECT_NEAR(y[r][c].item<double>(), x[r][c].item<double>() / std::sqrt(ms + 1e-5) * w[c].item<double>(), 1e-5);
    }
}
