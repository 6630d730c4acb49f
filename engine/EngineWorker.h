// The one piece of the engine that knows Qt threading: an object that lives on a QThread,
// runs the Engine there, and turns its callbacks into queued signals for the UI.
#pragma once

#include <QObject>
#include <QString>
#include <QThread>

#include <atomic>
#include <memory>

#include "engine/Types.h"

namespace vqa {

class Engine;

class EngineWorker : public QObject {
    Q_OBJECT
public:
    explicit EngineWorker(QObject* parent = nullptr);
    ~EngineWorker() override;

    // Thread-safe: asks the running generation to stop at its next step.
    void cancel();
    bool busy() const { return busy_.load(); }
    // Thread-safe: clears an earlier cancel now and queues the request, so a cancel() made
    // after this call stops it even if the worker has not started it yet (submit() clears
    // the flag only when it starts, which would lose such a cancel).
    void post(const vqa::Request& request);

public slots:
    void loadModel(const QString& model_dir, const vqa::LoadOptions& options);
    void submit(const vqa::Request& request);

signals:
    void modelLoaded(const vqa::ModelInfo& info);
    void modelFailed(const QString& message);
    void progress(const QString& stage, double fraction);
    void token(const vqa::TokenEvent& event);
    void finished(const vqa::GenerationResult& result);

private:
    void run(const vqa::Request& request);

    std::unique_ptr<Engine> engine_;
    std::atomic<bool> cancel_{false};
    std::atomic<bool> busy_{false};
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
Q_DECLARE_METATYPE(vqa::Request)
Q_DECLARE_METATYPE(vqa::ModelInfo)
Q_DECLARE_METATYPE(vqa::TokenEvent)
Q_DECLARE_METATYPE(vqa::GenerationResult)
