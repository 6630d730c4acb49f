// The conversation and its generation state without a window: the checks that say why a
// question cannot start, an answer built token by token from synthetic TokenEvents (text,
// token ranges, attention, timings filled in from the stream), the order of its signals,
// an answer that keeps to the image it was asked about while another is on screen, errors
// and stops, regenerate and a new conversation.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "engine/EngineWorker.h"
#include "tests/ui/UiTestSupport.h"
#include "ui/ConversationController.h"
#include "ui/ImageSet.h"
#include "ui/ModelController.h"

using vqa::test::fakeModel;
using vqa::test::tokenEvent;
using namespace vqa::ui;

namespace {

// The controllers as the window makes them, on a real engine thread without a model.
struct Controllers {
    vqa::EngineThread engine;
    ImageSet images;
    ModelController model{engine.worker()};
    ConversationController conversation{engine.worker(), &images, &model};
    QStringList statuses;

    Controllers() {
        QObject::connect(&conversation, &ConversationController::status, [this](const QString& s) { statuses << s; });
    }
    // Adds a picture and waits until it is the current image.
    bool addImage(const QColor& colour, const QString& name) {
        QImage image(40, 30, QImage::Format_RGB32);
        image.fill(colour);
        QSignalSpy added(&images, &ImageSet::added);
        images.add(image, name);
        return added.wait(10000);
    }
};

}  // namespace

class TestConversation : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;

