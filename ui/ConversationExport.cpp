#include "ui/ConversationExport.h"

#include "engine/explain/ImageReliance.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

namespace vqa::ui {
namespace {

QString stopName(StopReason s) {
    switch (s) {
    case StopReason::EndOfTurn: return QStringLiteral("end_of_turn");
    case StopReason::MaxTokens: return QStringLiteral("max_tokens");
    case StopReason::Cancelled: return QStringLiteral("cancelled");
    default: return QStringLiteral("error");
    }
}

bool writeFile(const QString& path, const QByteArray& data, QString* error) {
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(data) != data.size() || !file.commit()) {
        *error = QObject::tr("could not write %1: %2").arg(QDir::toNativeSeparators(path), file.errorString());
        return false;
    }
    return true;
}

QJsonObject modelJson(const ModelInfo& m) {
    return {{"family", QString::fromStdString(m.family)}, {"name", QString::fromStdString(m.name)},
            {"parameters", double(m.parameters)},         {"dtype", QString::fromStdString(m.dtype)},
            {"quantization", QString::fromStdString(m.quantization)}, {"device", QString::fromStdString(m.device)}};
}

}  // namespace

namespace {

QJsonArray gridsJson(const std::vector<HeatmapGrid>& grids) {
    QJsonArray out;
    for (const HeatmapGrid& g : grids) {
        QJsonArray values;
        for (float v : g.values)
            values.append(double(v));
        out.append(QJsonObject{{"rows", g.rows}, {"cols", g.cols}, {"x", g.x}, {"y", g.y}, {"width", g.width},
                               {"height", g.height}, {"global_view", g.global_view}, {"values", values}});
    }
    return out;
}

QString wordText(const ChatMessage& m, std::pair<int, int> w) {
    const int start = m.tokens[size_t(w.first)].start;
    return m.text.mid(start, m.tokens[size_t(w.second - 1)].end - start).trimmed();
}

}  // namespace

bool ConversationExport::writeMarkdown(const QString& path, QString* error) const {
    const QFileInfo info(path);
    const QString files_name = info.completeBaseName() + "_files";
    const QDir files_dir(info.absolutePath() + "/" + files_name);
    if (!QDir().mkpath(files_dir.path())) {
        *error = QObject::tr("could not create the folder %1").arg(QDir::toNativeSeparators(files_dir.path()));
        return false;
    }
    QString md;
    md += "# " + QObject::tr("Conversation about %1").arg(image_name) + "\n\n";
    if (model)
        md += QObject::tr("*Model: %1 (%2) on %3, %4*")
                  .arg(QString::fromStdString(model->name), QString::fromStdString(model->family),
                       QString::fromStdString(model->device), QString::fromStdString(model->dtype)) + "\n\n";
    if (!image.isNull()) {
        const QString image_file = "image.png";
        if (!image.save(files_dir.filePath(image_file))) {
            *error = QObject::tr("could not write %1").arg(files_dir.filePath(image_file));
            return false;
        }
        md += QStringLiteral("![%1](%2/%3)\n\n").arg(image_name, files_name, image_file);
    }
    if (messages) {
        for (size_t i = 0; i < messages->size(); ++i) {
            const ChatMessage& m = (*messages)[i];
            if (m.role == Role::User) {
                md += "**" + QObject::tr("You") + ":** " + m.text.trimmed() + "\n\n";
                continue;
            }
            md += "**" + QObject::tr("Assistant") + ":**\n\n" + m.text.trimmed() + "\n\n";
            if (!m.error.isEmpty())
                md += "> " + m.error + "\n\n";
            int n = 0;
            for (const auto& h : heatmaps) {
                if (h.message != int(i) || h.image.isNull())
                    continue;
                const QString file = QStringLiteral("heatmap-%1-%2.png").arg(i).arg(++n);
                if (!h.image.save(files_dir.filePath(file))) {
                    *error = QObject::tr("could not write %1").arg(files_dir.filePath(file));
                    return false;
                }
                md += QStringLiteral("![%1](%2/%3)\n\n*%1*\n\n").arg(h.label, files_name, file);
            }
            if (!m.bars.empty()) {  // a check of the answer: its value per word
                md += QStringLiteral("| %1 | %2 |\n|---|---|\n").arg(QObject::tr("word"), m.bars.label + " (nats)");
                for (const auto& w : m.words())
                    md += QStringLiteral("| %1 | %2 |\n").arg(wordText(m, w)).arg(double(m.bars.word(w)), 0, 'f', 3);
                md += "\n";
            }
        }
    }
    return writeFile(path, md.toUtf8(), error);
}

