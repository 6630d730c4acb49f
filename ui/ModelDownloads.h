// Runs Hub downloads (engine/hub/HubClient, plain C++) on a thread of their own, so the
// window stays responsive and the engine thread stays free to answer; reports progress,
// pause, completion and failure as signals on the GUI thread. One download at a time.
#pragma once

#include <QObject>
#include <QString>

#include <memory>
#include <vector>

#include "engine/hub/HubCache.h"
#include "engine/hub/HubClient.h"

class QThread;

namespace vqa::ui {

class ModelDownloads : public QObject {
    Q_OBJECT
public:
    enum class State { Idle, Running, Pausing, Paused, Failed, Done };

    explicit ModelDownloads(QObject* parent = nullptr);
    ~ModelDownloads() override;  // pauses a running download (it resumes next time) and joins

    // Starts, or resumes, fetching `repo_id` into the Hub cache. False (and failed()) when
    // another download is running or the id is not "org/name".
    bool start(const QString& repo_id);
    void pause();   // keeps what was fetched; start() again resumes with range requests
    void cancel();  // stops and deletes the partial files

    State state() const { return state_; }
    bool running() const { return state_ == State::Running || state_ == State::Pausing; }
    QString repo() const { return repo_; }
    const hub::DownloadProgress& lastProgress() const { return progress_; }
    QString lastError() const { return error_; }
    bool lastErrorWasOffline() const { return offline_; }

    // What the Hub cache holds now (reads the disk: cheap, a few directory listings).
    static std::vector<hub::CachedModel> cachedModels();
    static QString cacheDir();
    // What to call the model in a folder: for a Hub cache snapshot
    // (…/models--Org--Name/snapshots/<commit>) the repository's name, "Name", rather than the
    // commit hash the folder is named after; otherwise the folder's name.
    static QString displayName(const QString& model_dir);
    // "412 MB of 520 MB · 3.1 MB/s · model.safetensors"
    static QString describe(const hub::DownloadProgress& p);

signals:
    void progressChanged(const QString& repo);
    void stateChanged(const QString& repo);
    void finished(const QString& repo, const QString& snapshot_dir);
    void failed(const QString& repo, const QString& message, bool offline);
    void cancelled(const QString& repo);

private:
    void setState(State s);
    void onThreadDone(bool complete, const QString& snapshot, const QString& error, bool offline);
    void removePartialFiles(const QString& repo);

    std::shared_ptr<hub::HubClient> client_;
    QThread* thread_ = nullptr;
    State state_ = State::Idle;
    QString repo_;
    hub::DownloadProgress progress_;
    QString error_;
    bool offline_ = false;
    bool cancel_requested_ = false;
};

}  // namespace vqa::ui
