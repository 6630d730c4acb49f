// The main window opens with an empty image area, an empty chat and a status bar that
// says no model is loaded; it loads images, reports bad ones, and closes cleanly.
#include <QDir>
#include <QImage>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBrowser>

#include "ui/ImageCanvas.h"
#include "ui/MainWindow.h"

class TestMainWindow : public QObject {
    Q_OBJECT
private slots:
    void opensEmptyAndSavesScreenshot() {
        vqa::ui::MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QVERIFY(window.canvas()->image().isNull());
        QVERIFY(window.chatView()->toPlainText().isEmpty());
        QVERIFY2(window.statusText().contains("No model loaded"), qPrintable(window.statusText()));

        QString dir = qEnvironmentVariable("VQA_ARTIFACTS", QDir::tempPath());
        QDir().mkpath(dir);
        QString path = dir + "/mainwindow.png";
        QVERIFY(window.grab().save(path));
        QImage saved(path);
        QCOMPARE(saved.size(), window.grab().size());
        QVERIFY(window.close());
    }

    void loadsAnImageAndRejectsABrokenOne() {
        QTemporaryDir tmp;
        QImage image(64, 32, QImage::Format_RGB32);
        image.fill(Qt::red);
        QVERIFY(image.save(tmp.filePath("red.png")));
        QFile broken(tmp.filePath("broken.png"));
        QVERIFY(broken.open(QIODevice::WriteOnly));
        broken.write("this is not a PNG");
        broken.close();

        vqa::ui::MainWindow window;
        QVERIFY(window.openImage(tmp.filePath("red.png")));
        QCOMPARE(window.canvas()->image().size(), QSize(64, 32));
        QVERIFY(!window.openImage(tmp.filePath("broken.png")));
        // The good image stays; the status says what went wrong.
        QCOMPARE(window.canvas()->image().size(), QSize(64, 32));
        QVERIFY2(window.statusText().contains("broken.png"), qPrintable(window.statusText()));
    }

    void reportsAMissingModelFolder() {
        vqa::ui::MainWindow window;
        window.loadModel("/nonexistent/model/folder");
        QTRY_VERIFY_WITH_TIMEOUT(window.statusText().contains("does not exist"), 10000);
    }
};

QTEST_MAIN(TestMainWindow)
#include "tst_mainwindow.moc"
