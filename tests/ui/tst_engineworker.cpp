// EngineWorker on its thread with the real engine on the tiny checkpoint: what happens to
// a second request while one runs (queued: it runs after the first, both complete), to a
// model load during an answer (queued: the answer finishes with the old model, then the
// new one loads), to a cancel, and to destroying the thread mid-answer (prompt, no hang).
// "While one runs" is made certain by a gate at the first answer's decode stage
// (tests/common/StageGate.h), which the test opens once it has posted what it needs to.
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTest>

#include <filesystem>
#include <optional>

#include "engine/Engine.h"
#include "engine/EngineWorker.h"
#include "tests/common/StageGate.h"

using namespace vqa;

namespace {

QString tinyModel(const char* name) {
    return QStringLiteral(VQA_BINARY_DIR "/reference/idefics3/") + name + "/model";
}

Request question(int max_new_tokens) {
    Request r;
    const std::string image = VQA_BINARY_DIR "/reference/idefics3/tiny_tied/image0.png";
    r.images.push_back(std::make_shared<const RgbImage>(loadImageFile(image)));
    r.image_keys.push_back(image);
    r.conversation.push_back(Turn{Role::User, {{ContentPart::Kind::Image, {}}, {ContentPart::Kind::Text, "What is this?"}}});
    r.generation.max_new_tokens = max_new_tokens;
    r.generation.ignore_eos = true;
    return r;
}

GenerationResult resultAt(const QSignalSpy& spy, int i) { return spy.at(i).at(0).value<GenerationResult>(); }

}  // namespace

class TestEngineWorker : public QObject {
    Q_OBJECT
    std::unique_ptr<EngineThread> thread_;
    std::optional<test::StageGate> gate_;

    // Holds the next answer at its first decoding step until the gate opens: returns once the
    // worker is certainly busy with it.
    bool postAndHold(const Request& request) {
        gate_.emplace("decode");
        worker()->post(request);
        return QTest::qWaitFor([&] { return gate_->reached(); }, 60000) && worker()->busy();
    }

    EngineWorker* worker() { return thread_->worker(); }

    void load(const QString& dir) {
        QSignalSpy loaded(worker(), &EngineWorker::modelLoaded);
        QSignalSpy failed(worker(), &EngineWorker::modelFailed);
        LoadOptions options;
        options.device = DevicePreference::Cpu;
        QMetaObject::invokeMethod(worker(), "loadModel", Qt::QueuedConnection, Q_ARG(QString, dir),
                                  Q_ARG(vqa::LoadOptions, options));
        QVERIFY(QTest::qWaitFor([&] { return loaded.count() + failed.count() > 0; }, 120000));
        QCOMPARE(failed.count(), 0);
    }

private slots:
    void initTestCase() {
        if (!std::filesystem::exists(tinyModel("tiny_tied").toStdString()))
            QSKIP("no tiny model: run tests/reference/make_idefics3.py (ctest: reference.idefics3)");
    }

    void init() {
        thread_ = std::make_unique<EngineThread>();
        load(tinyModel("tiny_tied"));
    }
    void cleanup() {
        if (gate_)
            gate_->open();  // a failed check may leave it closed: the join below would wait on it
        thread_.reset();
        gate_.reset();  // the engine's thread is joined: the hook can go
    }

    void aSecondRequestIsQueuedAndBothComplete() {
        QSignalSpy finished(worker(), &EngineWorker::finished);
        QVERIFY(postAndHold(question(40)));
        worker()->post(question(5));  // while the first runs
        gate_->open();
        QVERIFY(QTest::qWaitFor([&] { return finished.count() == 2; }, 120000));
        const auto first = resultAt(finished, 0), second = resultAt(finished, 1);
        QCOMPARE(first.stop, StopReason::MaxTokens);
        QCOMPARE(first.token_ids.size(), std::size_t(40));
        QCOMPARE(second.stop, StopReason::MaxTokens);
        QCOMPARE(second.token_ids.size(), std::size_t(5));
        // Same question, same greedy answer: the second is the first's beginning.
        QVERIFY(std::equal(second.token_ids.begin(), second.token_ids.end(), first.token_ids.begin()));
    }