bool ConversationExport::writeJson(const QString& path, QString* error) const {
    QJsonObject root;
    root["format"] = "vqa-studio-conversation";
    root["version"] = 1;
    root["exported"] = QDateTime::currentDateTimeUtc().toString(Qt::ISODate);
    root["image"] = QJsonObject{{"name", image_name},
                                {"width", original_size.width()},
                                {"height", original_size.height()},
                                {"key", image_key}};
    if (model)
        root["model"] = modelJson(*model);
    QJsonArray turns;
    if (messages) {
        for (const ChatMessage& m : *messages) {
            QJsonObject turn{{"role", m.role == Role::User ? "user" : "assistant"}, {"text", m.text}};
            if (m.role == Role::Assistant) {
                turn["stop"] = stopName(m.stop);
                if (!m.error.isEmpty())
                    turn["error"] = m.error;
                if (m.timings)
                    turn["timings"] = QJsonObject{{"first_token_ms", m.timings->first_token_ms},
                                                  {"prefill_ms", m.timings->prefill_ms},
                                                  {"decode_ms", m.timings->decode_ms},
                                                  {"prompt_tokens", m.timings->prompt_tokens},
                                                  {"new_tokens", m.timings->new_tokens},
                                                  {"tokens_per_second", m.timings->tokensPerSecond()}};
                QJsonArray tokens;
                for (size_t t = 0; t < m.tokens.size(); ++t) {
                    const TokenRecord& r = m.tokens[t];
                    QJsonObject tok{{"index", int(t)}, {"id", r.id}, {"text", m.text.mid(r.start, r.end - r.start)}};
                    if (!r.attention.empty())
                        tok["attention"] = gridsJson(r.attention);
                    if (!r.relevancy.empty())
                        tok["relevancy"] = gridsJson(r.relevancy);
                    if (!r.rollout.empty())
                        tok["rollout"] = gridsJson(r.rollout);
                    if (t < m.bars.tokens.size())
                        tok["check"] = double(m.bars.tokens[t]);
                    tokens.append(tok);
                }
                turn["tokens"] = tokens;
                // How each map and score was made, so a figure can be made again from the file.
                QJsonObject methods{{"attention", explain_method},
                                    {"relevancy", "gradient-weighted attention over all layers and heads "
                                                  "(Chefer et al. 2021)"},
                                    {"rollout", "the word's attention (as for attention) carried through the vision "
                                                "tower's attention rollout onto its patches (Abnar & Zuidema 2020); "
                                                "on the word's first token"}};
                if (!m.bars.empty()) {
                    QJsonArray words;
                    for (const auto& w : m.words())
                        words.append(QJsonObject{{"text", wordText(m, w)},
                                                 {"tokens", QJsonArray{w.first, w.second}},
                                                 {"value", double(m.bars.word(w))}});
                    turn["check"] = QJsonObject{{"method", m.bars.label}, {"unit", "nats"}, {"words", words}};
                }
                if (!m.occlusion_map.empty())
                    turn["occlusion_map"] = QJsonObject{
                        {"method", m.occlusion_caption + " (grey " + QString::number(kOcclusionGrey) +
                                       "; value: fall in the answer's summed log-probability, nats)"},
                        {"grid", gridsJson(m.occlusion_map)}};
                turn["methods"] = methods;
                // The boxes it names, in the original image's pixels (as `vqa ask --json`).
                QJsonArray boxes;
                for (const GroundingBox& b : m.boxes)
                    boxes.append(QJsonObject{{"label", QString::fromStdString(b.label)},
                                             {"box", QJsonArray{b.x1, b.y1, b.x2, b.y2}},
                                             {"point", b.point},
                                             {"clipped", b.clipped},
                                             {"tokens", QJsonArray{b.token_begin, b.token_end}}});
                if (!boxes.isEmpty())
                    turn["boxes"] = boxes;
            }
            turns.append(turn);
        }
    }
    root["turns"] = turns;
    return writeFile(path, QJsonDocument(root).toJson(QJsonDocument::Indented), error);
}

}  // namespace vqa::ui
