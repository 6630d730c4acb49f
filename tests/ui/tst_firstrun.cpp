// The first run, end to end: with no model, the welcome page offers the recommended model;
// one click downloads it from a Hub (tests/hub/fake_hub_server.py on loopback, serving the
// parity script's tiny checkpoint under the recommended model's name) into a scratch Hub
// cache, it loads, and a question gets an answer. Then the model manager: it lists the
// known models and the one now in the cache, pauses and resumes a download, and says
// clearly when a file fails its checksum and when the Hub cannot be reached.
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeWidget>

#include "engine/hub/KnownModels.h"
#include "tests/common/Ports.h"
#include "tests/ui/FakeHub.h"
#include "tests/ui/UiTestSupport.h"
#include "ui/ChatView.h"
#include "ui/ConversationController.h"
#include "ui/ImageSet.h"
#include "ui/MainWindow.h"
#include "ui/ModelController.h"
#include "ui/ModelDownloads.h"
#include "ui/ModelManagerDialog.h"
#include "ui/WelcomePage.h"

using vqa::ui::MainWindow;
using vqa::ui::ModelDownloads;

using vqa::test::closedPort;

namespace {

const QString kTinyModel = QStringLiteral(VQA_BINARY_DIR "/reference/idefics3/tiny_tied/model");

QString recommendedRepo() {
    for (const auto& m : vqa::hub::knownModels())
        if (m.recommended)
            return QString::fromStdString(m.repo_id);
    return {};
}

}  // namespace

class TestFirstRun : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;
    QTemporaryDir tmp_;
    std::unique_ptr<vqa::test::FakeHub> hub_;

