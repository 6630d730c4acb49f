#include "engine/EngineWorker.h"

#include <QMetaType>

#include <algorithm>

#include "engine/Engine.h"
#include "engine/library/LibraryDb.h"
#include "models/base/Error.h"

namespace vqa {

void registerEngineMetaTypes() {
    qRegisterMetaType<vqa::LoadOptions>();
    qRegisterMetaType<vqa::RemoteServer>();
    qRegisterMetaType<vqa::Request>();
    qRegisterMetaType<vqa::ModelInfo>();
    qRegisterMetaType<vqa::TokenEvent>();
    qRegisterMetaType<vqa::GenerationResult>();
    qRegisterMetaType<vqa::ExplainParams>();
    qRegisterMetaType<vqa::TokenHeatmaps>();
    qRegisterMetaType<vqa::HeadMaps>();
    qRegisterMetaType<vqa::CounterfactualCheck>();
    qRegisterMetaType<vqa::CounterfactualResult>();
    qRegisterMetaType<std::vector<int>>();
    qRegisterMetaType<vqa::library::CaptionItem>();
    qRegisterMetaType<vqa::library::CaptionProgress>();
    qRegisterMetaType<vqa::library::CaptionSummary>();
    qRegisterMetaType<vqa::eval::EvalProgress>();
    qRegisterMetaType<vqa::eval::EvalOutcome>();
}

EngineWorker::EngineWorker(QObject* parent) : QObject(parent), engine_(std::make_unique<Engine>()) {}
EngineWorker::~EngineWorker() = default;

void EngineWorker::cancel() { cancel_.store(true); }

void EngineWorker::shutDown() {
    shutting_down_.store(true);
    cancel_.store(true);
    caption_cancel_.store(true);
    counterfactual_cancel_.store(true);
    evaluation_cancel_.store(true);
}

void EngineWorker::cancelCounterfactual() {
    counterfactual_cancelled_before_.store(counterfactual_posted_.load() + 1);
    counterfactual_cancel_.store(true);
}

void EngineWorker::postCounterfactual(quint64 ticket, const vqa::Request& request,
                                      const std::vector<std::int32_t>& answer_ids, const vqa::CounterfactualCheck& check) {
    const std::uint64_t number = ++counterfactual_posted_;
    QMetaObject::invokeMethod(
        this,
        [this, ticket, request, answer_ids, check, number] {
            if (shutting_down_.load())
                return;
            if (number < counterfactual_cancelled_before_.load()) {
                emit counterfactualFailed(ticket, tr("stopped"));
                return;
            }
            counterfactual_cancel_ = false;
            busy_ = true;
            try {
                auto result = runCounterfactual(
                    *engine_, request, answer_ids, check,
                    [this, ticket](int done, int total) { emit counterfactualProgress(ticket, done, total); },
                    &counterfactual_cancel_);
                busy_ = false;
                if (result)
                    emit counterfactualReady(ticket, *result);
                else
                    emit counterfactualFailed(ticket, tr("stopped"));
            } catch (const std::exception& e) {
                busy_ = false;
                emit counterfactualFailed(ticket, QString::fromStdString(e.what()));
            }
        },
        Qt::QueuedConnection);
}

void EngineWorker::postCaptionImages(const vqa::library::CaptionJob& job, const QString& library_path) {
    QMetaObject::invokeMethod(
        this,
        [this, job, library_path] {
            if (captioner_) {
                emit captionFinished({}, tr("A folder is being captioned already."));
                return;
            }
            try {
                if (!engine_->hasModel())
                    throw Error("Load a model (or connect to a server) to caption images.");
                caption_db_ = std::make_unique<library::LibraryDb>(library_path.toStdString());
                library::CaptionJob run = job;
                if (run.model.empty())
                    run.model = library::modelKey(engine_->modelInfo());
                captioner_ = std::make_unique<library::FolderCaptioner>(*engine_, *caption_db_, std::move(run));
            } catch (const std::exception& e) {
                caption_db_.reset();
                emit captionFinished({}, QString::fromStdString(e.what()));
                return;
            }
            caption_cancel_ = false;
            caption_paused_ = false;
            captionStep();
        },
        Qt::QueuedConnection);
}

void EngineWorker::pauseCaptioning(bool paused) {
    QMetaObject::invokeMethod(
        this,
        [this, paused] {
            caption_paused_ = paused;
            if (!paused && captioner_ && !caption_step_queued_) {
                caption_step_queued_ = true;
                QMetaObject::invokeMethod(this, &EngineWorker::captionStep, Qt::QueuedConnection);
            }
        },
        Qt::QueuedConnection);
}

void EngineWorker::postEvaluation(const vqa::eval::EvalSetFiles& files, const vqa::eval::EvalJob& job) {
    evaluation_cancel_.store(false);
    QMetaObject::invokeMethod(
        this,
        [this, files, job] {
            if (shutting_down_.load())
                return;
            busy_ = true;
            try {
                if (!engine_->hasModel())
                    throw Error("Load a model (or connect to a server) to evaluate it.");
                eval::EvalJob run = job;
                run.set = eval::loadEvalSet(files);
                if (run.model.empty())
                    run.model = library::modelKey(engine_->modelInfo());
                const eval::EvalOutcome outcome = eval::runEvaluation(
                    *engine_, run, [this](const eval::EvalProgress& p) { emit evaluationProgress(p); },
                    &evaluation_cancel_);
                busy_ = false;
                emit evaluationFinished(outcome, {});
            } catch (const std::exception& e) {
                busy_ = false;
                emit evaluationFinished({}, QString::fromStdString(e.what()));
            }
        },
        Qt::QueuedConnection);
}

void EngineWorker::cancelEvaluation() { evaluation_cancel_.store(true); }

void EngineWorker::cancelCaptioning() {
    caption_cancel_.store(true);  // seen mid-image too
    QMetaObject::invokeMethod(
        this,
        [this] {
            if (captioner_ && caption_paused_ && !caption_step_queued_)
                finishCaptioning({});  // held before an image: nothing runs to notice the flag
        },
        Qt::QueuedConnection);
}

void EngineWorker::captionStep() {
    caption_step_queued_ = false;
    if (!captioner_)
        return;
    if (caption_cancel_.load()) {
        // Captions made together with the last one handed out are in the library already.
        while (auto item = captioner_->next({}, &caption_cancel_))
            emit captionItem(*item);
        finishCaptioning({});
        return;
    }
    if (caption_paused_) {
        emit captionPaused(captioner_->progress().done);
        return;
    }
    busy_ = true;
    try {
        auto item = captioner_->next([this](const library::CaptionProgress& p) { emit captionProgress(p); },
                                     &caption_cancel_);
        busy_ = false;
        if (item) {
            emit captionItem(*item);
            if (item->status != library::ItemStatus::Stopped)
                emit captionProgress(captioner_->progress());
        }
        if (!item || captioner_->done()) {
            finishCaptioning({});
            return;
        }
    } catch (const std::exception& e) {  // the library failed: the run cannot go on
        busy_ = false;
        finishCaptioning(QString::fromStdString(e.what()));
        return;
    }
    caption_step_queued_ = true;
    QMetaObject::invokeMethod(this, &EngineWorker::captionStep, Qt::QueuedConnection);
}

void EngineWorker::finishCaptioning(const QString& error) {
    library::CaptionSummary summary = captioner_ ? captioner_->summary() : library::CaptionSummary{};
    if (caption_cancel_.load())
        summary.cancelled = true;
    captioner_.reset();
    caption_db_.reset();
    emit captionFinished(summary, error);
}

void EngineWorker::loadModel(const QString& model_dir, const vqa::LoadOptions& options) {
    busy_ = true;
    try {
        auto info = engine_->load(model_dir.toStdString(), options, [this](const Progress& p) {
            emit progress(QString::fromStdString(p.stage), p.fraction);
        });
        busy_ = false;
        emit modelLoaded(info);
    } catch (const std::exception& e) {
        busy_ = false;
        emit modelFailed(QString::fromStdString(e.what()));
    }
}

void EngineWorker::connectServer(const vqa::RemoteServer& server) {
    busy_ = true;
    try {
        emit progress(QStringLiteral("connecting to the server"), -1.0);
        auto info = engine_->connect(server);
        busy_ = false;
        emit modelLoaded(info);
    } catch (const std::exception& e) {
        busy_ = false;
        emit modelFailed(QString::fromStdString(e.what()));
    }
}

void EngineWorker::submit(const vqa::Request& request) {
    cancel_ = false;
    run(request);
}

void EngineWorker::post(const vqa::Request& request) {
    cancel_ = false;
    QMetaObject::invokeMethod(this, [this, request] { run(request); }, Qt::QueuedConnection);
}

void EngineWorker::postPrepareImage(const std::shared_ptr<const vqa::RgbImage>& image, const std::string& key,
                                    const vqa::ImageOptions& options) {
    const std::uint64_t ticket = ++prepare_posted_;
    QMetaObject::invokeMethod(
        this,
        [this, image, key, options, ticket] {
            // Skipped, or abandoned mid-way, once a later image is posted or the thread ends.
            auto superseded = [this, ticket] { return ticket != prepare_posted_.load() || shutting_down_.load(); };
            Timings timings;
            if (!superseded() && engine_->prepareImage(image, key, options, superseded, &timings) &&
                timings.encode_ms > 0 && timings.image_tokens > 0)
                emit imageEncoded(timings.encode_ms, timings.image_tokens);
        },
        Qt::QueuedConnection);
}

void EngineWorker::postImageTokenCounts(quint64 ticket, int width, int height, const std::vector<int>& budgets) {
    QMetaObject::invokeMethod(
        this,
        [this, ticket, width, height, budgets] {
            std::vector<int> counts;
            for (int budget : budgets)
                counts.push_back(engine_->imageTokenCount(width, height, ImageOptions{.max_image_tokens = budget}));
            emit imageTokenCounts(ticket, counts);
        },
        Qt::QueuedConnection);
}

void EngineWorker::postRegrid(quint64 ticket, int tokens, const vqa::ExplainParams& params) {
    QMetaObject::invokeMethod(
        this,
        [this, ticket, tokens, params] {
            try {
                TokenHeatmaps out;
                out.reserve(size_t(std::max(tokens, 0)));
                for (int t = 0; t < tokens; ++t)
                    out.push_back(engine_->attentionGrids(t, t + 1, params));
                emit attentionRegridded(ticket, out);
            } catch (const std::exception& e) {
                emit explainFailed(ticket, QString::fromStdString(e.what()));
            }
        },
        Qt::QueuedConnection);
}

void EngineWorker::postRollout(quint64 ticket, const vqa::Request& request,
                               const std::vector<std::pair<int, int>>& ranges, const vqa::ExplainParams& params) {
    QMetaObject::invokeMethod(
        this,
        [this, ticket, request, ranges, params] {
            busy_ = true;
            try {
                auto maps = engine_->rolloutGrids(request, ranges, params);
                busy_ = false;
                emit rolloutReady(ticket, maps);
            } catch (const std::exception& e) {
                busy_ = false;
                emit explainFailed(ticket, QString::fromStdString(e.what()));
            }
        },
        Qt::QueuedConnection);
}

void EngineWorker::postHeadMaps(quint64 ticket, int first, int last) {
    QMetaObject::invokeMethod(
        this,
        [this, ticket, first, last] {
            try {
                emit headMapsReady(ticket, engine_->headMaps(first, last));
            } catch (const std::exception& e) {
                emit explainFailed(ticket, QString::fromStdString(e.what()));
            }
        },
        Qt::QueuedConnection);
}

void EngineWorker::postRelevancy(quint64 ticket, const vqa::Request& request,
                                 const std::vector<std::int32_t>& answer_ids, const std::vector<int>& indices) {
    QMetaObject::invokeMethod(
        this,
        [this, ticket, request, answer_ids, indices] {
            busy_ = true;
            try {
                TokenHeatmaps out;
                for (int i : indices)
                    out.push_back(engine_->relevancy(request, answer_ids, i));
                busy_ = false;
                emit relevancyReady(ticket, indices, out);
            } catch (const std::exception& e) {
                busy_ = false;
                emit explainFailed(ticket, QString::fromStdString(e.what()));
            }
        },
        Qt::QueuedConnection);
}

void EngineWorker::run(const vqa::Request& request) {
    busy_ = true;
    GenerationResult result;
    try {
        result = engine_->generate(
            request, [this](const TokenEvent& event) { emit token(event); }, &cancel_,
            [this](const Progress& p) { emit progress(QString::fromStdString(p.stage), p.fraction); });
    } catch (const std::exception& e) {
        result.stop = StopReason::Error;
        result.error = e.what();
    }
    busy_ = false;
    emit finished(result);
}

EngineThread::EngineThread(QObject* parent) : QObject(parent), worker_(new EngineWorker) {
    registerEngineMetaTypes();
    thread_.setObjectName("vqa-engine");
    worker_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
    thread_.start();
}

EngineThread::~EngineThread() {
    worker_->shutDown();
    thread_.quit();
    thread_.wait();
}

}  // namespace vqa
