// The one piece of the engine that knows Qt threading: an object that lives on a QThread,
// runs the Engine there, and turns its callbacks into queued signals for the UI.
#pragma once

#include <QObject>
#include <QString>
#include <QThread>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/Types.h"

namespace vqa {

class Engine;

// Heatmap grids of one token, and of each token of an answer (named for Qt's meta-types).
using HeatmapGrids = std::vector<HeatmapGrid>;
using TokenHeatmaps = std::vector<HeatmapGrids>;

class EngineWorker : public QObject {
    Q_OBJECT
public:
    explicit EngineWorker(QObject* parent = nullptr);
    ~EngineWorker() override;

    // Thread-safe: asks the running generation to stop at its next step.
    void cancel();
    // Thread-safe: the thread is ending; stop whatever runs (an answer, an image encoded
    // ahead) at its next check, and start nothing new.
    void shutDown();
    bool busy() const { return busy_.load(); }
    // Thread-safe: clears an earlier cancel now and queues the request, so a cancel() made
    // after this call stops it even if the worker has not started it yet (submit() clears
    // the flag only when it starts, which would lose such a cancel).
    void post(const vqa::Request& request);

    // Thread-safe, queued to the worker (never run on the caller's thread): re-reduce the
    // attention kept from the last answer, for its first `tokens` tokens, with new layer and
    // head choices; attentionRegridded(ticket, per-token grids) answers.
    void postRegrid(quint64 ticket, int tokens, const vqa::ExplainParams& params);
    // Relevancy (gradient-weighted attention) of answer tokens `indices` for the request that
    // produced `answer_ids`; relevancyReady(ticket, per-index grids) or explainFailed answers.
    void postRelevancy(quint64 ticket, const vqa::Request& request, const std::vector<std::int32_t>& answer_ids,
                       const std::vector<int>& indices);

    // Thread-safe, queued: encode this image now, ahead of a question about it (see
    // Engine::prepareImage). Only the latest of several posted in a row runs, and a later
    // post abandons one already encoding, so flipping through images does not queue
    // encodings. Silent: failures surface when the image is asked about.
    void postPrepareImage(const std::shared_ptr<const vqa::RgbImage>& image, const std::string& key,
                          const vqa::ImageOptions& options = {});

public slots:
    void loadModel(const QString& model_dir, const vqa::LoadOptions& options);
    // Answers with a model on a server instead (Engine::connect); reports like loadModel.
    void connectServer(const vqa::RemoteServer& server);
    void submit(const vqa::Request& request);

signals:
    void modelLoaded(const vqa::ModelInfo& info);
    void modelFailed(const QString& message);
    void progress(const QString& stage, double fraction);
    void token(const vqa::TokenEvent& event);
    void finished(const vqa::GenerationResult& result);
    void attentionRegridded(quint64 ticket, const vqa::TokenHeatmaps& per_token);
    void relevancyReady(quint64 ticket, const std::vector<int>& indices, const vqa::TokenHeatmaps& per_index);
    void explainFailed(quint64 ticket, const QString& message);

private:
    void run(const vqa::Request& request);

    std::unique_ptr<Engine> engine_;
    std::atomic<bool> cancel_{false};
    std::atomic<bool> busy_{false};
    std::atomic<std::uint64_t> prepare_posted_{0};
    std::atomic<bool> shutting_down_{false};
};

// Owns the worker thread: starts it, and on destruction cancels work and joins.
class EngineThread : public QObject {
    Q_OBJECT
public:
    explicit EngineThread(QObject* parent = nullptr);
    ~EngineThread() override;
    EngineWorker* worker() const { return worker_; }

private:
    QThread thread_;
    EngineWorker* worker_;
};

void registerEngineMetaTypes();

}  // namespace vqa

Q_DECLARE_METATYPE(vqa::LoadOptions)
Q_DECLARE_METATYPE(vqa::RemoteServer)
Q_DECLARE_METATYPE(vqa::Request)
Q_DECLARE_METATYPE(vqa::ModelInfo)
Q_DECLARE_METATYPE(vqa::TokenEvent)
Q_DECLARE_METATYPE(vqa::GenerationResult)
Q_DECLARE_METATYPE(vqa::ExplainParams)
Q_DECLARE_METATYPE(vqa::TokenHeatmaps)
