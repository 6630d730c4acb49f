#include "ui/Exporter.h"

#include <deque>

#include <QDir>

#include "ui/ExplanationController.h"
#include "ui/Heatmap.h"
#include "ui/ImageSet.h"
#include "ui/ModelController.h"

namespace vqa::ui {

Exporter::Exporter(ImageSet* images, ModelController* model, ExplanationController* explanation, QObject* parent)
    : QObject(parent), images_(images), model_(model), explanation_(explanation) {}

bool Exporter::saveOverlay(const QString& path, const QImage& shown) {
    const ImageSession* s = images_->current().get();
    const QImage& overlay = explanation_->view().overlay;
    if (!s || s->image.display.isNull() || overlay.isNull()) {
        emit error(tr("Nothing to save"),
                   tr("There is no heatmap over the image yet: hover or click a word of an answer."));
        return false;
    }
    // Over what is on screen, else the picture the overlay lies on (a conversation may hold
    // several; of a video, its first frame).
    const QImage image = blendOverlay(shown.isNull() ? s->picture(explanation_->view().picture).display : shown,
                                      overlay, explanation_->opacity());
    if (!image.save(path, "PNG")) {
        emit error(tr("Could not save the heatmap"), tr("Writing %1 failed.").arg(QDir::toNativeSeparators(path)));
        return false;
    }
    emit status(tr("Saved the heatmap to %1.").arg(QDir::toNativeSeparators(path)));
    return true;
}

std::vector<ExportedHeatmap> Exporter::heatmaps() const {
    std::vector<ExportedHeatmap> out;
    const ImageSession* s = images_->current().get();
    if (!s)
        return out;
    // The maps are drawn over the conversation's main picture (for a video, its first frame the
    // model saw): of an answer about several pictures, only the grids that lie on it.
    std::deque<std::vector<HeatmapGrid>> kept;  // the filtered grids (a deque: pointers stay valid)
    auto onMain = [&](int message, const std::vector<HeatmapGrid>& grids) -> const std::vector<HeatmapGrid>* {
        if (s->pictureCount() <= 1)
            return &grids;
        const auto keyOf = pictureKeys(*s, message);
        const std::pair<int, int> main{0, s->picture(0).video ? 0 : -1};
        std::vector<HeatmapGrid> on;
        for (const HeatmapGrid& g : grids)
            if (keyOf(g) == main)
                on.push_back(g);
        kept.push_back(std::move(on));
        return &kept.back();
    };
    const Colormap map = explanation_->colormap();
    const double opacity = explanation_->opacity();
    for (size_t i = 0; i < s->messages.size(); ++i) {
        const ChatMessage& m = s->messages[i];
        if (m.role == Role::Assistant && !m.occlusion_map.empty()) {
            const QImage overlay = colorizeHeatmap(buildHeatmap({&m.occlusion_map}, s->image.original_size), map);
            if (!overlay.isNull())
                out.push_back({int(i), m.occlusion_caption, blendOverlay(s->image.display, overlay, opacity)});
        }
        if (m.role != Role::Assistant || !m.hasAttention())
            continue;
        std::vector<const std::vector<HeatmapGrid>*> grids;
        for (const auto& t : m.tokens)
            if (!t.attention.empty())
                grids.push_back(onMain(int(i), t.attention));
        const QImage overlay = colorizeHeatmap(buildHeatmap(grids, s->image.original_size), map);
        out.push_back({int(i), tr("Heatmap of the whole answer"), blendOverlay(s->image.display, overlay, opacity)});
        const HeatmapPin& pin = s->pin;
        if (pin.message == int(i) && !pin.whole && pin.token >= 0 && pin.token < int(m.tokens.size())) {
            const auto [b, e] = m.wordOfToken(pin.token);
            std::vector<const std::vector<HeatmapGrid>*> word;
            for (int t = b; t < e; ++t)
                if (!m.tokens[size_t(t)].attention.empty())
                    word.push_back(onMain(int(i), m.tokens[size_t(t)].attention));
            const int start = m.tokens[size_t(b)].start;
            const QString text = m.text.mid(start, m.tokens[size_t(e - 1)].end - start).trimmed();
            const QImage wo = colorizeHeatmap(buildHeatmap(word, s->image.original_size), map);
            if (!wo.isNull())
                out.push_back({int(i), tr("Heatmap of the word “%1”").arg(text),
                               blendOverlay(s->image.display, wo, opacity)});
            // And the word's relevancy and rollout maps, when they were drawn.
            for (const bool relevancy : {true, false}) {
                std::vector<const std::vector<HeatmapGrid>*> other;
                for (int t = b; t < e; ++t) {
                    const auto& g = relevancy ? m.tokens[size_t(t)].relevancy : m.tokens[size_t(t)].rollout;
                    if (!g.empty())
                        other.push_back(onMain(int(i), g));
                }
                const QImage o = colorizeHeatmap(buildHeatmap(other, s->image.original_size), map);
                if (!o.isNull())
                    out.push_back({int(i),
                                   relevancy ? tr("Relevancy of the word “%1” (gradient-weighted attention)").arg(text)
                                             : tr("Rollout of the word “%1” (attention through the vision tower)").arg(text),
                                   blendOverlay(s->image.display, o, opacity)});
            }
        }
    }
    return out;
}

ConversationExport Exporter::data() const {
    ConversationExport e;
    if (const ImageSession* s = images_->current().get()) {
        e.image_name = s->image.name;
        e.image = s->image.display;
        e.original_size = s->image.original_size;
        e.image_key = s->image.key;
        e.messages = &s->messages;
    }
    e.model = model_->info();
    e.explain_method = explanation_->attentionMethod();
    return e;
}

bool Exporter::exportMarkdown(const QString& path) {
    if (!images_->current()) {
        emit error(tr("Nothing to export"), tr("Open an image and ask something first."));
        return false;
    }
    ConversationExport e = data();
    e.heatmaps = heatmaps();
    QString message;
    if (!e.writeMarkdown(path, &message)) {
        emit error(tr("Could not export the conversation"), message);
        return false;
    }
    emit status(tr("Exported the conversation to %1.").arg(QDir::toNativeSeparators(path)));
    return true;
}

bool Exporter::exportJson(const QString& path) {
    if (!images_->current()) {
        emit error(tr("Nothing to export"), tr("Open an image and ask something first."));
        return false;
    }
    QString message;
    if (!data().writeJson(path, &message)) {
        emit error(tr("Could not export the conversation"), message);
        return false;
    }
    emit status(tr("Exported the conversation to %1.").arg(QDir::toNativeSeparators(path)));
    return true;
}

}  // namespace vqa::ui
