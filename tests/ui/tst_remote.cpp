// Model ▸ Connect to a Server…, against tests/cli/openai_test_server.py on loopback: the
// dialog's connection test lists the server's models or says why not (a wrong key); the
// window connected to a model there streams its answers into the chat, Stop ends a stream the
// server holds open, the heatmap controls say why there are none, Precision is off, and the
// key is written nowhere in the settings.
#include <QFile>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "tests/ui/UiTestSupport.h"
#include "ui/ChatMessage.h"
#include "ui/ConversationController.h"
#include "ui/ExplainBar.h"
#include "ui/ImageSet.h"
#include "ui/MainWindow.h"
#include "ui/ModelController.h"
#include "ui/ServerDialog.h"

using vqa::ui::ConversationController;
using vqa::ui::ModelController;
using vqa::ui::ServerDialog;

namespace {
const QString kKey = QStringLiteral("sk-ui-test-91d2");
}

class TestRemote : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;
    QTemporaryDir tmp_;
    QProcess server_;
    QString url_;

private slots:
    void initTestCase() {
        vqa::test::isolateSettings(settings_dir_.path());
        server_.setProgram(QStringLiteral(VQA_TEST_PYTHON));
        server_.setArguments({QStringLiteral(VQA_SOURCE_DIR "/tests/cli/openai_test_server.py"), "--api-key", kKey});
        server_.start();
        QVERIFY2(server_.waitForStarted(10000), qPrintable(server_.errorString()));
        QVERIFY(vqa::test::waitInEventLoop([&] { return server_.canReadLine(); }, 20000));
        const int port = server_.readLine().trimmed().toInt();
        QVERIFY(port > 0);
        url_ = QStringLiteral("http://127.0.0.1:%1").arg(port);
        QVERIFY(vqa::test::sceneImage(320, 210).save(tmp_.filePath("red.png")));
    }

    void cleanupTestCase() {
        server_.kill();
        server_.waitForFinished(5000);
    }

    void theConnectionTestListsTheModelsOrSaysWhyNot() {
        ServerDialog dialog;
        dialog.setServer(url_, "wrong-key", QString());
        dialog.show();
        QSignalSpy tested(&dialog, &ServerDialog::tested);
        dialog.testConnection();
        QVERIFY(tested.wait(20000));
        QCOMPARE(tested.last().first().toBool(), false);
        QVERIFY2(dialog.verdict().contains("API key"), qPrintable(dialog.verdict()));

        dialog.setServer(url_, kKey, "echo");
        dialog.testConnection();
        QVERIFY(tested.wait(20000));
        QCOMPARE(tested.last().first().toBool(), true);
        QVERIFY2(dialog.verdict().contains("9 model"), qPrintable(dialog.verdict()));
        QCOMPARE(dialog.models().first(), QString("echo"));
        QCOMPARE(QString::fromStdString(dialog.server().model), QString("echo"));
        QCOMPARE(QString::fromStdString(dialog.server().api_key), kKey);
        QVERIFY(dialog.grab().save(vqa::test::artifactsDir() + "/server-dialog.png"));
    }

    void theWindowAnswersWithTheServersModel() {
        vqa::ui::MainWindow window;
        window.resize(1100, 720);
        window.show();
        QSignalSpy loaded(window.model(), &ModelController::loaded);
        vqa::RemoteServer server;
        server.base_url = url_.toStdString();
        server.api_key = kKey.toStdString();
        server.model = "echo";
        window.connectServer(server);
        QVERIFY(loaded.wait(20000));
        QVERIFY(window.model()->isRemote());
        QCOMPARE(window.model()->name(), QString("echo"));
        QVERIFY(window.model()->infoText().contains(url_));
        QVERIFY2(window.explainBar()->noAttention().contains("sends no attention"),
                 qPrintable(window.explainBar()->noAttention()));
        QVERIFY(window.showPrecision() == nullptr);

        window.openImage(tmp_.filePath("red.png"));
        QVERIFY(QTest::qWaitFor([&] { return window.images()->count() == 1; }, 10000));
        QSignalSpy finished(window.conversation(), &ConversationController::answerFinished);
        QVERIFY(window.conversation()->ask("What colour is it?"));
        QVERIFY(finished.wait(20000));
        const vqa::ui::ChatMessage& answer = window.conversation()->messages().back();
        QVERIFY2(answer.error.isEmpty(), qPrintable(answer.error));
        QCOMPARE(answer.text, QString("You said: What colour is it? (1 images)"));
        QVERIFY(window.grab().save(vqa::test::artifactsDir() + "/remote-window.png"));

        // A stream the server holds open ends when Stop is pressed, its text kept.
        QSignalSpy tokens(window.conversation(), &ConversationController::tokenReceived);
        server.model = "hold";
        window.connectServer(server);
        QVERIFY(loaded.wait(20000));
        QVERIFY(window.conversation()->ask("Hold on"));
        QVERIFY(tokens.wait(20000));
        window.conversation()->stop();
        QVERIFY(finished.wait(20000));
        const vqa::ui::ChatMessage& stopped = window.conversation()->messages().back();
        QVERIFY(stopped.stop == vqa::StopReason::Cancelled);
        QCOMPARE(stopped.text, QString("You"));

        // The address and model are remembered; the key is not, anywhere in the settings.
        QCOMPARE(ModelController::lastServer(), url_);
        QSettings().sync();
        QFile file(QSettings().fileName());
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QByteArray saved = file.readAll();
        QVERIFY(saved.contains(url_.toUtf8()));
        QVERIFY(!saved.contains(kKey.toUtf8()));
    }
};

QTEST_MAIN(TestRemote)
#include "tst_remote.moc"
