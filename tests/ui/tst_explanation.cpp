// The explanation controller without a window: which map the view shows (the newest token
// while an answer streams, the whole answer once it ends, a hovered word over a pinned one),
// its caption and highlighted word; and the tickets of the work asked of the engine: a newer
// regrid supersedes an older one, a stale or unknown ticket changes nothing, a regrid asked
// while an answer streams waits for its end, and a relevancy map comes back to its word.
// The engine's answers are fed directly, before the event loop could deliver the real
// worker's (it has no model), so each step is certain.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "engine/EngineWorker.h"
#include "tests/ui/ControllerTestSupport.h"
#include "tests/ui/UiTestSupport.h"
#include "ui/ConversationController.h"
#include "ui/ExplanationController.h"
#include "ui/ImageSet.h"
#include "ui/ModelController.h"

using namespace vqa::ui;

namespace {

const QSize kImage(64, 48);

// A token of an answer that looks at (fx, 0.5) of the image.
vqa::TokenEvent lookingAt(int index, const std::string& text, double fx) {
    return vqa::test::tokenEvent(index, text, vqa::test::bumpGrids(fx, 0.5, kImage));
}

// The controllers as the window connects them, with the status messages of the part under test.
struct Controllers : vqa::test::WiredControllers {
    QStringList& statuses = explanation_statuses;
    bool addImage() {
        QImage image(kImage, QImage::Format_RGB32);
        image.fill(Qt::gray);
        QSignalSpy added(&images, &ImageSet::added);
        images.add(image, "gray");
        return added.wait(10000);
    }
    // "A red cat." with each word looking elsewhere; the answer is message 1.
    void answer() {
        conversation.beginAnswer("What is there?");
        conversation.handleToken(lookingAt(0, "A", 0.1));
        conversation.handleToken(lookingAt(1, " red", 0.5));
        conversation.handleToken(lookingAt(2, " cat", 0.9));
        conversation.handleToken(lookingAt(3, ".", 0.9));
        conversation.handleFinished(vqa::GenerationResult{});
    }
    const vqa::ui::ChatMessage& lastAnswer() const { return images.current()->messages.back(); }
};

std::vector<std::vector<vqa::HeatmapGrid>> gridsOf(int tokens, double fx) {
    return std::vector<std::vector<vqa::HeatmapGrid>>(size_t(tokens), vqa::test::bumpGrids(fx, 0.2, kImage));
}

}  // namespace

class TestExplanation : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;

