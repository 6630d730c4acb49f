// Tools ▸ Evaluate… against the real engine on the parity script's tiny checkpoint: a question
// set of six generated images is run from the window into a report (metrics shown, report
// written with its example heatmaps); Stop during the run keeps the window usable and writes no
// report; Run again answers from the cache what was answered before. Screenshot in the
// artifacts folder.
#include <QAction>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMenuBar>
#include <QProgressBar>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "tests/common/StageGate.h"
#include "tests/ui/UiTestSupport.h"
#include "ui/EvaluateWindow.h"
#include "ui/MainWindow.h"
#include "ui/ModelController.h"

using vqa::ui::EvaluateWindow;
using vqa::ui::MainWindow;

namespace {

const QString kTinyModel = QStringLiteral(VQA_BINARY_DIR "/reference/idefics3/tiny_tied/model");

}  // namespace

class TestEvaluate : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;
    QTemporaryDir tmp_;
    std::unique_ptr<MainWindow> window_;
    EvaluateWindow* eval_ = nullptr;

    bool runToEnd(bool& completed) {
        QSignalSpy finished(eval_, &EvaluateWindow::finished);
        eval_->run();
        if (!eval_->running() || !QTest::qWaitFor([&] { return finished.count() > 0; }, 180000))
            return false;
        completed = finished.first().first().toBool();
        return true;
    }

private slots:
    void initTestCase() {
        vqa::test::isolateSettings(settings_dir_.path());
        if (!QFile::exists(kTinyModel + "/config.json"))
            QSKIP("no tiny model: the reference script writes <build>/reference/idefics3/tiny_tied/model");
        QFile set(tmp_.filePath("questions.jsonl"));
        QVERIFY(set.open(QIODevice::WriteOnly));
        for (int i = 0; i < 6; ++i) {
            const QString name = QStringLiteral("photo%1.png").arg(i);
            QVERIFY(vqa::test::sceneImage(200 + 20 * i, 160).save(tmp_.filePath(name)));
            QJsonObject line{{"image", name},
                             {"question", "What is in the picture?"},
                             {"answers", QJsonArray{"a house", "house", "house", "tree"}},
                             {"answer_type", i % 2 ? "other" : "yes/no"}};
            set.write(QJsonDocument(line).toJson(QJsonDocument::Compact) + "\n");
        }
        set.close();
        window_ = std::make_unique<MainWindow>();
        window_->show();
        QSignalSpy loaded(window_->model(), &vqa::ui::ModelController::loaded);
        window_->loadModel(kTinyModel);
        QVERIFY(loaded.wait(120000));
    }

    void evaluatesFromTheToolsMenu() {
        QAction* evaluate = vqa::test::menuAction(window_->menuBar(), "Tools", "Evaluate…");
        QVERIFY(evaluate);
        evaluate->trigger();
        eval_ = window_->findChild<EvaluateWindow*>();
        QVERIFY(eval_ && eval_->isVisible());
        eval_->setTask(vqa::eval::EvalTask::Vqa);
        eval_->setAnnotations(tmp_.filePath("questions.jsonl"));
        eval_->setImagesFolder(tmp_.path());
        eval_->setReportFolder(tmp_.filePath("report"));
        bool completed = false;
        QVERIFY(runToEnd(completed));
        QVERIFY2(completed, qPrintable(eval_->statusText()));
        QVERIFY2(eval_->statusText().startsWith("Done: 6 items, 6 answered now"), qPrintable(eval_->statusText()));
        QVERIFY2(eval_->resultText().contains("accuracy"), qPrintable(eval_->resultText()));
        QCOMPARE(eval_->reportPath(), tmp_.filePath("report/index.html"));
        QVERIFY(QFile::exists(tmp_.filePath("report/metrics.json")));
        QFile metrics(tmp_.filePath("report/metrics.json"));
        QVERIFY(metrics.open(QIODevice::ReadOnly));
        const QJsonObject m = QJsonDocument::fromJson(metrics.readAll()).object();
        QCOMPARE(m.value("items").toInt(), 6);
        QVERIFY(m.value("by_answer_type").toObject().contains("yes/no"));
        // The examples are drawn with where the model looked.
        QFile html(eval_->reportPath());
        QVERIFY(html.open(QIODevice::ReadOnly));
        QVERIFY(html.readAll().contains("-heatmap.png"));
        QCOMPARE(eval_->progressBar()->value(), eval_->progressBar()->maximum());
        QVERIFY(eval_->grab().save(vqa::test::artifactsDir() + "/evaluate.png"));
    }

    void stopKeepsNothingHalfDoneAndRunGoesOn() {
        QVERIFY(eval_);
        eval_->setReportFolder(tmp_.filePath("report2"));
        {
            // Stopped while the first items are being read: certain, since the engine waits there.
            vqa::test::StageGate gate("prefill");
            QSignalSpy finished(eval_, &EvaluateWindow::finished);
            eval_->run();
            QVERIFY(QTest::qWaitFor([&] { return gate.reached(); }, 60000));
            QVERIFY(eval_->running());
            eval_->stop();
            gate.open();
            QVERIFY(QTest::qWaitFor([&] { return finished.count() > 0; }, 60000));
            QCOMPARE(finished.first().first().toBool(), false);
        }
        QVERIFY2(eval_->statusText().startsWith("Stopped"), qPrintable(eval_->statusText()));
        QVERIFY(!QFile::exists(tmp_.filePath("report2/metrics.json")));
        QVERIFY(!eval_->running());
        // The window answers again, and the run goes on.
        bool completed = false;
        QVERIFY(runToEnd(completed));
        QVERIFY2(completed, qPrintable(eval_->statusText()));
        // And once more: everything from the cache.
        QVERIFY(runToEnd(completed));
        QVERIFY2(eval_->statusText().startsWith("Done: 6 items, 0 answered now, 6 from an earlier run"),
                 qPrintable(eval_->statusText()));
    }

    void aSetThatCannotBeReadSaysWhy() {
        QVERIFY(eval_);
        QFile bad(tmp_.filePath("bad.jsonl"));
        QVERIFY(bad.open(QIODevice::WriteOnly));
        bad.write("{\"image\": \"photo0.png\"}\n");
        bad.close();
        eval_->setAnnotations(tmp_.filePath("bad.jsonl"));
        bool completed = true;
        QVERIFY(runToEnd(completed));
        QVERIFY(!completed);
        QVERIFY2(eval_->statusText().contains("bad.jsonl: line 1"), qPrintable(eval_->statusText()));
    }
};

QTEST_MAIN(TestEvaluate)
#include "tst_evaluate.moc"