private slots:
    void initTestCase() { vqa::test::isolateSettings(settings_dir_.path()); }

    void aQuestionSaysWhyItCannotStart() {
        Controllers c;
        QSignalSpy needs_model(&c.conversation, &ConversationController::modelNeeded);
        QVERIFY(!c.conversation.ask("What is this?"));
        QVERIFY2(c.statuses.last().startsWith("Open an image first"), qPrintable(c.statuses.last()));
        QVERIFY(c.addImage(Qt::red, "red"));
        QVERIFY(!c.conversation.ask("   "));
        QCOMPARE(c.statuses.last(), QString("Type a question first."));
        QVERIFY(!c.conversation.ask("What is this?"));
        QCOMPARE(c.statuses.last(), QString("Open a model folder first (Ctrl+M)."));
        QCOMPARE(needs_model.count(), 1);
        QVERIFY(!c.conversation.regenerate());
        // While a model loads, the question waits for it.
        QSignalSpy failed(&c.model, &ModelController::loadFailed);
        QVERIFY(c.model.load(settings_dir_.filePath("no-such-model"), {}));
        QVERIFY(!c.conversation.ask("What is this?"));
        QVERIFY2(c.statuses.last().contains("still loading"), qPrintable(c.statuses.last()));
        QVERIFY(failed.wait(10000));
        QVERIFY(c.conversation.messages().empty());
        QVERIFY(!c.conversation.isGenerating());
    }

    void tokensBuildTheAnswerAndTheStreamFillsInTheTimings() {
        Controllers c;
        QVERIFY(c.addImage(Qt::blue, "blue"));
        const ImageSession* session = c.images.current().get();
        QSignalSpy started(&c.conversation, &ConversationController::answerStarted);
        QSignalSpy received(&c.conversation, &ConversationController::tokenReceived);
        QStringList order;
        std::vector<bool> with_attention;
        connect(&c.conversation, &ConversationController::tokenAppended, this,
                [&](ImageSession* s, bool attention) {
                    QCOMPARE(s, session);
                    with_attention.push_back(attention);
                });
        connect(&c.conversation, &ConversationController::answerEnded, this, [&](ImageSession* s) {
            QCOMPARE(s, session);
            QVERIFY(!c.conversation.isGenerating());  // the state is final when it is told
            order << "ended";
        });
        connect(&c.conversation, &ConversationController::answerFinished, this, [&] { order << "finished"; });
        QString performance;
        connect(&c.conversation, &ConversationController::performance, this,
                [&](const QString& p) { performance = p; });

        c.conversation.beginAnswer("What colour?");
        QCOMPARE(started.count(), 1);
        QVERIFY(c.conversation.isGenerating());
        QCOMPARE(c.conversation.generatingSession(), session);
        QCOMPARE(c.conversation.messages().size(), size_t(2));
        QCOMPARE(c.conversation.messages()[0].text, QString("What colour?"));
        QVERIFY(c.conversation.messages()[1].streaming);
        QCOMPARE(performance, QString("waiting for the first token…"));

        const QSize size(40, 30);
        c.conversation.handleToken(tokenEvent(0, "It"));
        c.conversation.handleToken(tokenEvent(1, " is", vqa::test::bumpGrids(0.5, 0.5, size)));
        c.conversation.handleToken(tokenEvent(2, " blue."));
        const vqa::ui::ChatMessage& answer = c.conversation.messages()[1];
        QCOMPARE(answer.text, QString("It is blue."));
        QCOMPARE(answer.tokens.size(), size_t(3));
        QCOMPARE(answer.tokens[1].start, 2);
        QCOMPARE(answer.tokens[1].end, 5);
        QCOMPARE(answer.tokens[2].id, 1002);
        QCOMPARE(answer.tokens[1].attention.size(), size_t(3));
        QVERIFY(answer.tokens[0].attention.empty());
        QCOMPARE(with_attention, (std::vector<bool>{false, true, false}));
        QCOMPARE(received.count(), 3);
        QCOMPARE(received.last().first().toInt(), 2);
        QVERIFY2(performance.startsWith("first token"), qPrintable(performance));
        QCOMPARE(c.statuses.last(), QString("Answering… (Esc stops it)"));

        vqa::GenerationResult result;  // an engine that counted nothing: the stream's counts stand
        result.timings.decode_ms = 300;
        c.conversation.handleFinished(result);
        QCOMPARE(order, (QStringList{"ended", "finished"}));
        QVERIFY(!answer.streaming);
        QVERIFY(answer.timings.has_value());
        QCOMPARE(answer.timings->new_tokens, 3);
        QCOMPARE(answer.timings->decode_ms, 300.0);
        QCOMPARE(c.statuses.last(), QString("Done."));
        QCOMPARE(c.conversation.lastAnswer(), QString("It is blue."));
        // Nothing streams now: stray events change nothing.
        c.conversation.handleToken(tokenEvent(3, " Really."));
        c.conversation.handleFinished(result);
        QCOMPARE(answer.text, QString("It is blue."));
        QCOMPARE(order.size(), 2);
    }

    void anAnswerKeepsToTheImageItWasAskedAbout() {
        Controllers c;
        QVERIFY(c.addImage(Qt::red, "red"));
        QVERIFY(c.addImage(Qt::green, "green"));
        c.images.setCurrent(0);
        ImageSession* first = c.images.current().get();
        c.conversation.beginAnswer("Which?");
        c.images.setCurrent(1);  // the user looks at the other image meanwhile
        QVERIFY(c.conversation.messages().empty());
        QVERIFY(c.conversation.newConversation());  // the other image's conversation is free
        c.conversation.handleToken(tokenEvent(0, "The red one."));
        c.conversation.handleFinished(vqa::GenerationResult{});
        QVERIFY(c.conversation.messages().empty());
        QCOMPARE(first->messages.size(), size_t(2));
        QCOMPARE(first->messages[1].text, QString("The red one."));
        // A new conversation is refused on the image whose answer streams.
        c.images.setCurrent(0);
        c.conversation.beginAnswer("Again?");
        QSignalSpy cleared(&c.conversation, &ConversationController::cleared);
        QVERIFY(!c.conversation.newConversation());
        QCOMPARE(first->messages.size(), size_t(4));
        c.conversation.handleFinished(vqa::GenerationResult{});
        QVERIFY(c.conversation.newConversation());
        QCOMPARE(cleared.count(), 1);
        QVERIFY(first->messages.empty());
    }

    void errorsAndStopsEndTheAnswer() {
        Controllers c;
        QVERIFY(c.addImage(Qt::yellow, "yellow"));
        c.conversation.beginAnswer("Why?");
        vqa::GenerationResult failed;
        failed.stop = vqa::StopReason::Error;
        failed.error = "out of memory";
        c.conversation.handleFinished(failed);
        QCOMPARE(c.conversation.messages().back().error, QString("out of memory"));
        QVERIFY(!c.conversation.messages().back().timings.has_value());
        QCOMPARE(c.statuses.last(), QString("The answer failed: out of memory"));

        c.conversation.beginAnswer("And now?");
        c.conversation.handleToken(tokenEvent(0, "Once"));
        vqa::GenerationResult cancelled;
        cancelled.stop = vqa::StopReason::Cancelled;
        c.conversation.handleFinished(cancelled);
        QCOMPARE(c.conversation.messages().back().stop, vqa::StopReason::Cancelled);
        QCOMPARE(c.statuses.last(), QString("Stopped."));
        QCOMPARE(c.conversation.lastAnswer(), QString("Once"));
        // The failed answer is left out of what the engine is asked next.
        const vqa::Request request = c.conversation.requestFor(*c.images.current(), c.conversation.messages().size());
        QCOMPARE(request.conversation.size(), size_t(2));  // "Why?" and "And now?" in one turn, "Once"
        QCOMPARE(request.images.size(), size_t(1));
        // The settings' image detail travels with the request.
        QCOMPARE(request.image_options.max_image_tokens, 0);
        c.conversation.setRequestParams({}, {}, vqa::ImageOptions{.max_image_tokens = 256});
        const vqa::Request low = c.conversation.requestFor(*c.images.current(), c.conversation.messages().size());
        QCOMPARE(low.image_options.max_image_tokens, 256);
    }

    // Against the engine thread: the request travels there and the answer (an error, as no
    // model is loaded) comes back through the same stream.
    void regenerateAsksTheLastQuestionAgain() {
        Controllers c;
        QVERIFY(c.addImage(Qt::cyan, "cyan"));
        c.model.handleLoaded(fakeModel());  // stands in for a loaded model
        QSignalSpy finished(&c.conversation, &ConversationController::answerFinished);
        QVERIFY(c.conversation.describe());
        QVERIFY(c.conversation.isGenerating());
        QVERIFY(!c.conversation.ask("Another?"));  // one answer at a time
        QVERIFY(finished.wait(10000));
        QCOMPARE(c.conversation.messages().size(), size_t(2));
        QCOMPARE(c.conversation.messages()[0].text, ConversationController::kDescribePrompt);
        QVERIFY(!c.conversation.messages()[1].error.isEmpty());
        QVERIFY(c.conversation.regenerate());
        QVERIFY(finished.wait(10000));
        QCOMPARE(c.conversation.messages().size(), size_t(2));
        QCOMPARE(c.conversation.messages()[0].text, ConversationController::kDescribePrompt);
    }
};

QTEST_MAIN(TestConversation)
#include "tst_conversation.moc"
