#include "ui/Settings.h"

#include <QObject>
#include <QSettings>

#include <algorithm>

namespace vqa::ui {

QString deviceName(DevicePreference device) {
    switch (device) {
    case DevicePreference::Cpu: return QStringLiteral("cpu");
    case DevicePreference::Cuda: return QStringLiteral("cuda");
    default: return QStringLiteral("auto");
    }
}

DevicePreference deviceFromName(const QString& name) {
    if (name == QLatin1String("cpu")) return DevicePreference::Cpu;
    if (name == QLatin1String("cuda")) return DevicePreference::Cuda;
    return DevicePreference::Auto;
}

std::vector<ImageDetailLevel> imageDetailLevels() {
    return {{QObject::tr("Low: up to 256 image tokens (fastest)"), 256},
            {QObject::tr("Standard: up to 1280 image tokens"), 1280},
            {QObject::tr("High: up to 4096 image tokens"), 4096},
            {QObject::tr("Full: the model's own limit (slowest)"), 0}};
}

AppSettings AppSettings::restore() {
    QSettings s;
    AppSettings a;
    a.load.device = deviceFromName(s.value("model/device", "auto").toString());
    a.load.dtype = s.value("model/dtype", "auto").toString().toStdString();
    a.load.threads = s.value("model/threads", 0).toInt();
    auto& g = a.generation;
    g.max_new_tokens = std::clamp(s.value("generation/maxNewTokens", g.max_new_tokens).toInt(), 1, 8192);
    g.temperature = s.value("generation/temperature", g.temperature).toFloat();
    g.top_p = s.value("generation/topP", g.top_p).toFloat();
    g.top_k = s.value("generation/topK", g.top_k).toInt();
    g.repetition_penalty = s.value("generation/repetitionPenalty", g.repetition_penalty).toFloat();
    g.seed = s.value("generation/seed", qulonglong(g.seed)).toULongLong();
    a.images.max_image_tokens =
        std::clamp(s.value("images/maxImageTokens", a.images.max_image_tokens).toInt(), 0, 1 << 20);
    a.capture_attention = s.value("heatmap/capture", a.capture_attention).toBool();
    a.colormap = s.value("heatmap/colormap", a.colormap).toString();
    a.overlay_opacity = std::clamp(s.value("heatmap/opacity", a.overlay_opacity).toDouble(), 0.0, 1.0);
    a.overlay_visible = s.value("heatmap/visible", a.overlay_visible).toBool();
    a.boxes_visible = s.value("heatmap/boxesVisible", a.boxes_visible).toBool();
    a.layer_begin = s.value("heatmap/layerBegin", a.layer_begin).toInt();
    a.layer_end = s.value("heatmap/layerEnd", a.layer_end).toInt();
    a.head = s.value("heatmap/head", a.head).toInt();
    return a;
}

void AppSettings::save() const {
    QSettings s;
    s.setValue("model/device", deviceName(load.device));
    s.setValue("model/dtype", QString::fromStdString(load.dtype));
    s.setValue("model/threads", load.threads);
    s.setValue("generation/maxNewTokens", generation.max_new_tokens);
    s.setValue("generation/temperature", generation.temperature);
    s.setValue("generation/topP", generation.top_p);
    s.setValue("generation/topK", generation.top_k);
    s.setValue("generation/repetitionPenalty", generation.repetition_penalty);
    s.setValue("generation/seed", qulonglong(generation.seed));
    s.setValue("images/maxImageTokens", images.max_image_tokens);
    s.setValue("heatmap/capture", capture_attention);
    s.setValue("heatmap/colormap", colormap);
    s.setValue("heatmap/opacity", overlay_opacity);
    s.setValue("heatmap/visible", overlay_visible);
    s.setValue("heatmap/boxesVisible", boxes_visible);
    s.setValue("heatmap/layerBegin", layer_begin);
    s.setValue("heatmap/layerEnd", layer_end);
    s.setValue("heatmap/head", head);
    s.sync();
}

ExplainParams AppSettings::explain() const {
    ExplainParams e;
    e.capture_attention = capture_attention;
    e.layer_begin = layer_begin;
    e.layer_end = layer_end;
    e.head = head;
    return e;
}

bool AppSettings::operator==(const AppSettings& o) const {
    const auto& g = generation;
    const auto& h = o.generation;
    return load.device == o.load.device && load.dtype == o.load.dtype && load.threads == o.load.threads &&
           g.max_new_tokens == h.max_new_tokens && g.temperature == h.temperature && g.top_p == h.top_p &&
           g.top_k == h.top_k && g.repetition_penalty == h.repetition_penalty && g.seed == h.seed &&
           images == o.images &&
           capture_attention == o.capture_attention && colormap == o.colormap &&
           overlay_opacity == o.overlay_opacity && overlay_visible == o.overlay_visible &&
           boxes_visible == o.boxes_visible &&
           layer_begin == o.layer_begin && layer_end == o.layer_end && head == o.head;
}

}  // namespace vqa::ui
