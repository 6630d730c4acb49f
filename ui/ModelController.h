// The model: loading one from a folder on the engine's thread, which one is loaded (its
// ModelInfo and folder), what to call it and what to say about it, the downloads from the Hub
// that bring one (ModelDownloads, told as the first-run page shows them), and the memory the
// process uses. No widgets: the window shows what it reports.
#pragma once

#include <QObject>
#include <QString>
#include <QTimer>

#include <optional>
#include <utility>

#include "engine/Types.h"

namespace vqa {
class EngineWorker;
}

namespace vqa::ui {

class ModelDownloads;

class ModelController : public QObject {
    Q_OBJECT
public:
    explicit ModelController(EngineWorker* worker, QObject* parent = nullptr);

    // Starts loading `model_dir` on the worker; false (and status) while another loads. The
    // precision chosen for that folder (Model ▸ Precision…), when there is one, replaces
    // options.dtype: see optionsFor().
    bool load(const QString& model_dir, const LoadOptions& options);
    // Connects to a model on an OpenAI-compatible server on the worker (Model ▸ Connect to a
    // Server…); reports like load(). Remembers the address and model, never the API key.
    bool connectServer(const RemoteServer& server);
    static QString lastServer();      // the address of the last server connected
    static QString lastServerModel(); // and its model
    // The precision ("int4", "bfloat16", ...) chosen for the model folder `dir`, remembered
    // across runs; empty when none was chosen (Settings' default then applies).
    static QString precisionFor(const QString& dir);
    static void rememberPrecision(const QString& dir, const QString& dtype);
    // `options` with the remembered precision of `dir`, if any.
    static LoadOptions optionsFor(const QString& dir, LoadOptions options);
    static QString lastDir();    // the folder of the last successful load
    static QString lastTried();  // the folder of the last load started

    bool hasModel() const { return model_.has_value(); }
    bool isRemote() const { return model_ && model_->remote; }
    // Answers come without attention (a third-party server): no heatmaps.
    bool lacksAttention() const { return isRemote() && !model_->remote_attention; }
    bool isLoading() const { return loading_; }
    const std::optional<ModelInfo>& info() const { return model_; }
    QString name() const;  // what the window calls the loaded model
    QString infoText() const;
    QString dir() const { return dir_; }  // the loaded (or loading) model's folder
    // Decoder layers and attention heads of the loaded model (0 when unknown).
    std::pair<int, int> decoderShape() const;
    ModelDownloads* downloads() const { return downloads_; }
    // The recommended model's folder when the Hub cache holds it already (else empty).
    static QString recommendedCached();
    // Memory the process uses, as the status bar says it ("412 MiB in use"; empty if unknown).
    static QString memoryInUse();

public slots:
    // What the worker reports after load (tests may call them to stand in for it).
    void handleLoaded(const vqa::ModelInfo& info);
    void handleFailed(const QString& message);

signals:
    void loadStarted(const QString& name);
    void loaded(const vqa::ModelInfo& info);
    // `message` is the worker's; `explanation` adds whether an earlier model is still there.
    void loadFailed(const QString& message, const QString& explanation);
    void memoryChanged(const QString& text);  // every two seconds
    // A download's course, as the first-run page shows it (fraction < 0: unknown).
    void downloadProgress(double fraction, const QString& text);
    void downloadState(bool running, bool paused);
    void downloadMessage(const QString& text, bool error);
    void downloadCancelled();
    void downloaded(const QString& repo, const QString& model_dir);  // complete and checked: ready to load
    void downloadFailed(const QString& title, const QString& message);
    void status(const QString& text);

private:
    void connectDownloads();

    EngineWorker* worker_;
    ModelDownloads* downloads_;
    std::optional<ModelInfo> model_;
    bool loading_ = false;
    QString dir_;
    QTimer memory_timer_;
};

// "256.5 M", "1.2 k"
QString formatCount(std::int64_t n);
// The precision a model runs in: "float32", or "4-bit weights (q4_0), float32 elsewhere"
// (precisionText); "float32" or "int4" (shortPrecision, for the status bar).
QString precisionText(const ModelInfo& m);
QString shortPrecision(const ModelInfo& m);

}  // namespace vqa::ui
