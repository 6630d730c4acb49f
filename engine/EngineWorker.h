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
#include "engine/eval/EvalRun.h"
#include "engine/explain/ImageReliance.h"
#include "engine/library/FolderCaptioner.h"

namespace vqa {

class Engine;

// Heatmap grids of one token, and of each token of an answer (named for Qt's meta-types).
using HeatmapGrids = std::vector<HeatmapGrid>;
using TokenHeatmaps = std::vector<HeatmapGrids>;
using HeadMaps = std::vector<HeadMap>;

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
    // Rollout maps of token ranges of the last answer to `request` (Engine::rolloutGrids);
    // rolloutReady(ticket, grids per range) or explainFailed answers.
    void postRollout(quint64 ticket, const vqa::Request& request, const std::vector<std::pair<int, int>>& ranges,
                     const vqa::ExplainParams& params);
    // Every layer's and head's map of tokens [first, last) of the last answer (Engine::headMaps);
    // headMapsReady(ticket, maps) answers.
    void postHeadMaps(quint64 ticket, int first, int last);
    // Relevancy (gradient-weighted attention) of answer tokens `indices` for the request that
    // produced `answer_ids`; relevancyReady(ticket, per-index grids) or explainFailed answers.
    void postRelevancy(quint64 ticket, const vqa::Request& request, const std::vector<std::int32_t>& answer_ids,
                       const std::vector<int>& indices);

    // A counterfactual check of the answer `answer_ids` to `request` (explain/ImageReliance):
    // counterfactualProgress(ticket, done, total) after each pass, then counterfactualReady,
    // or counterfactualFailed (with "stopped" when cancelCounterfactual() stopped it).
    void postCounterfactual(quint64 ticket, const vqa::Request& request, const std::vector<std::int32_t>& answer_ids,
                            const vqa::CounterfactualCheck& check);
    // Thread-safe: stop the running check (within a layer) and those queued.
    void cancelCounterfactual();

    // Thread-safe, queued: encode this image now, ahead of a question about it (see
    // Engine::prepareImage). Only the latest of several posted in a row runs, and a later
    // post abandons one already encoding, so flipping through images does not queue
    // encodings. Silent: failures surface when the image is asked about.
    void postPrepareImage(const std::shared_ptr<const vqa::RgbImage>& image, const std::string& key,
                          const vqa::ImageOptions& options = {});
    // Thread-safe, queued: the image tokens a width x height image makes with the loaded model
    // at each of `budgets` (ImageOptions::max_image_tokens; -1 where it cannot tell);
    // imageTokenCounts(ticket, counts) answers, in the budgets' order.
    void postImageTokenCounts(quint64 ticket, int width, int height, const std::vector<int>& budgets);

    // Thread-safe, queued: caption the job's images with the loaded model into the library at
    // `library_path` (library::FolderCaptioner; an empty job.model is the model's key), one
    // image per turn of the worker's queue, so a question asked meanwhile is answered between
    // two images. captionItem follows for each image once it is kept, captionProgress as
    // images start and end, captionFinished at the end (`error` set when the run could not
    // start or the library failed). One run at a time.
    void postCaptionImages(const vqa::library::CaptionJob& job, const QString& library_path);
    // Thread-safe: hold the run before its next image (captionPaused says when it holds), or
    // let it go on.
    void pauseCaptioning(bool paused);
    // Thread-safe: stop the run, mid-image too (that image is not kept).
    void cancelCaptioning();

    // Thread-safe, queued: load the set `files` names into job.set and run the evaluation with the
    // loaded model (eval::runEvaluation; an empty job.model is the model's key). The worker
    // answers nothing else until it ends: evaluationProgress as items end,
    // evaluationFinished at the end (`error` set when it could not run; outcome.cancelled when
    // cancelEvaluation() stopped it). A cancel made after this call stops this run.
    void postEvaluation(const vqa::eval::EvalSetFiles& files, const vqa::eval::EvalJob& job);
    // Thread-safe: stop the evaluation at its next item; what was answered stays in its cache.
    void cancelEvaluation();

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
    void headMapsReady(quint64 ticket, const vqa::HeadMaps& maps);
    void rolloutReady(quint64 ticket, const vqa::TokenHeatmaps& per_range);
    void counterfactualProgress(quint64 ticket, int done, int total);
    void counterfactualReady(quint64 ticket, const vqa::CounterfactualResult& result);
    void counterfactualFailed(quint64 ticket, const QString& message);
    void captionItem(const vqa::library::CaptionItem& item);
    void captionProgress(const vqa::library::CaptionProgress& progress);
    void captionPaused(int done);
    void captionFinished(const vqa::library::CaptionSummary& summary, const QString& error);
    void evaluationProgress(const vqa::eval::EvalProgress& progress);
    // An image encoded ahead took `ms` for `image_tokens` tokens (a measure of this machine).
    void imageEncoded(double ms, int image_tokens);
    void imageTokenCounts(quint64 ticket, const std::vector<int>& counts);
    void evaluationFinished(const vqa::eval::EvalOutcome& outcome, const QString& error);

private:
    void run(const vqa::Request& request);

    std::unique_ptr<Engine> engine_;
    std::atomic<bool> cancel_{false};
    std::atomic<bool> busy_{false};
    std::atomic<std::uint64_t> prepare_posted_{0};
    std::atomic<bool> shutting_down_{false};
    // The captioning run; all of it is touched on the worker's thread only, but the flag.
    void captionStep();
    void finishCaptioning(const QString& error);
    std::unique_ptr<library::LibraryDb> caption_db_;
    std::unique_ptr<library::FolderCaptioner> captioner_;
    bool caption_paused_ = false;
    bool caption_step_queued_ = false;
    std::atomic<bool> caption_cancel_{false};
    // Checks posted before the last cancelCounterfactual() are not run.
    std::atomic<std::uint64_t> counterfactual_posted_{0};
    std::atomic<std::uint64_t> counterfactual_cancelled_before_{0};
    std::atomic<bool> counterfactual_cancel_{false};
    std::atomic<bool> evaluation_cancel_{false};
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
Q_DECLARE_METATYPE(vqa::HeadMaps)
Q_DECLARE_METATYPE(vqa::CounterfactualCheck)
Q_DECLARE_METATYPE(vqa::CounterfactualResult)
Q_DECLARE_METATYPE(vqa::library::CaptionItem)
Q_DECLARE_METATYPE(vqa::library::CaptionProgress)
Q_DECLARE_METATYPE(vqa::library::CaptionSummary)
Q_DECLARE_METATYPE(vqa::eval::EvalProgress)
Q_DECLARE_METATYPE(vqa::eval::EvalOutcome)
