// Saving a conversation: Markdown (the image and chosen heatmaps as PNG files in a folder
// beside it, the checks' values per word) and JSON (text, tokens with their attention and
// relevancy grids, the checks' scores and occlusion maps with their methods, timings, model).
#pragma once

#include <QImage>
#include <QString>

#include <optional>
#include <vector>

#include "engine/Types.h"
#include "ui/ChatMessage.h"

namespace vqa::ui {

struct ExportedHeatmap {
    int message = -1;   // the answer it belongs to
    QString label;      // "whole answer", "word “cat”"
    QImage image;       // image with the heatmap blended over it
};

struct ConversationExport {
    QString image_name;
    QImage image;  // display copy
    QSize original_size;
    QString image_key;
    const std::vector<ChatMessage>* messages = nullptr;
    std::optional<ModelInfo> model;
    std::vector<ExportedHeatmap> heatmaps;
    // How the attention maps were reduced ("mean over heads of layers 15 to 29"), and of which model.
    QString explain_method;

    // Writes `path` (.md) and `<stem>_files/`; returns false with `error` set on failure.
    bool writeMarkdown(const QString& path, QString* error) const;
    bool writeJson(const QString& path, QString* error) const;
};

}  // namespace vqa::ui
