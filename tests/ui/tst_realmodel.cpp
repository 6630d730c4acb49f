// The window with the real engine on a small model: a question streams tokens into the
// chat, Stop ends an answer mid-way and the next question works, closing during an answer
// does not hang, and the GUI thread keeps ticking throughout.
//
// The model folder: $VQA_TEST_MODEL (with $VQA_TEST_FAMILY, the family it must load as),
// else the first folder under <build>/reference/idefics3/ holding config.json and
// *.safetensors (the parity script's tiny checkpoint). Skipped, with the reason, when there
// is none or this build's engine cannot load it yet (unless $VQA_TEST_FAMILY is set).
// $VQA_TEST_DTYPE loads it in that precision (Settings ▸ Model ▸ Precision: int8, int4, ...).
#include <QDir>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include "tests/ui/UiTestSupport.h"
#include "ui/ChatView.h"
#include "ui/ConversationController.h"
#include "ui/ImageSet.h"
#include "ui/MainWindow.h"
#include "ui/ModelController.h"

using vqa::ui::MainWindow;

namespace {

QString findModel() { return vqa::test::findTinyModel(); }

}  // namespace

class TestRealModel : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;
    QTemporaryDir tmp_;
    QString model_;
    std::unique_ptr<MainWindow> window_;
    qint64 load_gap_ms_ = -1;
    double load_busy_ms_ = -1;

    // Loads the model once for all tests (skips when it cannot).
    MainWindow& window() {
        return *window_;
    }

