#include "ui/SearchController.h"

#include <QDir>
#include <QFileInfo>
#include <QMetaObject>
#include <QSettings>

#include <algorithm>
#include <chrono>

#include "engine/library/LibraryDb.h"
#include "engine/retrieval/DualEncoder.h"
#include "engine/retrieval/ImageIndex.h"
#include "engine/library/ImageFiles.h"
#include "models/base/Error.h"

namespace vqa::ui {

namespace {

const QString kModelKey = QStringLiteral("search/model");

// A problem told to the user as it is, without the "Could not …:" of the engine's errors.
struct Sentence : Error {
    using Error::Error;
};

}  // namespace

// What lives on the search thread.
struct SearchController::State {
    std::unique_ptr<retrieval::DualEncoder> encoder;
    std::unique_ptr<library::LibraryDb> db;  // opened at the first use
    std::unique_ptr<retrieval::ImageIndex> index;

    retrieval::ImageIndex& openIndex(const std::string& library);
    retrieval::DualEncoder& model();  // throws when none is loaded
    QList<SearchResult> find(const std::string& library, const std::vector<float>& query, int limit);
};

SearchController::SearchController(const QString& library_path, QObject* parent)
    : QObject(parent),
      library_path_(library_path.isEmpty() ? QString::fromStdString(library::defaultLibraryPath()) : library_path),
      state_(std::make_unique<State>()) {
    qRegisterMetaType<vqa::ui::SearchResult>();
    qRegisterMetaType<QList<vqa::ui::SearchResult>>();
    qRegisterMetaType<vqa::ui::IndexProgress>();
    qRegisterMetaType<vqa::ui::IndexSummary>();
    qRegisterMetaType<QList<float>>();
    pool_.setMaxThreadCount(1);  // one at a time, in order
    pool_.setExpiryTimeout(-1);  // and always the same thread (the database's connection)
}

SearchController::~SearchController() {
    stopIndexing();
    pool_.clear();  // what has not started is dropped
    pool_.waitForDone();
    state_.reset();  // here, now that nothing runs on the search thread
}

QString SearchController::rememberedModel() {
    return QSettings().value(kModelKey).toString();
}

void SearchController::waitForIdle() {
    pool_.waitForDone();
}

void SearchController::post(std::function<void()> emitter) {
    QMetaObject::invokeMethod(this, std::move(emitter), Qt::QueuedConnection);
}

void SearchController::run(const QString& prefix, std::function<void(State&)> work) {
    pool_.start([this, prefix, work = std::move(work)] {
        try {
            work(*state_);
        } catch (const Sentence& e) {
            const QString message = QString::fromUtf8(e.what());
            post([this, message] { emit error(message); });
        } catch (const std::exception& e) {
            const QString message = prefix + QString::fromUtf8(e.what());
            post([this, message] { emit error(message); });
        }
    });
}

void SearchController::loadModel(const QString& folder) {
    ++loading_;
    emit modelLoading(folder);
    const std::string dir = QDir::cleanPath(QFileInfo(folder).absoluteFilePath()).toStdString();
    const std::string library = library_path_.toStdString();
    pool_.start([this, folder, dir, library] {
        try {
            // threads = 0: leave the process's thread count alone, the question engine shares it.
            auto encoder = retrieval::DualEncoder::load(dir, 0);
            const QString description = tr("%1, %2-dimensional vectors")
                                            .arg(encoder->family() == "siglip" ? QStringLiteral("SigLIP")
                                                                                : QStringLiteral("CLIP"))
                                            .arg(encoder->dim());
            state_->encoder = std::move(encoder);
            // The folders the library has indexed with this very model (here or by the CLI).
            QStringList known;
            try {
                for (const auto& f : state_->openIndex(library).folders(state_->encoder->modelId()))
                    known << QString::fromStdString(f.path);
            } catch (const std::exception&) {
                // The library's own problems are reported when it is used for indexing.
            }
            const QString loaded = QString::fromStdString(dir);
            post([this, loaded, description, known] {
                --loading_;
                model_folder_ = loaded;
                model_description_ = description;
                QSettings().setValue(kModelKey, loaded);
                emit modelLoaded(loaded, description, known);
            });
        } catch (const std::exception& e) {
            // The model loaded before stays: a wrong choice loses nothing.
            const QString message = tr("Could not load the search model from %1: %2")
                                        .arg(QDir::toNativeSeparators(folder), QString::fromUtf8(e.what()));
            post([this, message] {
                --loading_;
                emit error(message);
            });
        }
    });
}

retrieval::ImageIndex& SearchController::State::openIndex(const std::string& library) {
    if (!db)
        db = std::make_unique<library::LibraryDb>(library);
    if (!index)
        index = std::make_unique<retrieval::ImageIndex>(*db);
    return *index;
}

retrieval::DualEncoder& SearchController::State::model() {
    if (!encoder)
        throw Sentence(SearchController::tr("No model chosen. Choose a CLIP or SigLIP model folder first.").toStdString());
    return *encoder;
}

void SearchController::index(const QStringList& folders) {
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    {
        std::lock_guard lock(cancel_mutex_);
        cancels_.push_back(cancel);
    }
    ++indexing_;
    QStringList dirs;
    for (const QString& f : folders)
        dirs << QDir::cleanPath(QFileInfo(f).absoluteFilePath());
    const std::string library = library_path_.toStdString();
    pool_.start([this, cancel, dirs, library] {
        IndexSummary summary;
        summary.folders = dirs;
        QString failure;
        try {
            State& s = *state_;
            retrieval::DualEncoder& encoder = s.model();
            retrieval::ImageIndex& index = s.openIndex(library);
            // With several folders, the bar runs over all their files: each folder's count is
            // known before its run starts (listing is cheap next to embedding).
            std::vector<int> files(std::size_t(dirs.size()), 0);
            if (dirs.size() > 1)
                for (qsizetype i = 0; i < dirs.size(); ++i)
                    if (QFileInfo(dirs[i]).isDir())
                        files[std::size_t(i)] = int(library::listImageFiles({dirs[i].toStdString()}, true).size());
            const auto started = std::chrono::steady_clock::now();
            int before = 0;  // files of the folders done
            for (qsizetype i = 0; i < dirs.size() && !cancel->load(); ++i) {
                const QString& dir = dirs[i];
                if (!QFileInfo(dir).isDir()) {  // moved or deleted since it was added: the others go on
                    summary.failures.push_back({dir, tr("%1: the folder is not there any more").arg(QDir::toNativeSeparators(dir))});
                    ++summary.failed;
                    continue;
                }
                int after = 0;  // files of the folders still to come
                for (std::size_t j = std::size_t(i) + 1; j < files.size(); ++j)
                    after += files[j];
                auto progress = [&](const retrieval::IndexProgress& p) {
                    IndexProgress q;
                    q.done = before + p.done;
                    q.total = before + p.total + after;
                    q.current = QString::fromStdString(p.current);
                    q.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
                    // The folder's own estimate, and the folders to come at the pace it implies.
                    q.eta_s = p.eta_s;
                    if (p.eta_s > 0 && after > 0 && p.total > p.done)
                        q.eta_s += p.eta_s / (p.total - p.done) * after;
                    if (step_observer_)
                        step_observer_(q);
                    post([this, q] { emit indexProgress(q); });
                };
                const retrieval::IndexReport r = index.update(dir.toStdString(), encoder, progress, cancel.get());
                summary.added += r.added;
                summary.changed += r.changed;
                summary.reused += r.reused + r.unchanged;
                summary.removed += r.removed;
                summary.failed += int(r.failed.size());
                for (const auto& f : r.failed)
                    summary.failures.push_back({QString::fromStdString(f.path), QString::fromStdString(f.reason)});
                summary.cancelled = summary.cancelled || r.cancelled;
                before += r.files;
            }
            summary.cancelled = summary.cancelled || cancel->load();
        } catch (const Sentence& e) {
            failure = QString::fromUtf8(e.what());
        } catch (const std::exception& e) {
            failure = tr("Could not index: %1").arg(QString::fromUtf8(e.what()));
        }
        {
            std::lock_guard lock(cancel_mutex_);
            std::erase(cancels_, cancel);
        }
        post([this, summary, failure] {
            --indexing_;
            if (!failure.isEmpty())
                emit error(failure);
            else
                emit indexed(summary);
        });
    });
}

void SearchController::stopIndexing() {
    std::lock_guard lock(cancel_mutex_);
    for (const auto& c : cancels_)
        c->store(true);
}

void SearchController::removeFolder(const QString& folder) {
    const std::string dir = QDir::cleanPath(QFileInfo(folder).absoluteFilePath()).toStdString();
    const std::string library = library_path_.toStdString();
    run(tr("Could not forget the folder: "), [this, folder, dir, library](State& s) {
        s.openIndex(library).removeFolder(dir);  // every model's vectors of it
        post([this, folder] { emit folderRemoved(folder); });
    });
}

// The results, or the sentence an empty index deserves.
QList<SearchResult> SearchController::State::find(const std::string& library, const std::vector<float>& query,
                                                  int limit) {
    retrieval::ImageIndex& idx = openIndex(library);
    const std::string id = model().modelId();
    if (idx.count(id) == 0)
        throw Sentence(SearchController::tr("Nothing is indexed with this model yet. Index a folder first.").toStdString());
    QList<SearchResult> results;
    for (const auto& m : idx.search(id, query, limit))
        results.push_back({QString::fromStdString(m.path), m.score});
    return results;
}

void SearchController::search(const QString& text, int limit) {
    const quint64 ticket = ++latest_search_;
    const std::string library = library_path_.toStdString();
    run(tr("Could not search: "), [this, ticket, text, limit, library](State& s) {
        if (ticket != latest_search_)
            return;  // a newer text was asked for meanwhile: only its answer matters
        const std::vector<float> query = s.model().embedTexts({text.toStdString()});
        const QList<SearchResult> results = s.find(library, query, limit);
        post([this, ticket, text, results] {
            if (ticket == latest_search_)
                emit searched(text, results);
        });
    });
}

void SearchController::similarTo(const QString& query, std::function<std::vector<float>(State&)> vector, int limit) {
    const std::string library = library_path_.toStdString();
    run(tr("Could not find similar images: "), [this, query, vector = std::move(vector), limit, library](State& s) {
        // The image itself stays in the results, first with a score of 1: the anchor the rest
        // is measured against.
        const QList<SearchResult> results = s.find(library, vector(s), limit);
        post([this, query, results] { emit similarFound(query, results); });
    });
}

void SearchController::findSimilar(const QString& path, int limit) {
    const std::string file = QFileInfo(path).absoluteFilePath().toStdString();
    const std::string library = library_path_.toStdString();
    // The stored vector when the image is indexed and unchanged, else the file embedded.
    similarTo(path, [file, library](State& s) { return s.openIndex(library).imageVector(file, s.model()); }, limit);
}

void SearchController::findSimilar(std::shared_ptr<const RgbImage> image, const QString& name, int limit) {
    similarTo(name, [image](State& s) { return s.model().embedImages({*image}); }, limit);
}

void SearchController::scoreLabels(const QString& path, const QStringList& labels) {
    const std::string file = QFileInfo(path).absoluteFilePath().toStdString();
    const std::string library = library_path_.toStdString();
    run(tr("Could not score the labels: "), [this, path, file, labels, library](State& s) {
        std::vector<std::string> texts;
        for (const QString& l : labels)
            texts.push_back(l.toStdString());
        const std::vector<float> image = s.openIndex(library).imageVector(file, s.model());
        const std::vector<float> scores = s.model().labelScores(image, texts);
        const QList<float> list(scores.begin(), scores.end());
        post([this, path, labels, list] { emit labelsScored(path, labels, list); });
    });
}

}  // namespace vqa::ui
