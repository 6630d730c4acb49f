// Model ▸ Connect to a Server…, against tests/cli/openai_test_server.py on loopback: the
// dialog's connection test lists the server's models or says why not (a wrong key); the
// window connected to a model there streams its answers into the chat, Stop ends a stream the
// server holds open, the heatmap controls say why there are none, Precision is off, and the
// key is written nowhere in the settings. Connected to a VQA Studio server (`vqa serve`), the
// heatmaps come from the server and equal the local model's.
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <thread>

#include "engine/Engine.h"
#include "engine/serve/ChatServer.h"
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

    // Connected to `vqa serve` (its server in-process here), the window draws the heatmaps
    // the server sends, equal to those of the same model run locally.
    void aVqaStudioServersHeatmapsEqualTheLocalOnes() {
        const QString model = QStringLiteral(VQA_BINARY_DIR "/reference/idefics3/tiny_untied/model");
        if (!QFileInfo::exists(model + "/model.safetensors"))
            QSKIP("no tiny model: run tests/reference/make_idefics3.py");
        vqa::Engine served;
        vqa::LoadOptions cpu;
        cpu.device = vqa::DevicePreference::Cpu;
        served.load(model.toStdString(), cpu);
        vqa::serve::ServeOptions options;
        options.port = 0;
        vqa::serve::ChatServer server(served, options);
        std::thread running([&] { server.run(); });
        struct Stop {
            vqa::serve::ChatServer& s;
            std::thread& t;
            ~Stop() {
                s.stop();
                t.join();
            }
        } stop{server, running};

        vqa::ui::MainWindow window;
        window.resize(1100, 720);
        window.show();
        vqa::ui::AppSettings settings = window.settings();
        settings.load.device = vqa::DevicePreference::Cpu;
        settings.generation.max_new_tokens = 6;
        settings.generation.ignore_eos = true;
        window.applySettings(settings);
        QSignalSpy loaded(window.model(), &ModelController::loaded);
        QSignalSpy finished(window.conversation(), &ConversationController::answerFinished);
        auto answer = [&] {
            window.conversation()->newConversation();
            if (!window.conversation()->ask("Where is the red house?"))
                return std::vector<vqa::ui::TokenRecord>();
            if (!finished.wait(60000))
                return std::vector<vqa::ui::TokenRecord>();
            return window.conversation()->messages().back().tokens;
        };

        window.loadModel(model);
        QVERIFY(loaded.wait(60000));
        window.openImage(tmp_.filePath("red.png"));
        QVERIFY(QTest::qWaitFor([&] { return window.images()->count() == 1; }, 10000));
        const auto local = answer();
        QCOMPARE(int(local.size()), 6);

        vqa::RemoteServer remote;
        remote.base_url = "http://127.0.0.1:" + std::to_string(server.port());
        window.connectServer(remote);
        QVERIFY(loaded.wait(20000));
        QVERIFY(window.model()->isRemote());
        QVERIFY2(window.explainBar()->noAttention().isEmpty(), qPrintable(window.explainBar()->noAttention()));
        QVERIFY(window.model()->infoText().contains("VQA Studio"));
        const auto remote_tokens = answer();
        QCOMPARE(int(remote_tokens.size()), int(local.size()));
        for (std::size_t t = 0; t < local.size(); ++t) {
            QVERIFY2(!local[t].attention.empty(), "the local answer captured attention");
            QCOMPARE(remote_tokens[t].attention.size(), local[t].attention.size());
            for (std::size_t g = 0; g < local[t].attention.size(); ++g)
                QVERIFY2(remote_tokens[t].attention[g].values == local[t].attention[g].values,
                         qPrintable(QString("token %1 grid %2").arg(t).arg(g)));
        }
        QVERIFY(!window.heatmapCaption().isEmpty());
        QVERIFY(window.grab().save(vqa::test::artifactsDir() + "/remote-vqa-server-heatmap.png"));
    }
};

QTEST_MAIN(TestRemote)
#include "tst_remote.moc"
