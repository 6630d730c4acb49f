// Tools ▸ Search Images… against the real engine on the reference script's small random CLIP
// (make_dual.py: <build>/reference/dual/clip/model) and its twelve generated shapes: a folder
// indexed into a temporary library with its progress to the end and a broken file reported;
// a text search ranking all twelve, best first; find-similar (by a path, an unindexed copy, a
// dropped file) ranking the query image first; zero-shot labels; Stop during indexing at a
// known step, keeping what was written; a newer search replacing one still queued; a folder
// that is not a dual encoder, and an empty index, saying so; the menu, its shortcut, and a
// result opening in the main window. Every wait is on a signal or a state, never on time.
// Screenshot in the artifacts folder.
#include <QAction>
#include <QApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMenuBar>
#include <QMimeData>
#include <QProgressBar>
#include <QSemaphore>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QUrl>

#include <atomic>
#include <numeric>

#include "tests/ui/UiTestSupport.h"
#include "ui/ImageSet.h"
#include "ui/MainWindow.h"
#include "ui/SearchController.h"
#include "ui/SearchWindow.h"

using vqa::ui::IndexProgress;
using vqa::ui::IndexSummary;
using vqa::ui::SearchController;
using vqa::ui::SearchWindow;

namespace {

// $VQA_TEST_DUAL: another folder laid out as make_dual.py writes it.
const QString kDual = qEnvironmentVariable("VQA_TEST_DUAL", QStringLiteral(VQA_BINARY_DIR "/reference/dual"));
const QString kClip = kDual + "/clip/model";
constexpr int kWait = 120000;  // generous: a loaded machine, a sanitizer build

void collectShortcuts(QMenu* menu, QList<QKeySequence>& out) {
    for (QAction* a : menu->actions()) {
        if (a->menu())
            collectShortcuts(a->menu(), out);
        out << a->shortcuts();
    }
}

}  // namespace

class TestSearch : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;
    QTemporaryDir tmp_;
    std::unique_ptr<SearchWindow> window_;
    QStringList shapes_;  // the twelve images in photos/

    QString photo(int i) const { return tmp_.filePath("photos/" + shapes_[i]); }

    // Index the window's folders to the end; the summary.
    IndexSummary indexAll(SearchWindow* w, QList<IndexProgress>* steps = nullptr) {
        QSignalSpy progress(w->controller(), &SearchController::indexProgress);
        QSignalSpy indexed(w->controller(), &SearchController::indexed);
        w->indexFolders();
        if (!w->controller()->isIndexing() || !indexed.wait(kWait))
            return {};
        if (steps)
            for (const auto& args : progress)
                steps->push_back(args.first().value<IndexProgress>());
        return indexed.first().first().value<IndexSummary>();
    }

    bool waitForResults(SearchWindow* w, const std::function<void()>& ask) {
        QSignalSpy shown(w, &SearchWindow::resultsShown);
        ask();
        return shown.wait(kWait);
    }

