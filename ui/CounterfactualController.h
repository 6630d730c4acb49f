// The counterfactual checks of an answer, asked from the window (engine/explain/ImageReliance):
// how much each word relied on the image, which words fell when a region of the image was
// hidden, and an occlusion map. Each runs on the engine's thread and can be cancelled; one
// runs at a time, and its result goes into the answer it checked (ChatMessage::bars, or
// ChatMessage::occlusion_map), in whichever image session that answer belongs to. No widgets.
#pragma once

#include <QObject>
#include <QRect>
#include <QString>

#include <memory>

#include "engine/explain/ImageReliance.h"

namespace vqa {
class EngineWorker;
}

namespace vqa::ui {

class ConversationController;
class ImageSet;
class ModelController;
struct ImageSession;

class CounterfactualController : public QObject {
    Q_OBJECT
public:
    CounterfactualController(EngineWorker* worker, ImageSet* images, ConversationController* conversation,
                             ModelController* model, QObject* parent = nullptr);

    // Each checks answer `message` of the current image (-1: its last finished answer) and
    // returns false, saying why in status, when it cannot start now.
    bool requestReliance(int message = -1);
    // `rect` in the original image's pixels.
    bool requestOcclusion(const QRect& rect, int message = -1);
    bool requestOcclusionMap(int grid, int message = -1);
    void cancel();
    bool isRunning() const { return ticket_ != 0; }
    // The conversation of `session` was cleared: a check of one of its answers stops, and
    // what it would still report belongs to no answer (a new one may sit at the same place).
    void conversationCleared(ImageSession* session);

    // What the worker reports (tests may call them to stand in for it).
    void handleProgress(quint64 ticket, int done, int total);
    void handleReady(quint64 ticket, const vqa::CounterfactualResult& result);
    void handleFailed(quint64 ticket, const QString& message);

signals:
    void running(bool on);
    void progress(int done, int total);
    // Answer `message` of `session` has new bars (refresh the chat's bars).
    void barsChanged(vqa::ui::ImageSession* session, int message);
    // Answer `message` of `session` has an occlusion map (show it).
    void occlusionMapReady(vqa::ui::ImageSession* session, int message);
    void status(const QString& text);

private:
    // The answer to check and its request, or a reason in status.
    bool start(int message, const CounterfactualCheck& check, const QString& what);

    EngineWorker* worker_;
    ImageSet* images_;
    ConversationController* conversation_;
    ModelController* model_;
    quint64 ticket_ = 0;  // the check running, 0: none
    quint64 next_ticket_ = 0;
    std::weak_ptr<ImageSession> session_;
    int message_ = -1;
    QString what_;  // the running check, for messages
};

}  // namespace vqa::ui
