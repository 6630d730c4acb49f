// Tools ▸ Search Images…'s engine side, without widgets: a dual encoder (CLIP or SigLIP,
// engine/retrieval/DualEncoder) and the index of folders' image vectors kept in the library
// database (engine/retrieval/ImageIndex). Both live on ONE background thread, as the library
// does in LibraryStore: every call is queued there and runs in the order made, and its answer
// comes back as a signal on the GUI thread. Nothing heavy ever runs on the GUI thread: loading
// the model, reading the folders, decoding and embedding images, searching.
//
// Indexing reports its progress (done of total, the file at hand, the time left) and stops
// between two images when asked; what it finished is kept, so the next run goes on from
// there. A search asked while an older one still waits in the queue replaces it: only the
// latest text's results come back. The model folder is remembered (QSettings, "search/model").
#pragma once

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QString>
#include <QStringList>
#include <QThreadPool>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/Types.h"

namespace vqa::retrieval {
class DualEncoder;
class ImageIndex;
}  // namespace vqa::retrieval

namespace vqa::library {
class LibraryDb;
}

namespace vqa::ui {

// One image found: its file and how well it matches (the cosine of the two vectors).
struct SearchResult {
    QString path;
    float score = 0;
};

struct IndexProgress {
    int done = 0;   // images of this run seen so far (embedded, reused or failed)
    int total = 0;  // images in the folders of this run
    QString current;  // the file being read now
    double elapsed_s = 0;
    double eta_s = -1;  // -1: not known yet
};

// What one run of indexing did, over all its folders.
struct IndexSummary {
    int added = 0;     // new images embedded
    int changed = 0;   // files whose content changed, embedded again
    int reused = 0;    // unchanged images whose vectors were kept
    int removed = 0;   // files gone from the folders, dropped from the index
    int failed = 0;    // images that could not be read (failures says why)
    bool cancelled = false;  // stopped: what was finished is kept
    QStringList folders;
    QList<QPair<QString, QString>> failures;  // path, reason
};

class SearchController : public QObject {
    Q_OBJECT
public:
    // `library_path` empty: the user's library (library::defaultLibraryPath()).
    explicit SearchController(const QString& library_path = {}, QObject* parent = nullptr);
    ~SearchController() override;  // stops an indexing run and waits for the work in flight

    QString libraryPath() const { return library_path_; }

    // The remembered model folder (empty when none was ever loaded).
    static QString rememberedModel();

    // Loads `folder` as the dual encoder (modelLoaded or error follows). The index's vectors
    // are those of this model: another model's are never mixed in.
    void loadModel(const QString& folder);
    bool hasModel() const { return !model_folder_.isEmpty(); }
    bool isLoading() const { return loading_ > 0; }
    QString modelFolder() const { return model_folder_; }
    QString modelDescription() const { return model_description_; }

    // Brings the index of `folders` up to date with the loaded model: indexProgress, then
    // indexed. Images already embedded and unchanged are reused.
    void index(const QStringList& folders);
    // Stops the run in progress (and any queued) between two images; indexed follows with
    // cancelled set. Safe to call from any thread (the tests call it from a progress signal).
    void stopIndexing();
    bool isIndexing() const { return indexing_ > 0; }
    // Forgets the vectors of `folder`'s images (all models).
    void removeFolder(const QString& folder);

    // The indexed images best matching `text`, best first (searched follows, for the latest
    // text only). `limit` <= 0: all.
    void search(const QString& text, int limit = 100);
    // The indexed images most like the image in `path` (an indexed file, or any image file),
    // best first (similarFound follows).
    void findSimilar(const QString& path, int limit = 100);
    // The same for pixels with no file behind them (a pasted image); `name` names it.
    void findSimilar(std::shared_ptr<const RgbImage> image, const QString& name, int limit = 100);
    // How well each label describes the image in `path` (labelsScored follows): CLIP's
    // softmax over the labels, SigLIP's independent sigmoid of each.
    void scoreLabels(const QString& path, const QStringList& labels);

    // Tests: returns once everything asked so far is done (its signals are still queued).
    void waitForIdle();
    // Tests: called on the search thread at every step of an indexing run, before the window
    // hears of it; a test holds or stops a run at a known step with it. Set it while idle.
    void setStepObserver(std::function<void(const IndexProgress&)> observer) { step_observer_ = std::move(observer); }

signals:
    void modelLoading(const QString& folder);
    // `indexed_folders`: the folders the library has indexed with this model.
    void modelLoaded(const QString& folder, const QString& description, const QStringList& indexed_folders);
    void indexProgress(const vqa::ui::IndexProgress& progress);
    void indexed(const vqa::ui::IndexSummary& summary);
    void folderRemoved(const QString& folder);
    void searched(const QString& text, const QList<vqa::ui::SearchResult>& results);
    // `query` is the path of the image searched by, or the name given with its pixels.
    void similarFound(const QString& query, const QList<vqa::ui::SearchResult>& results);
    void labelsScored(const QString& path, const QStringList& labels, const QList<float>& scores);
    // Something asked could not be done; the engine's message, in a sentence.
    void error(const QString& message);

private:
    struct State;
    // Runs `work` on the search thread; an exception becomes error(prefix + its message).
    void run(const QString& prefix, std::function<void(State&)> work);
    // Calls `emitter` on the GUI thread.
    void post(std::function<void()> emitter);
    void similarTo(const QString& query, std::function<std::vector<float>(State&)> vector, int limit);

    QString library_path_;
    QThreadPool pool_;
    // GUI thread only:
    QString model_folder_;
    QString model_description_;
    int loading_ = 0;  // loads asked for and not answered yet
    int indexing_ = 0;
    // Shared with the search thread:
    std::atomic<quint64> latest_search_{0};
    std::mutex cancel_mutex_;
    std::vector<std::shared_ptr<std::atomic<bool>>> cancels_;  // of the runs asked for, not ended
    std::function<void(const IndexProgress&)> step_observer_;
    // The search thread only:
    std::unique_ptr<State> state_;
};

}  // namespace vqa::ui

Q_DECLARE_METATYPE(vqa::ui::SearchResult)
Q_DECLARE_METATYPE(vqa::ui::IndexProgress)
Q_DECLARE_METATYPE(vqa::ui::IndexSummary)
