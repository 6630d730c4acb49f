// The captioning window (File ▸ Caption a Folder…) on the real engine thread and the tiny
// checkpoint: a folder listed with thumbnails, captioned into the library with a progress bar;
// paused mid-run (certain: the pause is asked right after the start, so the run holds before
// its second or third image of eight), a question answered while it holds, cancelled, started
// again (what was captioned is kept, not made again), finished; exports; a folder dropped on
// the main window opens the captioning window with it. Screenshots of the gallery mid-run and
// at the end go to the artifacts folder.
#include <QApplication>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QMimeData>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QUrl>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/Engine.h"
#include "engine/EngineWorker.h"
#include "engine/library/LibraryDb.h"
#include "tests/ui/UiTestSupport.h"
#include "ui/CaptionFolderWindow.h"
#include "ui/MainWindow.h"
#include "ui/ModelController.h"

using namespace vqa;
using vqa::ui::CaptionFolderWindow;

namespace {

const QString kModel = QStringLiteral(VQA_BINARY_DIR "/reference/idefics3/tiny_untied/model");

void makeImages(const QString& dir, int count) {
    QDir().mkpath(dir + "/sub");
    for (int i = 0; i < count; ++i) {
        QImage image(40 + i * 3, 32, QImage::Format_RGB32);
        image.fill(QColor::fromHsv((i * 45) % 360, 200, 220));
        QPainter p(&image);
        p.fillRect(5, 5, 10 + i, 10, Qt::black);
        p.end();
        QVERIFY(image.save(dir + (i % 2 ? "/sub/" : "/") + QStringLiteral("photo%1.png").arg(i)));
    }
    std::ofstream(QString(dir + "/broken.jpg").toStdString()) << "not a jpeg";
}

library::CaptionSummary summaryOf(const QSignalSpy& spy) {
    return spy.last().at(0).value<library::CaptionSummary>();
}

}  // namespace

class TestCaptionFolder : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<EngineThread> thread_;

    EngineWorker* worker() { return thread_->worker(); }
    QString library() const { return dir_.filePath("library.db"); }

    // The captions the library keeps for these images.
    int captionsKept(const QStringList& images) const {
        library::LibraryDb db(library().toStdString());
        std::size_t kept = 0;
        for (const QString& image : images)
            if (auto record = db.image(image.toStdString()))
                kept += db.captionsOf(record->id).size();
        return int(kept);
    }

    std::unique_ptr<CaptionFolderWindow> window(const QString& folder) {
        auto w = std::make_unique<CaptionFolderWindow>(worker());
        w->setLibraryPath(library());
        w->setMaxNewTokens(4);
        QSignalSpy listed(w.get(), &CaptionFolderWindow::listed);
        w->setInputs({folder});
        [&] { QVERIFY(listed.wait(30000)); }();
        return w;
    }

