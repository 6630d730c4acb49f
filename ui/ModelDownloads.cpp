#include "ui/ModelDownloads.h"

#include <QDir>
#include <QThread>

#include <filesystem>

#include "engine/hub/KnownModels.h"

namespace vqa::ui {

ModelDownloads::ModelDownloads(QObject* parent) : QObject(parent) {}

ModelDownloads::~ModelDownloads() {
    if (thread_) {
        if (client_)
            client_->requestPause();
        thread_->wait();
        delete thread_;
    }
}

QString ModelDownloads::cacheDir() { return QString::fromStdString(hub::defaultCacheDir().string()); }

std::vector<hub::CachedModel> ModelDownloads::cachedModels() {
    try {
        return hub::listCachedModels(hub::defaultCacheDir());
    } catch (const std::exception&) {
        return {};  // an unreadable cache lists nothing; downloads report the problem
    }
}

QString ModelDownloads::displayName(const QString& model_dir) {
    const QStringList parts = QDir::cleanPath(model_dir).split(QLatin1Char('/'), Qt::SkipEmptyParts);
    if (parts.size() >= 3 && parts[parts.size() - 2] == QLatin1String("snapshots")) {
        const QStringList repo = parts[parts.size() - 3].split(QStringLiteral("--"));  // models, Org, Name
        if (repo.size() >= 3 && repo.front() == QLatin1String("models") && !repo.back().isEmpty())
            return repo.back();
    }
    return parts.isEmpty() ? model_dir : parts.back();
}

QString ModelDownloads::describe(const hub::DownloadProgress& p) {
    using P = hub::DownloadProgress::Phase;
    if (p.phase == P::Listing)
        return tr("Asking the Hub for the list of files…");
    QString text = p.total > 0 ? tr("%1 of %2").arg(QString::fromStdString(hub::formatBytes(p.bytes)),
                                                    QString::fromStdString(hub::formatBytes(p.total)))
                               : QString::fromStdString(hub::formatBytes(p.bytes));
    if (p.bytes_per_second > 0)
        text += QStringLiteral(" · %1/s").arg(QString::fromStdString(hub::formatBytes(std::uint64_t(p.bytes_per_second))));
    if (p.phase == P::Verifying)
        text += tr(" · checking %1").arg(QString::fromStdString(p.file));
    else if (!p.file.empty() && p.phase == P::Downloading)
        text += QStringLiteral(" · %1").arg(QString::fromStdString(p.file));
    return text;
}

void ModelDownloads::setState(State s) {
    state_ = s;
    emit stateChanged(repo_);
}

bool ModelDownloads::start(const QString& repo_id) {
    const QString id = repo_id.trimmed();
    if (running()) {
        emit failed(id, tr("%1 is still downloading; pause or cancel it first.").arg(repo_), false);
        return false;
    }
    try {
        hub::validateRepoId(id.toStdString());
    } catch (const std::exception& e) {
        emit failed(id, QString::fromUtf8(e.what()), false);
        return false;
    }
    if (thread_) {  // a finished thread from before
        thread_->wait();
        delete thread_;
        thread_ = nullptr;
    }
    repo_ = id;
    error_.clear();
    offline_ = false;
    cancel_requested_ = false;
    progress_ = {};
    // A fresh client per download: it reads the endpoint, cache and token from the
    // environment as it is now, and its pause flag starts cleared.
    client_ = std::make_shared<hub::HubClient>();
    auto client = client_;
    const std::string repo = id.toStdString();
    thread_ = QThread::create([this, client, repo] {
        bool complete = false, offline = false;
        QString snapshot, error;
        try {
            const hub::DownloadResult r = client->download(repo, "main", [this](const hub::DownloadProgress& p) {
                QMetaObject::invokeMethod(
                    this,
                    [this, p] {
                        if (!running())
                            return;
                        progress_ = p;
                        emit progressChanged(repo_);
                    },
                    Qt::QueuedConnection);
            });
            complete = r.complete;
            snapshot = QString::fromStdString(r.snapshot.string());
        } catch (const hub::HubOfflineError& e) {
            offline = true;
            error = QString::fromUtf8(e.what());
        } catch (const std::exception& e) {
            error = QString::fromUtf8(e.what());
        }
        QMetaObject::invokeMethod(
            this, [this, complete, snapshot, error, offline] { onThreadDone(complete, snapshot, error, offline); },
            Qt::QueuedConnection);
    });
    thread_->setObjectName(QStringLiteral("vqa-download"));
    setState(State::Running);
    thread_->start();
    return true;
}

void ModelDownloads::pause() {
    if (state_ != State::Running)
        return;
    client_->requestPause();
    setState(State::Pausing);
}

void ModelDownloads::cancel() {
    if (running()) {
        cancel_requested_ = true;
        client_->requestPause();
        setState(State::Pausing);
        return;
    }
    if (state_ == State::Paused || state_ == State::Failed) {
        removePartialFiles(repo_);
        progress_ = {};
        setState(State::Idle);
        emit cancelled(repo_);
    }
}

void ModelDownloads::removePartialFiles(const QString& repo) {
    try {
        const std::filesystem::path blobs =
            hub::defaultCacheDir() / hub::repoFolderName(repo.toStdString()) / "blobs";
        QDir dir(QString::fromStdString(blobs.string()));
        for (const QString& name : dir.entryList({QStringLiteral("*.incomplete")}, QDir::Files))
            dir.remove(name);
    } catch (const std::exception&) {
        // Nothing to remove for an id that is not "org/name".
    }
}

void ModelDownloads::onThreadDone(bool complete, const QString& snapshot, const QString& error, bool offline) {
    if (thread_) {
        thread_->wait();
        delete thread_;
        thread_ = nullptr;
    }
    if (cancel_requested_) {
        cancel_requested_ = false;
        removePartialFiles(repo_);
        progress_ = {};
        setState(State::Idle);
        emit cancelled(repo_);
        return;
    }
    if (!error.isEmpty()) {
        error_ = error;
        offline_ = offline;
        setState(State::Failed);
        emit failed(repo_, error, offline);
        return;
    }
    if (!complete) {
        setState(State::Paused);
        return;
    }
    progress_.phase = hub::DownloadProgress::Phase::Done;
    progress_.bytes = progress_.total;
    setState(State::Done);
    emit finished(repo_, snapshot);
}

}  // namespace vqa::ui
