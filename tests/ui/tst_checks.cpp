// The counterfactual checks from the window (CounterfactualController, against the real engine
// on the parity script's tiny checkpoint): the Check menu's reliance scores put a bar under
// every word; a rectangle dragged over the image scores the answer with it hidden; the
// occlusion map draws over the image, and stopping it midway stops it and keeps nothing; the
// exports carry every score and map with its method; clearing the conversation stops a check.
// Screenshots land in the artifacts folder.
#include <QAction>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTextEdit>

#include <atomic>
#include <chrono>
#include <thread>

#include "engine/EngineTesting.h"
#include "tests/ui/UiTestSupport.h"
#include "tests/ui/WindowTestSupport.h"
#include "ui/ChatView.h"
#include "ui/ConversationController.h"
#include "ui/CounterfactualController.h"
#include "ui/ExplainBar.h"
#include "ui/ExplanationController.h"
#include "ui/Exporter.h"
#include "ui/ImageCanvas.h"
#include "ui/ImageSet.h"
#include "ui/MainWindow.h"
#include "ui/ModelController.h"

using vqa::ui::MainWindow;

namespace {

const QString kTinyModel = QStringLiteral(VQA_BINARY_DIR "/reference/idefics3/tiny_tied/model");

int underlinedWords(const vqa::ui::ChatView* chat) {
    int n = 0;
    for (const auto& sel : chat->extraSelections())
        n += sel.format.underlineStyle() == QTextCharFormat::SingleUnderline;
    return n;
}

}  // namespace

class TestChecks : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;
    QTemporaryDir tmp_;
    std::unique_ptr<MainWindow> window_;

    const vqa::ui::ChatMessage& answer() const { return window_->conversation()->messages().back(); }
    bool waitForCheck() {
        return QTest::qWaitFor([&] { return !window_->checks()->isRunning(); }, 120000);
    }