    void anImagePreparedAheadIsNotEncodedAgainAndOnlyTheLastOfARunIsPrepared() {
        QSignalSpy finished(worker(), &EngineWorker::finished);
        const Request r = question(3);
        // Flipping through images while an answer about another one runs: only the last
        // posted is encoded (the others are skipped), and the question about it is not.
        auto other = std::make_shared<const RgbImage>(
            loadImageFile(VQA_BINARY_DIR "/reference/idefics3/tiny_tied/image1.png"));
        Request busy = question(30);
        busy.images = {other};
        busy.image_keys = {"busy"};
        QVERIFY(postAndHold(busy));
        worker()->postPrepareImage(other, "flip-1");
        worker()->postPrepareImage(other, "flip-2");
        worker()->postPrepareImage(r.images[0], r.image_keys[0]);
        worker()->post(r);
        gate_->open();
        QVERIFY(QTest::qWaitFor([&] { return finished.count() == 2; }, 120000));
        QCOMPARE(resultAt(finished, 1).stop, StopReason::MaxTokens);
        QCOMPARE(resultAt(finished, 1).timings.encode_ms, 0.0);
        // A skipped one was not encoded: asking about it encodes it now.
        Request about_other = question(3);
        about_other.images = {other};
        about_other.image_keys = {"flip-1"};
        worker()->post(about_other);
        QVERIFY(QTest::qWaitFor([&] { return finished.count() == 3; }, 120000));
        QCOMPARE(resultAt(finished, 2).stop, StopReason::MaxTokens);
        QVERIFY(resultAt(finished, 2).timings.encode_ms > 0.0);
    }

    void loadingAnotherModelWaitsForTheAnswer() {
        QSignalSpy finished(worker(), &EngineWorker::finished);
        QSignalSpy loaded(worker(), &EngineWorker::modelLoaded);
        QStringList order;
        connect(worker(), &EngineWorker::finished, this, [&] { order << "finished"; });
        connect(worker(), &EngineWorker::modelLoaded, this, [&] { order << "loaded"; });
        QVERIFY(postAndHold(question(200)));
        LoadOptions options;
        options.device = DevicePreference::Cpu;
        QMetaObject::invokeMethod(worker(), "loadModel", Qt::QueuedConnection, Q_ARG(QString, tinyModel("tiny_untied")),
                                  Q_ARG(vqa::LoadOptions, options));
        gate_->open();
        QVERIFY(QTest::qWaitFor([&] { return loaded.count() == 1; }, 120000));
        QCOMPARE(order, (QStringList{"finished", "loaded"}));
        QCOMPARE(resultAt(finished, 0).stop, StopReason::MaxTokens);
        QCOMPARE(resultAt(finished, 0).token_ids.size(), std::size_t(200));
        QVERIFY(QString::fromStdString(loaded.at(0).at(0).value<ModelInfo>().path).contains("tiny_untied"));
        worker()->post(question(3));
        QVERIFY(QTest::qWaitFor([&] { return finished.count() == 2; }, 60000));
        QCOMPARE(resultAt(finished, 1).token_ids.size(), std::size_t(3));
    }

    void cancelStopsTheAnswerAndTheNextOneRuns() {
        QSignalSpy finished(worker(), &EngineWorker::finished);
        QVERIFY(postAndHold(question(1000)));  // held at its first decoding step
        worker()->cancel();
        gate_->open();
        QVERIFY(QTest::qWaitFor([&] { return finished.count() == 1; }, 10000));
        QCOMPARE(resultAt(finished, 0).stop, StopReason::Cancelled);
        QVERIFY(resultAt(finished, 0).token_ids.size() < 1000);
        worker()->post(question(4));
        QVERIFY(QTest::qWaitFor([&] { return finished.count() == 2; }, 60000));
        QCOMPARE(resultAt(finished, 1).stop, StopReason::MaxTokens);
    }

    void destroyingTheThreadMidAnswerDoesNotHang() {
        QSignalSpy tokens(worker(), &EngineWorker::token);
        worker()->post(question(1000));
        QVERIFY(QTest::qWaitFor([&] { return tokens.count() > 0; }, 60000));
        QElapsedTimer t;
        t.start();
        thread_.reset();  // cancels and joins
        qInfo("engine thread joined %lld ms after the destroy began", t.elapsed());
        QVERIFY(t.elapsed() < 5000);
    }
};

QTEST_MAIN(TestEngineWorker)
#include "tst_engineworker.moc"
