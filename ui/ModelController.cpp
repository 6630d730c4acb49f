#include "ui/ModelController.h"

#include <QCoreApplication>
#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSettings>

#include "engine/EngineWorker.h"
#include "engine/hub/HubCache.h"
#include "engine/hub/KnownModels.h"
#include "ui/ModelDownloads.h"

namespace vqa::ui {
namespace {

QString formatBytes(std::int64_t bytes) {
    if (bytes >= (std::int64_t(1) << 30))
        return QString::number(bytes / double(1 << 30), 'f', 2) + " GiB";
    return QString::number(bytes / double(1 << 20), 'f', 0) + " MiB";
}

// Resident memory of this process, from /proc (Linux); -1 elsewhere.
std::int64_t residentBytes() {
    QFile f(QStringLiteral("/proc/self/status"));
    if (!f.open(QIODevice::ReadOnly))
        return -1;
    const QList<QByteArray> lines = f.readAll().split('\n');
    for (const QByteArray& line : lines) {
        if (line.startsWith("VmRSS:")) {
            const QList<QByteArray> parts = line.simplified().split(' ');
            if (parts.size() >= 2)
                return parts[1].toLongLong() * 1024;
        }
    }
    return -1;
}

}  // namespace

QString precisionText(const ModelInfo& m) {
    const QString dtype = QString::fromStdString(m.dtype);
    const QString vision = QString::fromStdString(m.vision_dtype);
    if (m.quantization.empty())
        return vision.isEmpty() || vision == dtype
                   ? dtype
                   : QCoreApplication::translate("ModelController", "%1, vision in %2").arg(dtype, vision);
    const bool eight = m.quantization == "q8_0";
    // A checkpoint that came quantized says by what: "4-bit AWQ weights (q4_1)".
    const QString bits = m.quantized_by.empty()
                             ? QCoreApplication::translate("ModelController", "%1-bit").arg(eight ? 8 : 4)
                             : QCoreApplication::translate("ModelController", "%1-bit %2")
                                   .arg(eight ? 8 : 4)
                                   .arg(QString::fromStdString(m.quantized_by).toUpper());
    if (!vision.isEmpty() && vision != dtype)
        return QCoreApplication::translate("ModelController", "%1 weights (%2), vision in %3, %4 elsewhere")
            .arg(bits, QString::fromStdString(m.quantization), vision, dtype);
    return QCoreApplication::translate("ModelController", "%1 weights (%2), %3 elsewhere")
        .arg(bits, QString::fromStdString(m.quantization), dtype);
}

QString shortPrecision(const ModelInfo& m) {
    if (!m.quantized_by.empty())
        return QString::fromStdString(m.quantized_by);
    if (m.quantization.empty())
        return !m.vision_dtype.empty() && m.vision_dtype != m.dtype ? QStringLiteral("fast")
                                                                    : QString::fromStdString(m.dtype);
    return m.quantization == "q8_0" ? QStringLiteral("int8") : m.quantization == "q4_0" ? QStringLiteral("int4")
                                                                                          : QString::fromStdString(m.quantization);
}

QString formatCount(std::int64_t n) {
    if (n >= 1'000'000'000)
        return QString::number(n / 1e9, 'f', 2) + " B";
    if (n >= 1'000'000)
        return QString::number(n / 1e6, 'f', 1) + " M";
    if (n >= 1'000)
        return QString::number(n / 1e3, 'f', 1) + " k";
    return QString::number(n);
}

ModelController::ModelController(EngineWorker* worker, QObject* parent)
    : QObject(parent), worker_(worker), downloads_(new ModelDownloads(this)) {
    connect(worker_, &EngineWorker::modelLoaded, this, &ModelController::handleLoaded);
    connect(worker_, &EngineWorker::modelFailed, this, &ModelController::handleFailed);
    connect(&memory_timer_, &QTimer::timeout, this, [this] { emit memoryChanged(memoryInUse()); });
    memory_timer_.start(2000);
    connectDownloads();
}

void ModelController::connectDownloads() {
    connect(downloads_, &ModelDownloads::progressChanged, this, [this] {
        const hub::DownloadProgress& p = downloads_->lastProgress();
        const QString text = downloads_->repo() + QStringLiteral(": ") + ModelDownloads::describe(p);
        emit downloadProgress(p.total > 0 ? double(p.bytes) / double(p.total) : -1.0, text);
        emit status(tr("Downloading %1").arg(text));
    });
    connect(downloads_, &ModelDownloads::stateChanged, this, [this] {
        const bool paused = downloads_->state() == ModelDownloads::State::Paused;
        emit downloadState(downloads_->running(), paused);
        if (paused) {
            const hub::DownloadProgress& p = downloads_->lastProgress();
            const QString text = tr("Paused %1 at %2 of %3. Resume continues where it stopped.")
                                     .arg(downloads_->repo(), QString::fromStdString(hub::formatBytes(p.bytes)),
                                          QString::fromStdString(hub::formatBytes(p.total)));
            emit downloadMessage(text, false);
            emit status(text);
        }
    });
    connect(downloads_, &ModelDownloads::finished, this, [this](const QString& repo, const QString& dir) {
        emit downloadMessage(tr("%1 is downloaded and checked. Loading it…").arg(repo), false);
        emit downloadState(false, false);
        emit downloaded(repo, dir);
    });
    connect(downloads_, &ModelDownloads::cancelled, this, [this](const QString& repo) {
        emit downloadCancelled();
        emit status(tr("Cancelled the download of %1.").arg(repo));
    });
    connect(downloads_, &ModelDownloads::failed, this, [this](const QString& repo, const QString& message,
                                                              bool offline) {
        emit downloadState(false, false);
        const QString text = offline ? tr("You seem to be offline: %1 could not be downloaded. %2").arg(repo, message)
                                     : tr("The download of %1 failed: %2").arg(repo, message);
        emit downloadMessage(text, true);
        emit status(text);
        emit downloadFailed(offline ? tr("Offline") : tr("Download failed"), text);
    });
}

QString ModelController::lastDir() { return QSettings().value("model/lastDir").toString(); }

QString ModelController::lastTried() {
    return QSettings().value("model/lastTried", QDir::homePath()).toString();
}

bool ModelController::load(const QString& model_dir, const LoadOptions& options) {
    if (loading_) {
        emit status(tr("A model is already loading; wait for it to finish."));
        return false;
    }
    loading_ = true;
    dir_ = QFileInfo(model_dir).absoluteFilePath();
    QSettings().setValue("model/lastTried", dir_);
    const LoadOptions chosen = optionsFor(dir_, options);
    const QString name = ModelDownloads::displayName(dir_);
    emit status(tr("Loading model %1…").arg(name));
    emit loadStarted(name);
    QMetaObject::invokeMethod(worker_, "loadModel", Qt::QueuedConnection, Q_ARG(QString, dir_),
                              Q_ARG(vqa::LoadOptions, chosen));
    return true;
}

bool ModelController::connectServer(const RemoteServer& server) {
    if (loading_) {
        emit status(tr("A model is already loading; wait for it to finish."));
        return false;
    }
    loading_ = true;
    dir_.clear();
    QSettings settings;
    settings.setValue("server/url", QString::fromStdString(server.base_url));
    settings.setValue("server/model", QString::fromStdString(server.model));
    const QString where = QString::fromStdString(server.base_url);
    emit status(tr("Connecting to %1…").arg(where));
    emit loadStarted(server.model.empty() ? where : QString::fromStdString(server.model));
    QMetaObject::invokeMethod(worker_, "connectServer", Qt::QueuedConnection, Q_ARG(vqa::RemoteServer, server));
    return true;
}

QString ModelController::lastServer() { return QSettings().value("server/url").toString(); }
QString ModelController::lastServerModel() { return QSettings().value("server/model").toString(); }

namespace {

// A settings key for a folder: its path (links resolved) hashed, as a path's slashes would be
// groups of the settings file.
QString precisionKey(const QString& dir) {
    const QFileInfo info(dir);
    const QString canonical = info.canonicalFilePath();
    const QByteArray path = (canonical.isEmpty() ? QDir::cleanPath(info.absoluteFilePath()) : canonical).toUtf8();
    return "modelPrecision/" + QString::fromLatin1(QCryptographicHash::hash(path, QCryptographicHash::Sha1).toHex());
}

}  // namespace

QString ModelController::precisionFor(const QString& dir) {
    return QSettings().value(precisionKey(dir)).toString();
}

void ModelController::rememberPrecision(const QString& dir, const QString& dtype) {
    QSettings().setValue(precisionKey(dir), dtype);
}

LoadOptions ModelController::optionsFor(const QString& dir, LoadOptions options) {
    const QString chosen = precisionFor(dir);
    if (!chosen.isEmpty())
        options.dtype = chosen.toStdString();
    return options;
}

void ModelController::handleLoaded(const ModelInfo& info) {
    loading_ = false;
    model_ = info;
    if (info.remote) {
        emit status((info.remote_attention ? tr("Connected to %1 on the VQA Studio server %2. Drop an image and ask away.")
                                           : tr("Connected to %1 on %2. Drop an image and ask away; heatmaps need a local "
                                                "model."))
                        .arg(name(), QString::fromStdString(info.path)));
        emit loaded(info);
        return;
    }
    if (dir_.isEmpty())
        dir_ = QString::fromStdString(info.path);
    QSettings().setValue("model/lastDir", dir_);
    emit status(tr("Model %1 loaded (%2 parameters, %3 on %4). Drop an image and ask away.")
                    .arg(name(), formatCount(info.parameters), precisionText(info), QString::fromStdString(info.device)));
    emit loaded(info);
}

void ModelController::handleFailed(const QString& message) {
    loading_ = false;
    QString text = message;
    if (model_)
        text += "\n\n" + tr("The model loaded before, %1, is still loaded and ready.").arg(name());
    emit loadFailed(message, text);
}

QString ModelController::name() const {
    if (!model_)
        return {};
    if (model_->remote)
        return QString::fromStdString(model_->name);
    const QString dir = model_->path.empty() ? dir_ : QString::fromStdString(model_->path);
    return dir.isEmpty() ? QString::fromStdString(model_->name) : ModelDownloads::displayName(dir);
}

QString ModelController::infoText() const {
    if (!model_)
        return tr("No model is loaded.");
    const ModelInfo& m = *model_;
    if (m.remote && m.remote_attention)
        return tr("Name: %1\nServer: %2 (VQA Studio)\nAnswers come from the server with their attention, so "
                  "heatmaps work as with a local model; relevancy needs a local model.")
            .arg(name(), QString::fromStdString(m.path));
    if (m.remote)
        return tr("Name: %1\nServer: %2\nAnswers come from the server. A third-party server sends no attention, "
                  "so there are no heatmaps or relevancy: open a local model (or connect to a VQA Studio server) "
                  "for them.")
            .arg(name(), QString::fromStdString(m.path));
    return tr("Name: %1\nFamily: %2\nParameters: %3\nPrecision: %4\nDevice: %5\nWeights in memory: %6\nFolder: %7")
        .arg(name(), QString::fromStdString(m.family), formatCount(m.parameters), precisionText(m),
             QString::fromStdString(m.device), formatBytes(m.weight_bytes),
             QDir::toNativeSeparators(QString::fromStdString(m.path)));
}

// From the model folder's config.json: the decoder's layers and heads (for the explanation
// bar's ranges).
std::pair<int, int> ModelController::decoderShape() const {
    if (!model_ || model_->remote)
        return {0, 0};
    QFile f((model_->path.empty() ? dir_ : QString::fromStdString(model_->path)) + QStringLiteral("/config.json"));
    if (!f.open(QIODevice::ReadOnly))
        return {0, 0};
    const QJsonObject root = QJsonDocument::fromJson(f.readAll()).object();
    const QJsonObject text = root.contains("text_config") ? root["text_config"].toObject() : root;
    return {text["num_hidden_layers"].toInt(), text["num_attention_heads"].toInt()};
}

QString ModelController::recommendedCached() {
    QString cached;
    for (const auto& m : hub::knownModels())
        if (m.recommended)
            if (const auto snap = hub::cachedSnapshot(m.repo_id))
                cached = QString::fromStdString(snap->string());
    return cached;
}

QString ModelController::memoryInUse() {
    const std::int64_t rss = residentBytes();
    return rss < 0 ? QString() : tr("%1 in use").arg(formatBytes(rss));
}

}  // namespace vqa::ui