private slots:
    void initTestCase() {
        vqa::test::isolateSettings(settings_dir_.path());
        if (!QFile::exists(kTinyModel + "/config.json"))
            QSKIP("no tiny model: the reference script writes <build>/reference/idefics3/tiny_tied/model");
        QVERIFY(vqa::test::sceneImage().save(tmp_.filePath("scene.png")));
        window_ = std::make_unique<MainWindow>();
        const QString failed = vqa::test::loadOpenAndAsk(*window_, kTinyModel, tmp_.filePath("scene.png"), "Where is the house?", 8);
        QVERIFY2(failed.isEmpty(), qPrintable(failed));
    }

    void cleanup() { vqa::testhooks::setStageHook({}); }

    void relianceBarsGoUnderTheWords() {
        MainWindow& w = *window_;
        QVERIFY(w.explainBar()->relianceAction()->isEnabled());
        w.explainBar()->relianceAction()->trigger();
        QVERIFY(w.checks()->isRunning());
        QVERIFY(!w.explainBar()->relianceAction()->isEnabled());  // one check at a time
        QVERIFY(w.explainBar()->stopCheckAction()->isEnabled());
        QVERIFY(waitForCheck());
        QCOMPARE(answer().bars.tokens.size(), answer().tokens.size());
        QVERIFY2(answer().bars.label.contains("relied on the image"), qPrintable(answer().bars.label));
        for (float v : answer().bars.tokens)
            QVERIFY(std::isfinite(v));
        QVERIFY2(w.statusText().startsWith("Bars under the words"), qPrintable(w.statusText()));
        QCOMPARE(underlinedWords(w.chatView()), int(answer().words().size()));
        QVERIFY(w.explainBar()->relianceAction()->isEnabled());
        QVERIFY(w.grab().save(vqa::test::artifactsDir() + "/checks-reliance.png"));
    }

    void aDraggedRectangleIsHiddenAndTheWordsThatFellAreShown() {
        MainWindow& w = *window_;
        vqa::ui::ImageCanvas* canvas = w.canvas();
        w.explainBar()->occludeAction()->trigger();
        QVERIFY(canvas->isPickingRegion());
        // The house, as the scene draws it: from a quarter of the way in to the middle.
        const QRectF drawn = canvas->imageRect();
        const QPoint from = (drawn.topLeft() + QPointF(drawn.width() * 0.15, drawn.height() * 0.3)).toPoint();
        const QPoint to = (drawn.topLeft() + QPointF(drawn.width() * 0.45, drawn.height() * 0.75)).toPoint();
        QSignalSpy picked(canvas, &vqa::ui::ImageCanvas::regionPicked);
        QTest::mousePress(canvas, Qt::LeftButton, {}, from);
        QTest::mouseMove(canvas, to);
        QVERIFY(canvas->grab().save(vqa::test::artifactsDir() + "/checks-dragging.png"));
        QTest::mouseRelease(canvas, Qt::LeftButton, {}, to);
        QCOMPARE(picked.count(), 1);
        const QRect rect = picked.first().first().toRect();
        QVERIFY2(rect.width() > 10 && rect.height() > 10, qPrintable(QString("%1x%2").arg(rect.width()).arg(rect.height())));
        QVERIFY(!canvas->isPickingRegion());
        QVERIFY(w.checks()->isRunning());
        QVERIFY(waitForCheck());
        QVERIFY2(answer().bars.label.startsWith("fell when"), qPrintable(answer().bars.label));
        QVERIFY2(w.statusText().startsWith("Hiding that region"), qPrintable(w.statusText()));
        QVERIFY(w.grab().save(vqa::test::artifactsDir() + "/checks-occlusion.png"));

        // A rectangle outside the image is refused with a message; Escape ends a picking.
        QVERIFY(!w.checks()->requestOcclusion(QRect(5000, 5000, 20, 20)));
        QVERIFY2(w.statusText().contains("outside the image"), qPrintable(w.statusText()));
        w.explainBar()->occludeAction()->trigger();
        QVERIFY(canvas->isPickingRegion());
        QTest::keyClick(canvas, Qt::Key_Escape);
        QVERIFY(!canvas->isPickingRegion());
    }

    void anOcclusionMapStopsWhenAskedAndDrawsWhenDone() {
        MainWindow& w = *window_;
        // The third pass waits until the test has pressed Stop: the stop lands mid-sweep.
        std::atomic<int> prefills{0};
        std::atomic<bool> reached{false}, released{false};
        vqa::testhooks::setStageHook([&](std::string_view stage) {
            if (stage != "prefill" || ++prefills != 3)
                return;
            reached = true;
            for (int i = 0; i < 6000 && !released; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
        });
        QSignalSpy progress(w.checks(), &vqa::ui::CounterfactualController::progress);
        QVERIFY(w.checks()->requestOcclusionMap(4));
        QVERIFY(QTest::qWaitFor([&] { return reached.load(); }, 60000));
        w.explainBar()->stopCheckAction()->trigger();
        released = true;
        QVERIFY(waitForCheck());
        vqa::testhooks::setStageHook({});
        QVERIFY2(w.statusText().endsWith("stopped."), qPrintable(w.statusText()));
        QVERIFY(answer().occlusion_map.empty());
        QVERIFY(progress.count() < 17);

        QVERIFY(w.checks()->requestOcclusionMap(3));
        QVERIFY(waitForCheck());
        QCOMPARE(answer().occlusion_map.size(), 1u);
        QCOMPARE(answer().occlusion_map[0].rows, 3);
        QVERIFY2(w.heatmapCaption().startsWith("Occlusion map 3×3"), qPrintable(w.heatmapCaption()));
        QVERIFY(!w.canvas()->overlay().isNull());
        QVERIFY(w.grab().save(vqa::test::artifactsDir() + "/checks-occlusion-map.png"));
    }

    void theChecksAreExportedWithTheirMethods() {
        MainWindow& w = *window_;
        const QString json = tmp_.filePath("conversation.json"), md = tmp_.filePath("conversation.md");
        QVERIFY(w.exporter()->exportJson(json));
        QFile f(json);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QJsonObject answer_turn = QJsonDocument::fromJson(f.readAll()).object()["turns"].toArray().last().toObject();
        const QJsonObject check = answer_turn["check"].toObject();
        QVERIFY2(check["method"].toString().startsWith("fell when"), qPrintable(check["method"].toString()));
        QCOMPARE(check["words"].toArray().size(), qsizetype(answer().words().size()));
        QCOMPARE(answer_turn["tokens"].toArray().first().toObject()["check"].toDouble(), double(answer().bars.tokens[0]));
        QCOMPARE(answer_turn["occlusion_map"].toObject()["grid"].toArray().first().toObject()["rows"].toInt(), 3);
        QVERIFY(answer_turn["occlusion_map"].toObject()["method"].toString().contains("grey 128"));
        QVERIFY2(answer_turn["methods"].toObject()["attention"].toString().contains("mean over heads"),
                 qPrintable(answer_turn["methods"].toObject()["attention"].toString()));

        QVERIFY(w.exporter()->exportMarkdown(md));
        QFile m(md);
        QVERIFY(m.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(m.readAll());
        QVERIFY(text.contains("| word | fell when"));
        QVERIFY(text.contains("Occlusion map 3×3"));
    }

    // Last: it clears the conversation the others check.
    void aCheckStopsWhenItsConversationIsCleared() {
        MainWindow& w = *window_;
        // The second pass waits until the conversation is cleared: the clear lands mid-sweep.
        std::atomic<int> prefills{0};
        std::atomic<bool> reached{false}, released{false};
        vqa::testhooks::setStageHook([&](std::string_view stage) {
            if (stage != "prefill" || ++prefills != 2)
                return;
            reached = true;
            for (int i = 0; i < 6000 && !released; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
        });
        QVERIFY(w.checks()->requestOcclusionMap(4));
        QVERIFY(QTest::qWaitFor([&] { return reached.load(); }, 60000));
        QVERIFY(w.conversation()->newConversation());
        released = true;
        QVERIFY(waitForCheck());
        vqa::testhooks::setStageHook({});
        QVERIFY2(w.statusText().endsWith("stopped."), qPrintable(w.statusText()));
        QVERIFY(w.conversation()->messages().empty());
        QVERIFY2(prefills.load() < 5, qPrintable(QString::number(prefills.load())));  // not the whole sweep (17)
    }
};

QTEST_MAIN(TestChecks)
#include "tst_checks.moc"
