// Single instance: a second start with images hands them to the running window and exits;
// with none running it becomes the running one; a socket a crashed instance left behind
// does not block it, and a live instance's socket is never taken over.
#include <QFile>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <atomic>
#include <thread>

#include "tests/ui/UiTestSupport.h"
#include "ui/ImageSet.h"
#include "ui/MainWindow.h"
#include "ui/SingleInstance.h"

using vqa::ui::MainWindow;
using vqa::ui::SingleInstance;

class TestSingleInstance : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;
    QTemporaryDir tmp_;

    QString key(const QString& name) const { return tmp_.filePath(name + ".socket"); }

    // The second instance blocks while it talks to the first, so it runs on its own thread
    // while this one's event loop serves the first.
    bool sendFromAnotherThread(const QString& k, const QStringList& paths) {
        std::atomic<int> result{-1};
        std::thread second([&] { result = SingleInstance(k).sendToRunning(paths, 5000) ? 1 : 0; });
        const bool done = QTest::qWaitFor([&] { return result.load() >= 0; }, 10000);
        second.join();
        return done && result.load() == 1;
    }

private slots:
    void initTestCase() {
        vqa::test::isolateSettings(settings_dir_.path());
        QVERIFY(vqa::test::sceneImage().save(tmp_.filePath("scene.png")));
        QVERIFY(vqa::test::sceneImage().mirrored().save(tmp_.filePath("other.png")));
    }

    void aSecondStartHandsItsImagesToTheRunningWindow() {
        MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        SingleInstance first(key("a"));
        QVERIFY(first.listen());
        connect(&first, &SingleInstance::filesReceived, &window, &MainWindow::openImagesFromElsewhere);
        QSignalSpy received(&first, &SingleInstance::filesReceived);

        QVERIFY(sendFromAnotherThread(key("a"), {tmp_.filePath("scene.png")}));
        QTRY_COMPARE(received.count(), 1);
        QCOMPARE(received.first().first().toStringList(), QStringList{tmp_.filePath("scene.png")});
        QVERIFY(QTest::qWaitFor([&] { return window.images()->count() == 1; }, 10000));

        // Files named together make one conversation holding them all, as a drop does.
        QVERIFY(sendFromAnotherThread(key("a"), {tmp_.filePath("scene.png"), tmp_.filePath("other.png")}));
        QVERIFY(QTest::qWaitFor([&] { return window.images()->count() == 2 && window.images()->pending() == 0; }, 10000));
        const auto together = window.images()->at(1);
        QVERIFY(together);
        QTRY_COMPARE_WITH_TIMEOUT(together->pictureCount(), 2, 10000);

        // A live instance keeps its socket: a third one cannot take it over.
        SingleInstance third(key("a"));
        QVERIFY(!third.listen());
        QVERIFY(first.isListening());
    }

    void withNoneRunningTheStartBecomesTheInstance() {
        SingleInstance lone(key("b"));
        QVERIFY(!lone.sendToRunning({tmp_.filePath("scene.png")}, 500));
        QVERIFY(lone.listen());
        // A socket file left by a crashed instance is replaced.
        QFile stale(key("c"));
        QVERIFY(stale.open(QIODevice::WriteOnly));
        stale.close();
        SingleInstance after_crash(key("c"));
        QVERIFY(!after_crash.sendToRunning({}, 500));
        QVERIFY(after_crash.listen());
    }

    void theRealProgramOpensItsImageInTheRunningWindow() {
#ifndef VQA_STUDIO_BINARY
        QSKIP("built without the vqa-studio program");
#else
        if (!QFile::exists(VQA_STUDIO_BINARY))
            QSKIP("vqa-studio is not built");
        MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        SingleInstance first(key("d"));
        QVERIFY(first.listen());
        connect(&first, &SingleInstance::filesReceived, &window, &MainWindow::openImagesFromElsewhere);

        QProcess second;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("VQA_INSTANCE_KEY", key("d"));
        env.insert("QT_QPA_PLATFORM", "offscreen");
        env.insert("XDG_CONFIG_HOME", tmp_.filePath("config"));  // never the user's settings
        second.setProcessEnvironment(env);
        second.start(VQA_STUDIO_BINARY, {tmp_.filePath("scene.png")});
        QVERIFY(second.waitForStarted(10000));
        // It must exit by itself (it hands the image over); this loop serves the socket.
        QVERIFY(QTest::qWaitFor([&] { return second.state() == QProcess::NotRunning; }, 60000));
        QCOMPARE(second.exitCode(), 0);
        QVERIFY(second.readAllStandardOutput().contains("running VQA Studio window"));
        QVERIFY(QTest::qWaitFor([&] { return window.images()->count() == 1; }, 10000));
        if (second.state() != QProcess::NotRunning)
            second.kill();
#endif
    }
};

QTEST_MAIN(TestSingleInstance)
#include "tst_singleinstance.moc"