private slots:
    void initTestCase() { vqa::test::isolateSettings(settings_dir_.path()); }

    void theViewFollowsTheStreamThenTheAnswerThenTheWordsHovered() {
        Controllers c;
        QVERIFY(c.addImage());
        QCOMPARE(c.explanation.view().caption, QString("Ask a question, then hover a word of the answer"));
        QVERIFY(c.explanation.view().overlay.isNull());

        // While the answer streams, the map follows the newest token (coalesced on a timer).
        QSignalSpy changed(&c.explanation, &ExplanationController::viewChanged);
        c.conversation.beginAnswer("What is there?");
        c.conversation.handleToken(lookingAt(0, "A", 0.1));
        c.conversation.handleToken(lookingAt(1, " red", 0.5));
        const int before = changed.count();
        QVERIFY(QTest::qWaitFor([&] { return changed.count() > before; }, 5000));
        QCOMPARE(c.explanation.view().caption, QString("Word “red”"));
        QCOMPARE(c.explanation.view().highlight_message, -1);  // the streaming cursor shows it
        QVERIFY(!c.explanation.view().overlay.isNull());
        c.conversation.handleToken(lookingAt(2, " cat", 0.9));
        c.conversation.handleToken(lookingAt(3, ".", 0.9));
        c.conversation.handleFinished(vqa::GenerationResult{});

        // The finished answer is pinned whole.
        QCOMPARE(c.images.current()->pin.message, 1);
        QVERIFY(c.images.current()->pin.whole);
        QCOMPARE(c.explanation.view().caption, QString("Whole answer: mean over 4 tokens"));
        QVERIFY(c.explanation.view().available);

        // A hovered word goes over the pin, and the pin comes back when the pointer leaves.
        c.explanation.hover(1, 2);
        QCOMPARE(c.explanation.view().caption, QString("Word “cat”"));
        QCOMPARE(c.explanation.view().highlight_message, 1);
        QCOMPARE(c.explanation.view().highlight_begin, 2);
        QCOMPARE(c.explanation.view().highlight_end, 3);
        c.explanation.leave();
        QCOMPARE(c.explanation.view().caption, QString("Whole answer: mean over 4 tokens"));

        // A clicked word is pinned; clearing shows nothing but keeps the maps available.
        c.explanation.showTokenHeatmap(1, 1);
        QCOMPARE(c.images.current()->pin.token, 1);
        QVERIFY(!c.images.current()->pin.whole);
        QCOMPARE(c.explanation.view().caption, QString("Word “red”"));
        c.explanation.clearHeatmap();
        QVERIFY(c.explanation.view().overlay.isNull());
        QCOMPARE(c.explanation.view().caption, QString("Hover or click a word of an answer"));
        QVERIFY(c.explanation.view().available);

        // The next question starts without a pin.
        c.explanation.showWholeAnswerHeatmap();
        QVERIFY(c.images.current()->pin.whole);
        c.conversation.beginAnswer("And?");
        QCOMPARE(c.images.current()->pin.message, -1);
    }

    void aNewerRegridSupersedesAnOlderOneAndStaleTicketsChangeNothing() {
        Controllers c;
        QVERIFY(c.addImage());
        c.model.handleLoaded(vqa::test::fakeModel());
        QVERIFY(!c.explanation.regridLastAnswer());  // no answer yet
        QCOMPARE(c.statuses.last(), QString("Layer and head choices apply to the next answer."));
        c.answer();
        QSignalSpy updated(&c.explanation, &ExplanationController::heatmapUpdated);
        // Tickets count up from 1: two regrids in a row (the spin boxes moved twice).
        QVERIFY(c.explanation.regridLastAnswer());
        QVERIFY(c.explanation.regridLastAnswer());
        QVERIFY(c.explanation.isExplaining());
        const std::vector<vqa::HeatmapGrid> streamed = c.lastAnswer().tokens[0].attention;
        c.explanation.handleRegridded(1, gridsOf(4, 0.2));  // superseded by ticket 2: dropped
        QCOMPARE(updated.count(), 0);
        QVERIFY(c.explanation.isExplaining());
        QCOMPARE(c.lastAnswer().tokens[0].attention[0].values, streamed[0].values);
        const auto fresh = gridsOf(4, 0.8);
        c.explanation.handleRegridded(2, fresh);
        QCOMPARE(updated.count(), 1);
        QCOMPARE(c.lastAnswer().tokens[0].attention[0].values, fresh[0][0].values);
        QCOMPARE(c.statuses.last(), QString("Heatmaps redrawn."));
        QVERIFY(!c.explanation.isExplaining());
        // A ticket answered already, or never given, changes nothing.
        c.explanation.handleRegridded(2, gridsOf(4, 0.1));
        c.explanation.handleFailed(99, "lost");
        QCOMPARE(updated.count(), 1);
        QCOMPARE(c.lastAnswer().tokens[0].attention[0].values, fresh[0][0].values);
        // A failure ends its ticket and says so.
        QSignalSpy errors(&c.explanation, &ExplanationController::error);
        QVERIFY(c.explanation.regridLastAnswer());
        c.explanation.handleFailed(3, "the engine keeps no attention");
        QCOMPARE(errors.count(), 1);
        QCOMPARE(errors.first().first().toString(), QString("Could not redraw the heatmaps"));
        QCOMPARE(updated.count(), 2);
        QVERIFY(!c.explanation.isExplaining());
    }

    void aRegridAskedWhileAnAnswerStreamsWaitsForItsEnd() {
        Controllers c;
        QVERIFY(c.addImage());
        c.model.handleLoaded(vqa::test::fakeModel());
        c.answer();
        c.conversation.beginAnswer("More?");
        c.conversation.handleToken(lookingAt(0, "Yes", 0.3));
        QVERIFY(!c.explanation.regridLastAnswer());
        QCOMPARE(c.statuses.last(), QString("The new layers and head apply once this answer is finished."));
        QVERIFY(!c.explanation.isExplaining());
        c.conversation.handleFinished(vqa::GenerationResult{});
        QVERIFY(c.explanation.isExplaining());  // asked for the answer just finished
        c.explanation.handleRegridded(1, gridsOf(1, 0.6));
        QVERIFY(!c.explanation.isExplaining());
        QCOMPARE(c.lastAnswer().text, QString("Yes"));
        QCOMPARE(c.lastAnswer().tokens[0].attention[0].values, gridsOf(1, 0.6)[0][0].values);
    }

    void aRelevancyMapComesBackToItsWord() {
        Controllers c;
        QVERIFY(c.addImage());
        c.answer();
        c.explanation.setRelevancyMode(true);
        QVERIFY(!c.explanation.requestRelevancy(1, 2));  // no model
        QVERIFY2(c.statuses.last().startsWith("Relevancy needs the model"), qPrintable(c.statuses.last()));
        c.model.handleLoaded(vqa::test::fakeModel());
        QSignalSpy running(&c.explanation, &ExplanationController::relevancyRunning);
        c.explanation.showTokenHeatmap(1, 2);  // a click on "cat" asks for its map
        QVERIFY(c.explanation.isExplaining());
        QCOMPARE(running.count(), 1);
        QVERIFY(running.first().first().toBool());
        QCOMPARE(c.explanation.view().caption, QString("Computing the relevancy of “cat”…"));
        QVERIFY(c.explanation.view().overlay.isNull());
        QVERIFY(c.explanation.requestRelevancy(1, 2));  // already on its way: not asked twice
        QVERIFY(c.explanation.isExplaining());
        c.explanation.handleRelevancy(2, {2}, gridsOf(1, 0.7));  // no such ticket
        QVERIFY(c.lastAnswer().tokens[2].relevancy.empty());
        c.explanation.handleRelevancy(1, {2}, gridsOf(1, 0.7));
        QVERIFY(!c.explanation.isExplaining());
        QCOMPARE(running.count(), 2);
        QVERIFY(!running.last().first().toBool());
        QVERIFY(!c.lastAnswer().tokens[2].relevancy.empty());
        QCOMPARE(c.explanation.view().caption, QString("Relevancy of “cat”"));
        QVERIFY(!c.explanation.view().overlay.isNull());
        // Back to attention: the same word, its attention.
        c.explanation.setRelevancyMode(false);
        QCOMPARE(c.explanation.view().caption, QString("Word “cat”"));
    }
};

QTEST_MAIN(TestExplanation)
#include "tst_explanation.moc"
