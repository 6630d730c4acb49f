// Saving what the window shows: the image with the heatmap over it (PNG), and the current
// image's conversation as Markdown (with the image and its answers' heatmaps beside it) or
// JSON (ConversationExport writes the files). No widgets: it reads the images, the model and
// the explanation's view, and reports through status and error.
#pragma once

#include <QObject>
#include <QString>

#include <vector>

#include "ui/ConversationExport.h"

namespace vqa::ui {

class ExplanationController;
class ImageSet;
class ModelController;

class Exporter : public QObject {
    Q_OBJECT
public:
    Exporter(ImageSet* images, ModelController* model, ExplanationController* explanation,
             QObject* parent = nullptr);

    // The map shown, over `shown` (what the canvas shows under it: a video's frame on screen),
    // or, when that is empty, over the picture the map lies on.
    bool saveOverlay(const QString& path, const QImage& shown = {});
    bool exportMarkdown(const QString& path);
    bool exportJson(const QString& path);

    // The current image's answers as exported: the whole answer of each answer with maps,
    // and the pinned word.
    std::vector<ExportedHeatmap> heatmaps() const;
    ConversationExport data() const;

signals:
    void status(const QString& text);
    void error(const QString& title, const QString& message);

private:
    ImageSet* images_;
    ModelController* model_;
    ExplanationController* explanation_;
};

}  // namespace vqa::ui