private slots:
    void initTestCase() {
        vqa::test::isolateSettings(settings_dir_.path());
        model_ = findModel();
        if (model_.isEmpty())
            QSKIP("no model folder: set VQA_TEST_MODEL, or run the reference script that writes "
                  "<build>/reference/idefics3/<tiny checkpoint>");
        QVERIFY(vqa::test::sceneImage().save(tmp_.filePath("scene.png")));
        window_ = std::make_unique<MainWindow>();
        window_->show();
        QVERIFY(QTest::qWaitForWindowExposed(window_.get()));

        const QString dtype = qEnvironmentVariable("VQA_TEST_DTYPE");
        if (!dtype.isEmpty()) {
            vqa::ui::AppSettings s = window_->settings();
            s.load.dtype = dtype.toStdString();
            window_->applySettings(s);
        }

        vqa::test::ResponsivenessProbe probe;
        QSignalSpy ready(window_->model(), &vqa::ui::ModelController::loaded);
        QSignalSpy failed(window_->model(), &vqa::ui::ModelController::loadFailed);
        window_->loadModel(model_);
        QVERIFY(vqa::test::waitInEventLoop([&] { return ready.count() + failed.count() > 0; }, 300000));
        load_gap_ms_ = probe.max_gap_ms;
        load_busy_ms_ = probe.maxBusyMs();
        // $VQA_TEST_FAMILY: the family this model must load as (a failure then fails).
        const QString family = qEnvironmentVariable("VQA_TEST_FAMILY");
        if (failed.count()) {
            const QString why = failed.first().first().toString();
            window_.reset();
            if (!family.isEmpty())
                QFAIL(qPrintable("cannot load " + model_ + ": " + why));
            QSKIP(qPrintable("the engine cannot load " + model_ + " yet: " + why));
        }
        if (!family.isEmpty())
            QVERIFY2(window_->model()->infoText().contains("Family: " + family), qPrintable(window_->model()->infoText()));
        if (dtype == "int4" || dtype == "int8")
            QVERIFY2(window_->model()->infoText().contains(dtype == "int4" ? "4-bit weights (q4_0)" : "8-bit weights (q8_0)"),
                     qPrintable(window_->model()->infoText()));
        if (!dtype.isEmpty())
            QCOMPARE(vqa::ui::shortPrecision(*window_->model()->info()), dtype);
        window_->openImage(tmp_.filePath("scene.png"));
        QVERIFY(QTest::qWaitFor([&] { return window_->images()->count() == 1; }, 10000));
        qInfo("model: %s; longest GUI pause while loading: %lld ms (GUI thread busy at most %.1f ms)",
              qPrintable(model_), load_gap_ms_, load_busy_ms_);
        QVERIFY2(load_busy_ms_ < 50, qPrintable(QString::number(load_busy_ms_)));
        QVERIFY2(load_gap_ms_ < 500, qPrintable(QString::number(load_gap_ms_)));
    }

    void aQuestionStreamsTokensIntoTheChat() {
        vqa::ui::AppSettings s = window().settings();
        s.generation.max_new_tokens = 12;
        s.generation.ignore_eos = true;  // a tiny random model may end at once otherwise
        window().applySettings(s);

        vqa::test::ResponsivenessProbe probe;
        std::vector<int> lengths;
        QSignalSpy finished(window().conversation(), &vqa::ui::ConversationController::answerFinished);
        connect(window().conversation(), &vqa::ui::ConversationController::tokenReceived, this,
                [&] { lengths.push_back(int(window().conversation()->messages().back().text.size())); });
        QVERIFY(window().conversation()->ask("What is in the image?"));
        QVERIFY(window().conversation()->isGenerating());
        QVERIFY(finished.wait(300000));  // a real event loop (QTestEventLoop), no sleeps
        probe.timer.stop();
        disconnect(window().conversation(), &vqa::ui::ConversationController::tokenReceived, this, nullptr);

        const vqa::ui::ChatMessage& answer = window().conversation()->messages().back();
        QVERIFY2(answer.error.isEmpty(), qPrintable(answer.error));
        QVERIFY2(lengths.size() >= 3, "tokens should arrive one by one");
        QCOMPARE(int(answer.tokens.size()), int(lengths.size()));
        int grew = 0;
        for (size_t i = 1; i < lengths.size(); ++i)
            grew += lengths[i] > lengths[i - 1];
        QVERIFY2(grew >= 2, "the text should grow over several events");
        QVERIFY(window().chatView()->toPlainText().contains("What is in the image?"));
        QVERIFY(window().performanceText().contains("first token"));
        const QString report = QStringLiteral("{\"max_gap_ms\": %1, \"max_gui_cpu_between_ticks_ms\": %2, \"while\": "
                                              "\"generating %3 tokens\", \"load_max_gap_ms\": %4, "
                                              "\"load_max_gui_cpu_between_ticks_ms\": %5}\n")
                                   .arg(probe.max_gap_ms).arg(probe.maxBusyMs(), 0, 'f', 1).arg(answer.tokens.size())
                                   .arg(load_gap_ms_).arg(load_busy_ms_, 0, 'f', 1);
        QFile out(vqa::test::artifactsDir() + "/responsiveness-real-model.json");
        QVERIFY(out.open(QIODevice::WriteOnly));
        out.write(report.toUtf8());
        qInfo("responsiveness: %s", qPrintable(report.trimmed()));
        QVERIFY(window().grab().save(vqa::test::artifactsDir() + "/real-model-answer.png"));
        QVERIFY2(probe.maxBusyMs() < 50, qPrintable(report));
        QVERIFY2(probe.max_gap_ms < 500, qPrintable(report));
    }

    void stopEndsAnAnswerAndTheNextQuestionWorks() {
        vqa::ui::AppSettings s = window().settings();
        s.generation.max_new_tokens = 400;
        s.generation.ignore_eos = true;
        window().applySettings(s);
        QSignalSpy finished(window().conversation(), &vqa::ui::ConversationController::answerFinished);
        QSignalSpy tokens(window().conversation(), &vqa::ui::ConversationController::tokenReceived);
        QVERIFY(window().conversation()->ask("Describe every detail."));
        QVERIFY(tokens.wait(300000));
        window().conversation()->stop();
        QVERIFY(finished.wait(60000));
        const vqa::ui::ChatMessage& stopped = window().conversation()->messages().back();
        QVERIFY(stopped.stop == vqa::StopReason::Cancelled);
        QVERIFY(int(stopped.tokens.size()) < 400);
        QVERIFY(!window().conversation()->isGenerating());

        s.generation.max_new_tokens = 5;
        window().applySettings(s);
        QVERIFY(window().conversation()->ask("And the colours?"));
        QVERIFY(finished.wait(300000));
        const vqa::ui::ChatMessage& next = window().conversation()->messages().back();
        QVERIFY2(next.error.isEmpty(), qPrintable(next.error));
        QVERIFY(!next.tokens.empty());
        QVERIFY(next.stop != vqa::StopReason::Cancelled);
    }

    void closingDuringAnAnswerDoesNotHang() {
        vqa::ui::AppSettings s = window().settings();
        s.generation.max_new_tokens = 400;
        s.generation.ignore_eos = true;
        window().applySettings(s);
        QSignalSpy tokens(window().conversation(), &vqa::ui::ConversationController::tokenReceived);
        QSignalSpy finished(window().conversation(), &vqa::ui::ConversationController::answerFinished);
        QVERIFY(window().conversation()->ask("Tell me a long story about it."));
        QVERIFY(tokens.wait(300000));
        QElapsedTimer t;
        t.start();
        window().close();
        QVERIFY(!window().isVisible());
        QVERIFY(finished.wait(30000));
        window_.reset();  // joins the engine thread
        qInfo("closed %lld ms after the request", t.elapsed());
        QVERIFY(t.elapsed() < 30000);
    }
};

QTEST_MAIN(TestRealModel)
#include "tst_realmodel.moc"