private slots:
    void initTestCase() {
        vqa::test::isolateSettings(settings_dir_.path());
        if (!QFile::exists(kTinyModel + "/config.json"))
            QSKIP("no tiny model: the reference script writes <build>/reference/idefics3/tiny_tied/model");
        QVERIFY(!recommendedRepo().isEmpty());
        hub_ = std::make_unique<vqa::test::FakeHub>(QStringList{recommendedRepo() + "=" + kTinyModel});
        if (!hub_->ok())
            QSKIP(qPrintable("the fake Hub server did not start: " + hub_->problem()));
        QVERIFY(vqa::test::sceneImage().save(tmp_.filePath("scene.png")));
    }

    void downloadTheRecommendedModelThenAsk() {
        MainWindow window;
        window.resize(1280, 800);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QVERIFY(window.welcomeVisible());
        vqa::ui::WelcomePage* welcome = window.welcomePage();
        QVERIFY2(welcome->downloadButton()->text().contains("SmolVLM"), qPrintable(welcome->downloadButton()->text()));
        QVERIFY(welcome->downloadButton()->isEnabled());
        QVERIFY(window.grab().save(vqa::test::artifactsDir() + "/first-run.png"));

        QSignalSpy progress(window.downloads(), &ModelDownloads::progressChanged);
        QSignalSpy downloaded(window.downloads(), &ModelDownloads::finished);
        QSignalSpy ready(window.model(), &vqa::ui::ModelController::loaded);
        QSignalSpy failed(window.model(), &vqa::ui::ModelController::loadFailed);
        QTest::mouseClick(welcome->downloadButton(), Qt::LeftButton);
        QVERIFY(window.downloads()->running());
        QVERIFY(QTest::qWaitFor([&] { return downloaded.count() > 0 || window.downloads()->state() == ModelDownloads::State::Failed; }, 120000));
        QVERIFY2(downloaded.count() == 1, qPrintable(window.downloads()->lastError()));
        QVERIFY(progress.count() > 0);
        const QString snapshot = downloaded.first().at(1).toString();
        QVERIFY2(snapshot.startsWith(hub_->cacheDir()), qPrintable(snapshot));  // the standard cache layout
        QVERIFY(snapshot.contains("models--HuggingFaceTB--SmolVLM-256M-Instruct/snapshots/"));
        // The download loads the model by itself.
        QVERIFY(QTest::qWaitFor([&] { return ready.count() + failed.count() > 0; }, 120000));
        QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().first().toString()));
        QVERIFY(window.model()->hasModel());

        window.openImage(tmp_.filePath("scene.png"));
        QVERIFY(QTest::qWaitFor([&] { return window.images()->count() == 1; }, 10000));
        vqa::ui::AppSettings s = window.settings();
        s.generation.max_new_tokens = 6;
        s.generation.ignore_eos = true;
        window.applySettings(s);
        QSignalSpy answered(window.conversation(), &vqa::ui::ConversationController::answerFinished);
        QVERIFY(window.conversation()->ask("What is in the image?"));
        QVERIFY(answered.wait(120000));
        const vqa::ui::ChatMessage& answer = window.conversation()->messages().back();
        QVERIFY2(answer.error.isEmpty(), qPrintable(answer.error));
        QCOMPARE(int(answer.tokens.size()), 6);
        QVERIFY(!window.welcomeVisible());
        // The model goes by its repository's name, not the snapshot folder's commit hash.
        QCOMPARE(window.model()->name(), QString("SmolVLM-256M-Instruct"));
        const QString commit = QDir(snapshot).dirName();
        QVERIFY(window.chatView()->toPlainText().contains("SmolVLM-256M-Instruct"));
        QVERIFY2(!window.chatView()->toPlainText().contains(commit), qPrintable(window.chatView()->toPlainText()));
        QVERIFY(!window.model()->infoText().contains("Name: " + commit));

        // A second window finds the model in the cache: its button loads instead of downloading.
        MainWindow again;
        QVERIFY2(again.welcomePage()->downloadButton()->text().startsWith("Load"),
                 qPrintable(again.welcomePage()->downloadButton()->text()));
    }

    void hubSnapshotsGoByTheirRepositoryName() {
        QCOMPARE(ModelDownloads::displayName("/data/hub/models--HuggingFaceTB--SmolVLM-500M-Instruct/snapshots/"
                                             "0123456789abcdef0123456789abcdef01234567"),
                 QString("SmolVLM-500M-Instruct"));
        QCOMPARE(ModelDownloads::displayName("/data/hub/models--Org--Name/snapshots/abc/"), QString("Name"));
        QCOMPARE(ModelDownloads::displayName("/models/my-smolvlm"), QString("my-smolvlm"));
        QCOMPARE(ModelDownloads::displayName("/models/my-smolvlm/"), QString("my-smolvlm"));
        QCOMPARE(ModelDownloads::displayName("/backup/snapshots/abc"), QString("abc"));  // not the Hub layout
    }

    void modelManagerListsPausesResumesAndExplainsFailures() {
        MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        vqa::ui::ModelManagerDialog* manager = window.showModelManager();
        QVERIFY(QTest::qWaitForWindowExposed(manager));
        QTreeWidget* list = manager->list();
        // Every known model is listed with its size and licence; the recommended one is in the
        // cache (downloaded by the test before) and can be loaded from there.
        QVERIFY(list->topLevelItemCount() >= int(vqa::hub::knownModels().size()));
        QVERIFY(list->topLevelItem(0)->text(1).contains("MB"));
        QCOMPARE(list->topLevelItem(0)->text(2), QString("Apache-2.0"));
        QVERIFY(manager->select(recommendedRepo()));
        QVERIFY2(list->currentItem()->text(3).startsWith("Downloaded"), qPrintable(list->currentItem()->text(3)));
        QVERIFY(manager->loadButton()->isEnabled());
        QVERIFY(manager->select("HuggingFaceTB/SmolVLM-500M-Instruct"));
        QCOMPARE(list->currentItem()->text(3), QString("Not downloaded"));
        QVERIFY(!manager->loadButton()->isEnabled());
        QVERIFY(manager->grab().save(vqa::test::artifactsDir() + "/model-manager.png"));

        // Pause and resume (a server that trickles its weights).
        ModelDownloads* downloads = window.downloads();
        QSignalSpy progress(downloads, &ModelDownloads::progressChanged);
        QSignalSpy finished(downloads, &ModelDownloads::finished);
        manager->otherRepoEdit()->setText("test-org/slow-vlm");
        QTest::mouseClick(manager->otherDownloadButton(), Qt::LeftButton);
        QVERIFY(downloads->running());
        QVERIFY(QTest::qWaitFor([&] { return downloads->lastProgress().bytes > 64 * 1024; }, 30000));
        QVERIFY(manager->pauseButton()->isEnabled());
        QTest::mouseClick(manager->pauseButton(), Qt::LeftButton);
        QVERIFY(QTest::qWaitFor([&] { return downloads->state() == ModelDownloads::State::Paused; }, 30000));
        QVERIFY2(manager->messageLabel()->text().startsWith("Paused"), qPrintable(manager->messageLabel()->text()));
        const quint64 paused_at = downloads->lastProgress().bytes;
        QVERIFY(paused_at < downloads->lastProgress().total);
        QCOMPARE(manager->pauseButton()->text(), QString("&Resume"));
        QVERIFY(manager->grab().save(vqa::test::artifactsDir() + "/model-manager-paused.png"));
        QTest::mouseClick(manager->pauseButton(), Qt::LeftButton);  // resume
        QVERIFY(QTest::qWaitFor([&] { return finished.count() > 0 || downloads->state() == ModelDownloads::State::Failed; }, 60000));
        QVERIFY2(finished.count() == 1, qPrintable(downloads->lastError()));
        QVERIFY(manager->select("test-org/slow-vlm"));  // now listed from the cache
        // (Its fake weights do not load: the window says so and stays usable.)
        QVERIFY(QTest::qWaitFor([&] { return !window.model()->isLoading(); }, 60000));

        // A corrupted file is rejected by its checksum, and said so.
        QSignalSpy failed(downloads, &ModelDownloads::failed);
        manager->otherRepoEdit()->setText("test-org/corrupt-vlm");
        QTest::mouseClick(manager->otherDownloadButton(), Qt::LeftButton);
        QVERIFY(failed.wait(60000));
        QVERIFY2(manager->messageLabel()->text().contains("checksum"), qPrintable(manager->messageLabel()->text()));
        QVERIFY(manager->messageLabel()->property("error").toBool());
        QVERIFY(!failed.first().at(2).toBool());

        // No Hub: the message says offline.
        qputenv("VQA_HUB_ENDPOINT", QStringLiteral("http://127.0.0.1:%1").arg(closedPort()).toUtf8());
        failed.clear();
        manager->otherRepoEdit()->setText("test-org/tiny-vlm");
        QTest::mouseClick(manager->otherDownloadButton(), Qt::LeftButton);
        QVERIFY(failed.wait(60000));
        qputenv("VQA_HUB_ENDPOINT", hub_->endpoint().toUtf8());
        QVERIFY(failed.first().at(2).toBool());
        QVERIFY2(manager->messageLabel()->text().startsWith("Offline"), qPrintable(manager->messageLabel()->text()));
        QVERIFY(manager->grab().save(vqa::test::artifactsDir() + "/model-manager-offline.png"));
    }
};

QTEST_MAIN(TestFirstRun)
#include "tst_firstrun.moc"