private slots:
    void initTestCase() {
        if (!std::filesystem::exists((kModel + "/model.safetensors").toStdString()))
            QSKIP("no tiny model: run tests/reference/make_idefics3.py (ctest: reference.idefics3)");
        QVERIFY(dir_.isValid());
        test::isolateSettings(dir_.filePath("settings"));
        makeImages(dir_.filePath("photos"), 8);
        thread_ = std::make_unique<EngineThread>();
        QSignalSpy loaded(worker(), &EngineWorker::modelLoaded);
        LoadOptions options;
        options.device = DevicePreference::Cpu;
        options.dtype = "float32";
        QMetaObject::invokeMethod(worker(), "loadModel", Qt::QueuedConnection, Q_ARG(QString, kModel),
                                  Q_ARG(vqa::LoadOptions, options));
        // The spy records on the worker's thread: the signal may come before a wait() starts.
        QVERIFY(QTest::qWaitFor([&] { return loaded.count() > 0; }, 120000));
    }

    void cleanupTestCase() { thread_.reset(); }

    void listsTheFolderWithThumbnails() {
        auto w = window(dir_.filePath("photos"));
        QCOMPARE(w->images().size(), 9);  // 8 images and the broken file, subfolders included
        QCOMPARE(w->gallery()->count(), 9);
        QVERIFY(test::waitInEventLoop([&] { return w->thumbnailsShown() == 8; }, 30000));
        QVERIFY(w->statusText().contains("9 images"));
    }

    void pausesAnswersMeanwhileCancelsAndResumes() {
        auto w = window(dir_.filePath("photos"));
        w->show();
        QSignalSpy paused(w.get(), &CaptionFolderWindow::pausedAt);
        QSignalSpy finished(w.get(), &CaptionFolderWindow::runFinished);
        // The worker runs beside this thread: it is held until both the run and the pause are
        // posted, so it takes them in that order and holds after the run's first step (the broken
        // file, or the first caption), whatever the machine's speed.
        std::atomic<bool> held{false}, released{false};
        QMetaObject::invokeMethod(
            worker(),
            [&] {
                held = true;
                for (int i = 0; i < 12000 && !released; ++i)
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
            },
            Qt::QueuedConnection);
        QVERIFY(QTest::qWaitFor([&] { return held.load(); }, 60000));
        w->start();
        w->setPaused(true);
        released = true;
        QVERIFY(paused.wait(60000));
        const int done = paused.last().at(0).toInt();
        QVERIFY2(done >= 1 && done <= 2, qPrintable(QString::number(done)));
        QCOMPARE(w->progressBar()->value(), done);
        QCOMPARE(w->progressBar()->maximum(), 9);
        QVERIFY(w->statusText().contains("Paused"));
        QVERIFY(w->timeText().contains("left"));
        QVERIFY(w->grab().save(test::artifactsDir() + "/caption-folder-paused.png"));

        // The engine is free while the run holds: a question is answered now, not after it.
        QSignalSpy answered(worker(), &EngineWorker::finished);
        Request r;
        r.conversation.push_back({Role::User, {{ContentPart::Kind::Text, "Hello"}}});
        r.generation.max_new_tokens = 3;
        worker()->post(r);
        QVERIFY(QTest::qWaitFor([&] { return answered.count() > 0; }, 60000));
        QCOMPARE(answered.last().at(0).value<GenerationResult>().stop == StopReason::Error, false);
        QCOMPARE(finished.count(), 0);

        w->cancel();
        QVERIFY(finished.wait(30000));
        QVERIFY(summaryOf(finished).cancelled);
        QVERIFY(w->statusText().contains("Start again"));
        QVERIFY(!w->running());
        // broken.jpg sorts first: of the `done` images, all but it were captioned and kept.
        QCOMPARE(captionsKept(w->images()), done - 1);

        // Started again: what was captioned is kept, the rest made; the broken file skipped.
        QSignalSpy items(w.get(), &CaptionFolderWindow::itemDone);
        w->start();
        QVERIFY(finished.wait(120000));
        const auto s = summaryOf(finished);
        QCOMPARE(s.kept, done - 1);
        QCOMPARE(s.captioned, 8 - (done - 1));
        QCOMPARE(s.skipped, 1);
        QCOMPARE(items.count(), 9);
        QCOMPARE(w->progressBar()->value(), 9);
        int checked = 0;
        for (int i = 0; i < w->gallery()->count(); ++i)
            checked += w->gallery()->item(i)->text().startsWith(QStringLiteral("✓")) ? 1 : 0;
        QCOMPARE(checked, 8);
        const QString first = w->images().value(1);  // photos/photo0.png (broken.jpg sorts first)
        QVERIFY(!w->caption(first).isEmpty());
        w->gallery()->setCurrentRow(1);
        QVERIFY(w->findChild<QPlainTextEdit*>()->toPlainText() == w->caption(first));
        QVERIFY(w->grab().save(test::artifactsDir() + "/caption-folder-done.png"));
        QCOMPARE(captionsKept(w->images()), 8);
    }

    void remembersWhatTheLastRunAskedFor() {
        {
            auto w = window(dir_.filePath("photos"));
            w->setPrompt("Tags for {name}:");
            w->setCaptionStart("Tags:");
            w->setAvoidedWords("blurry, dark");
            QSignalSpy finished(w.get(), &CaptionFolderWindow::runFinished);
            w->start();
            QVERIFY(finished.wait(120000));
        }
        auto w = std::make_unique<CaptionFolderWindow>(worker());
        QCOMPARE(w->prompt(), QString("Tags for {name}:"));
        QCOMPARE(w->findChild<QLineEdit*>("captionStart")->text(), QString("Tags:"));
        QCOMPARE(w->findChild<QLineEdit*>("avoidedWords")->text(), QString("blurry, dark"));
        w->setPrompt("Describe this image in one sentence.");  // the preset the other tests use
        w->setCaptionStart({});
        w->setAvoidedWords({});
        w->setLibraryPath(library());
        QSignalSpy listed(w.get(), &CaptionFolderWindow::listed);
        w->setInputs({dir_.filePath("photos")});
        QVERIFY(listed.wait(30000));
        QSignalSpy finished(w.get(), &CaptionFolderWindow::runFinished);
        w->start();  // and saves the preset back for the tests after this one
        QVERIFY(finished.wait(120000));
    }

    void exportsSidecarsJsonlAndCsv() {
        auto w = window(dir_.filePath("photos"));
        // Listed, the images show the captions the library has, before any run.
        QVERIFY2(w->statusText().contains("8 with captions in the library already"), qPrintable(w->statusText()));
        QVERIFY(!w->caption(dir_.filePath("photos/photo2.png")).isEmpty());
        QSignalSpy finished(w.get(), &CaptionFolderWindow::runFinished);
        w->start();  // everything is in the library already: kept, quickly
        QVERIFY(finished.wait(60000));
        QCOMPARE(summaryOf(finished).kept, 8);

        QSignalSpy exported(w.get(), &CaptionFolderWindow::exported);
        const QString mine = dir_.filePath("photos/photo0.txt");
        { std::ofstream(mine.toStdString()) << "my own words\n"; }
        w->exportSidecars();
        QVERIFY(exported.wait(30000));
        QVERIFY2(exported.last().at(0).toString().contains("Wrote 7 text files"), qPrintable(exported.last().at(0).toString()));
        QVERIFY(exported.last().at(0).toString().contains("1 existing file with other text was kept"));
        QFile f(mine);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll(), QByteArray("my own words\n"));
        f.close();
        w->exportSidecars(true);  // asked to replace: it does
        QVERIFY(exported.wait(30000));
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(QString::fromUtf8(f.readAll()).trimmed(), w->caption(dir_.filePath("photos/photo0.png")));
        QFile other(dir_.filePath("photos/sub/photo1.txt"));
        QVERIFY(other.open(QIODevice::ReadOnly));
        QCOMPARE(QString::fromUtf8(other.readAll()).trimmed(), w->caption(dir_.filePath("photos/sub/photo1.png")));

        w->exportJsonl(dir_.filePath("out/captions.jsonl"));
        QVERIFY(exported.wait(30000));
        QFile jsonl(dir_.filePath("out/captions.jsonl"));
        QVERIFY(jsonl.open(QIODevice::ReadOnly));
        QCOMPARE(jsonl.readAll().count('\n'), 8);
        w->exportCsv(dir_.filePath("out/captions.csv"));
        QVERIFY(exported.wait(30000));
        QVERIFY(QFile::exists(dir_.filePath("out/captions.csv")));
    }

    void theMainWindowClosesWhileAFolderIsCaptioned() {
        auto window = std::make_unique<ui::MainWindow>();
        QSignalSpy loaded(window->model(), &ui::ModelController::loaded);
        window->loadModel(kModel);
        QVERIFY(loaded.wait(120000));
        CaptionFolderWindow* captioning = window->showCaptionFolder({dir_.filePath("photos")});
        QVERIFY(test::waitInEventLoop([&] { return captioning->images().size() == 9; }, 30000));
        QSignalSpy paused(captioning, &CaptionFolderWindow::pausedAt);
        captioning->start();
        captioning->setPaused(true);
        QVERIFY(paused.wait(60000));
        QVERIFY(captioning->running());
        window.reset();  // the run is told to stop before the engine goes: no hang, no crash
    }

    void aFolderDroppedOnTheWindowOpensItForCaptioning() {
        ui::MainWindow window;
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(dir_.filePath("photos"))});
        window.show();
        const QPoint pos = window.rect().center();
        QDragEnterEvent enter(pos, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&window, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(pos), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&window, &drop);
        auto* captioning = window.findChild<CaptionFolderWindow*>();
        QVERIFY(captioning);
        QVERIFY(captioning->isVisible());
        QVERIFY(test::waitInEventLoop([&] { return captioning->images().size() == 9; }, 30000));
    }
};

QTEST_MAIN(TestCaptionFolder)
#include "tst_captionfolder.moc"
