// The application's settings, kept with QSettings (organisation and application names as
// set in main; tests point QSettings at a temporary folder).
#pragma once

#include <QString>

#include <vector>

#include "engine/Types.h"

namespace vqa::ui {

struct AppSettings {
    LoadOptions load;
    GenerationParams generation;
    // Image detail: at most this many image tokens per image for the models whose count
    // follows the image's size (Qwen2-VL); 1280 is the balance Qwen's model cards suggest.
    ImageOptions images{.max_image_tokens = 1280};
    // Heatmap defaults.
    bool capture_attention = true;
    QString colormap = QStringLiteral("turbo");
    double overlay_opacity = 0.55;
    bool overlay_visible = true;
    bool boxes_visible = true;  // the boxes an answer names (grounding), over the image
    int layer_begin = -1;  // -1: the engine's default
    int layer_end = -1;
    int head = -1;         // -1: mean over heads

    static AppSettings restore();  // from QSettings
    void save() const;
    ExplainParams explain() const;
    bool operator==(const AppSettings& other) const;
};

// The image detail levels the settings offer, coarsest first.
struct ImageDetailLevel {
    QString label;
    int max_image_tokens;  // 0: the model's own limit
};
std::vector<ImageDetailLevel> imageDetailLevels();

QString deviceName(DevicePreference device);
DevicePreference deviceFromName(const QString& name);

}  // namespace vqa::ui