private slots:
    void initTestCase() {
        vqa::test::isolateSettings(settings_dir_.path());
        const QStringList images = QDir(kDual + "/images").entryList({"*.png"}, QDir::Files, QDir::Name);
        if (!QFile::exists(kClip + "/config.json") || images.size() != 12)
            QSKIP("no dual-encoder reference data: tests/reference/make_dual.py writes <build>/reference/dual");
        shapes_ = images;
        QVERIFY(QDir().mkpath(tmp_.filePath("photos")));
        for (const QString& name : images)
            QVERIFY(QFile::copy(kDual + "/images/" + name, tmp_.filePath("photos/" + name)));
        QFile broken(tmp_.filePath("photos/zz_broken.png"));
        QVERIFY(broken.open(QIODevice::WriteOnly));
        broken.write("\x89PNG\r\n\x1a\nthis is not the rest of a picture");
        broken.close();
        // Twelve other pictures (their own content: nothing to reuse) for the Stop test.
        QVERIFY(QDir().mkpath(tmp_.filePath("more")));
        for (int i = 0; i < 12; ++i)
            QVERIFY(vqa::test::sceneImage(120 + 8 * i, 90 + 4 * i).save(tmp_.filePath(QStringLiteral("more/scene%1.png").arg(i, 2, 10, QChar('0')))));
        QVERIFY(QDir().mkpath(tmp_.filePath("hold")));
        for (int i = 0; i < 3; ++i)
            QVERIFY(vqa::test::sceneImage(64 + 16 * i, 64).save(tmp_.filePath(QStringLiteral("hold/h%1.png").arg(i))));
        window_ = std::make_unique<SearchWindow>(tmp_.filePath("library.db"));
        window_->show();
    }

    void withoutAModelItSaysSo() {
        QVERIFY(!window_->controller()->hasModel());
        window_->setQuery("a red circle");
        window_->searchNow();
        QVERIFY2(window_->statusText().startsWith("No model chosen"), qPrintable(window_->statusText()));
    }

    void aFolderThatIsNotADualEncoderSaysWhy() {
        QVERIFY(QDir().mkpath(tmp_.filePath("llm")));
        QFile config(tmp_.filePath("llm/config.json"));
        QVERIFY(config.open(QIODevice::WriteOnly));
        config.write(R"({"model_type": "llama", "hidden_size": 64})");
        config.close();
        QSignalSpy error(window_->controller(), &SearchController::error);
        window_->setModelFolder(tmp_.filePath("llm"));
        QVERIFY(error.wait(kWait));
        const QString message = error.first().first().toString();
        QVERIFY2(message.startsWith("Could not load the search model from"), qPrintable(message));
        QVERIFY2(message.contains("model_type is 'llama', not a dual encoder"), qPrintable(message));
        QCOMPARE(window_->statusText(), message);
        QVERIFY(!window_->controller()->hasModel());
    }

    void anEmptyIndexSaysIndexAFolderFirst() {
        QSignalSpy loaded(window_->controller(), &SearchController::modelLoaded);
        QSignalSpy failed(window_->controller(), &SearchController::error);
        window_->setModelFolder(kClip);
        QVERIFY(vqa::test::waitInEventLoop([&] { return loaded.count() + failed.count() > 0; }, kWait));
        QVERIFY2(failed.isEmpty(), qPrintable(window_->statusText()));
        QVERIFY(window_->controller()->hasModel());
        QCOMPARE(SearchController::rememberedModel(), QDir::cleanPath(kClip));
        QSignalSpy error(window_->controller(), &SearchController::error);
        window_->setQuery("a red circle");
        window_->searchNow();
        QVERIFY(error.wait(kWait));
        QVERIFY2(window_->statusText().contains("Index a folder first"), qPrintable(window_->statusText()));
    }

    void indexesAFolderToTheEndAndReportsTheBrokenFile() {
        window_->addFolder(tmp_.filePath("photos"));
        QCOMPARE(window_->folders(), QStringList{QDir::cleanPath(tmp_.filePath("photos"))});
        window_->setQuery({});
        QList<IndexProgress> steps;
        const IndexSummary s = indexAll(window_.get(), &steps);
        QVERIFY2(!s.folders.isEmpty(), qPrintable(window_->statusText()));
        QVERIFY(!s.cancelled);
        QCOMPARE(s.added, 12);
        QCOMPARE(s.failed, 1);
        QCOMPARE(s.failures.size(), 1);
        QVERIFY(s.failures.first().first.endsWith("zz_broken.png"));
        // Each file was announced as it was read, and the last step is the end.
        QVERIFY(steps.size() >= 13);
        QCOMPARE(steps.last().done, 13);
        QCOMPARE(steps.last().total, 13);
        QVERIFY(steps.first().current.endsWith(shapes_.first()));
        QCOMPARE(window_->progressBar()->value(), window_->progressBar()->maximum());
        QVERIFY(window_->timeText().contains("elapsed"));
        QCOMPARE(window_->skippedFiles().size(), 1);
        QVERIFY2(window_->skippedFiles().first().startsWith("zz_broken.png"), qPrintable(window_->skippedFiles().first()));
        QVERIFY2(window_->statusText().contains("12 images in the index: 12 new"), qPrintable(window_->statusText()));
        QVERIFY2(window_->statusText().contains("1 could not be read"), qPrintable(window_->statusText()));
    }

    void aTextSearchRanksEveryImageBestFirst() {
        // As typed: the search starts after the pause.
        QVERIFY(waitForResults(window_.get(), [&] { window_->setQuery("a red circle"); }));
        const QStringList paths = window_->resultPaths();
        const QList<float> scores = window_->resultScores();
        QCOMPARE(paths.size(), 12);
        QStringList sorted = paths;
        sorted.sort();
        QStringList expected;
        for (int i = 0; i < 12; ++i)
            expected << QDir::cleanPath(photo(i));
        QCOMPARE(sorted, expected);
        for (int i = 1; i < scores.size(); ++i)
            QVERIFY2(scores[i - 1] >= scores[i], qPrintable(QStringLiteral("%1 < %2 at %3").arg(scores[i - 1]).arg(scores[i]).arg(i)));
        QVERIFY(scores.first() > scores.last());  // a random model, but not a constant one
        QVERIFY2(window_->statusText().startsWith("12 images for “a red circle”, best first"), qPrintable(window_->statusText()));
        // The thumbnails come from another thread, and then the picture is worth keeping.
        QVERIFY(vqa::test::waitInEventLoop([&] { return window_->thumbnailsShown() == 12; }, kWait));
        QVERIFY(window_->grab().save(vqa::test::artifactsDir() + "/search.png"));
        // Enter searches at once.
        QVERIFY(waitForResults(window_.get(), [&] {
            window_->setQuery("a blue square");
            window_->searchNow();
        }));
        QCOMPARE(window_->resultPaths().size(), 12);
    }

    void findSimilarPutsTheImageItselfFirst() {
        const QString query = QDir::cleanPath(photo(4));
        QVERIFY(waitForResults(window_.get(), [&] { window_->findSimilar(query); }));
        QCOMPARE(window_->resultPaths().size(), 12);
        QCOMPARE(window_->resultPaths().first(), query);
        QVERIFY(window_->resultScores().first() > 0.999f);
        // From a selected result.
        window_->resultList()->setCurrentRow(5);
        const QString fifth = window_->resultPaths()[5];
        QVERIFY(waitForResults(window_.get(), [&] { window_->findSimilarToSelected(); }));
        QCOMPARE(window_->resultPaths().first(), fifth);
        // Any image file, not indexed: a copy of one finds the original first.
        QVERIFY(QFile::copy(photo(7), tmp_.filePath("copy.png")));
        QVERIFY(waitForResults(window_.get(), [&] { window_->findSimilar(tmp_.filePath("copy.png")); }));
        QCOMPARE(window_->resultPaths().first(), QDir::cleanPath(photo(7)));
        QVERIFY(window_->resultScores().first() > 0.999f);
        // Pixels with no file (a pasted image).
        auto rgb = std::make_shared<vqa::RgbImage>();
        {
            QImage image(photo(9));
            image = image.convertToFormat(QImage::Format_RGB888);
            rgb->width = image.width();
            rgb->height = image.height();
            for (int y = 0; y < image.height(); ++y)
                rgb->pixels.insert(rgb->pixels.end(), image.constScanLine(y), image.constScanLine(y) + 3 * image.width());
        }
        QVERIFY(waitForResults(window_.get(), [&] { window_->findSimilarTo(rgb, "pasted image"); }));
        QCOMPARE(window_->resultPaths().first(), QDir::cleanPath(photo(9)));
        // An image file dropped on the window.
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(photo(2))});
        const QPoint pos = window_->rect().center();
        QDragEnterEvent enter(pos, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(window_.get(), &enter);
        QVERIFY(enter.isAccepted());
        QVERIFY(waitForResults(window_.get(), [&] {
            QDropEvent drop(QPointF(pos), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
            QApplication::sendEvent(window_.get(), &drop);
        }));
        QCOMPARE(window_->resultPaths().first(), QDir::cleanPath(photo(2)));
    }

    void labelsAreScoredForTheSelectedImage() {
        window_->resultList()->setCurrentRow(0);
        auto* label_edit = window_->findChild<QLineEdit*>("labels");
        QVERIFY(label_edit);
        label_edit->setText("a red circle, a blue square, a green triangle");
        QSignalSpy scored(window_->controller(), &SearchController::labelsScored);
        window_->scoreLabels();
        QVERIFY(scored.wait(kWait));
        const auto scores = scored.first().at(2).value<QList<float>>();
        QCOMPARE(scores.size(), 3);
        // CLIP: a softmax over the labels.
        QVERIFY(std::abs(std::accumulate(scores.begin(), scores.end(), 0.0f) - 1.0f) < 1e-4f);
        for (const char* l : {"a red circle", "a blue square", "a green triangle"})
            QVERIFY2(window_->labelText().contains(l), qPrintable(window_->labelText()));
    }

    void aResultOpensForQuestions() {
        QSignalSpy open(window_.get(), &SearchWindow::openImageRequested);
        QVERIFY(window_->resultList()->count() >= 4);
        window_->resultList()->setCurrentRow(3);
        const QString path = window_->resultPaths()[3];
        window_->askAboutSelected();
        QCOMPARE(open.count(), 1);
        QCOMPARE(open.first().first().toString(), path);
        emit window_->resultList()->itemDoubleClicked(window_->resultList()->item(1));
        QCOMPARE(open.count(), 2);
        QCOMPARE(open.last().first().toString(), window_->resultPaths()[1]);
    }

    void stopKeepsWhatWasIndexedAndIndexGoesOn() {
        window_->setQuery({});
        window_->addFolder(tmp_.filePath("more"));
        // Stop at a known step: the first one after a batch was written, on the search thread
        // itself, so the run cannot have ended before the stop arrives.
        std::atomic<int> first_done{-1};
        SearchController* c = window_->controller();
        c->setStepObserver([&](const IndexProgress& p) {
            if (p.current.isEmpty())
                return;
            int expected = -1;
            if (first_done.compare_exchange_strong(expected, p.done))
                return;
            if (p.done > first_done)
                c->stopIndexing();
        });
        const IndexSummary stopped = indexAll(window_.get());
        c->setStepObserver({});
        QVERIFY2(!stopped.folders.isEmpty(), qPrintable(window_->statusText()));
        QVERIFY(stopped.cancelled);
        QVERIFY2(stopped.added > 0 && stopped.added < 12, qPrintable(QString::number(stopped.added)));
        QVERIFY2(window_->statusText().startsWith("Stopped. What was indexed is kept"), qPrintable(window_->statusText()));
        QVERIFY(!c->isIndexing());
        // Index again: the rest is embedded, what was kept is not.
        QList<IndexProgress> steps;
        const IndexSummary rest = indexAll(window_.get(), &steps);
        QVERIFY(!rest.cancelled);
        QCOMPARE(rest.added, 12 - stopped.added);
        QCOMPARE(rest.reused, 12 + stopped.added);  // the shapes and the kept scenes, unchanged
        QCOMPARE(rest.failed, 1);                   // the broken file, remembered
        QCOMPARE(steps.last().done, 25);
        QCOMPARE(steps.last().total, 25);
        QCOMPARE(window_->progressBar()->value(), window_->progressBar()->maximum());
        // Both folders are searched.
        QVERIFY(waitForResults(window_.get(), [&] {
            window_->setQuery("a house");
            window_->searchNow();
        }));
        QCOMPARE(window_->resultPaths().size(), 24);
    }

    void aNewerSearchReplacesOneStillQueued() {
        // A controller of its own, held at an indexing step while three searches queue behind.
        SearchController c(tmp_.filePath("library.db"));
        QSignalSpy loaded(&c, &SearchController::modelLoaded);
        c.loadModel(kClip);
        QVERIFY(loaded.wait(kWait));
        QSemaphore reached, release;
        std::atomic<bool> held{false};
        c.setStepObserver([&](const IndexProgress& p) {
            if (!p.current.isEmpty() && !held.exchange(true)) {
                reached.release();
                release.acquire();
            }
        });
        QSignalSpy indexed(&c, &SearchController::indexed);
        QSignalSpy searched(&c, &SearchController::searched);
        c.index({tmp_.filePath("hold")});
        QVERIFY(reached.tryAcquire(1, kWait));
        c.search("a red circle");
        c.search("a green");
        c.search("a blue square");
        release.release();
        QVERIFY(indexed.wait(kWait));
        QVERIFY(searched.count() > 0 || searched.wait(kWait));
        c.waitForIdle();
        QCoreApplication::processEvents();
        QCOMPARE(searched.count(), 1);
        QCOMPARE(searched.first().first().toString(), QStringLiteral("a blue square"));
        QCOMPARE(searched.first().at(1).value<QList<vqa::ui::SearchResult>>().size(), 27);
    }

    void removingAFolderForgetsItsImages() {
        auto* list = window_->findChild<QListWidget*>("folders");
        QVERIFY(list);
        QCOMPARE(list->count(), 2);
        list->setCurrentRow(1);  // "more"
        QSignalSpy removed(window_->controller(), &SearchController::folderRemoved);
        window_->removeSelectedFolder();
        QVERIFY(removed.wait(kWait));
        QCOMPARE(window_->folders(), QStringList{QDir::cleanPath(tmp_.filePath("photos"))});
        QVERIFY(waitForResults(window_.get(), [&] {
            window_->setQuery("a circle");
            window_->searchNow();
        }));
        for (const QString& p : window_->resultPaths())
            QVERIFY2(!p.contains("/more/"), qPrintable(p));
    }

    void theMainWindowOpensItAndTheImagesItFinds() {
        vqa::ui::MainWindow main;
        main.show();
        QAction* search = vqa::test::menuAction(main.menuBar(), "Tools", "Search Images…");
        QVERIFY(search);
        QCOMPARE(search->shortcut(), QKeySequence("Ctrl+Shift+F"));
        QList<QKeySequence> all;
        for (QAction* m : main.menuBar()->actions())
            if (m->menu())
                collectShortcuts(m->menu(), all);
        QCOMPARE(all.count(QKeySequence("Ctrl+Shift+F")), 1);
        QAction* similar = vqa::test::menuAction(main.menuBar(), "Tools", "Find Similar Images");
        QVERIFY(similar);
        QVERIFY(!similar->isEnabled());  // no image yet
        search->trigger();
        auto* w = main.findChild<SearchWindow*>();
        QVERIFY(w && w->isVisible());
        // A result asked about opens in the main window.
        QSignalSpy added(main.images(), &vqa::ui::ImageSet::added);
        emit w->openImageRequested(photo(0));
        QVERIFY(added.wait(kWait));
        QCOMPARE(QFileInfo(main.images()->current()->image.path).canonicalFilePath(), QFileInfo(photo(0)).canonicalFilePath());
        QVERIFY(vqa::test::waitInEventLoop([&] { return similar->isEnabled(); }, kWait));
        // The main window's image searched by: the remembered model, in the user's (here
        // empty) library, says what to do.
        QSignalSpy error(w->controller(), &SearchController::error);
        similar->trigger();
        QVERIFY(error.wait(kWait));
        QVERIFY2(w->statusText().contains("Index a folder first"), qPrintable(w->statusText()));
    }
};

QTEST_MAIN(TestSearch)
#include "tst_search.moc"
