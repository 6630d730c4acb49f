// The explanation controls against the real engine (the parity script's tiny checkpoint):
// changing the layer range or the head redraws the last answer's maps (re-reduced on the
// engine's thread from the attention it kept), and relevancy mode computes a map for the
// clicked word, as does rollout mode (through the vision tower); the layer x head explorer
// shows every head and a clicked one large.
#include <QComboBox>
#include <QElapsedTimer>
#include <QListView>
#include <QFile>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QToolButton>

#include "tests/ui/UiTestSupport.h"
#include "tests/ui/WindowTestSupport.h"
#include "ui/ChatView.h"
#include "ui/ConversationController.h"
#include "ui/ExplainBar.h"
#include "ui/ExplanationController.h"
#include "ui/Exporter.h"
#include "ui/HeadExplorer.h"
#include "ui/ImageCanvas.h"
#include "ui/ImageSet.h"
#include "ui/MainWindow.h"
#include "ui/ModelController.h"

using vqa::ui::MainWindow;

namespace {

const QString kTinyModel = QStringLiteral(VQA_BINARY_DIR "/reference/idefics3/tiny_tied/model");

int differingPixels(const QImage& a, const QImage& b) {
    if (a.size() != b.size())
        return std::max(a.width() * a.height(), b.width() * b.height());
    int n = 0;
    for (int y = 0; y < a.height(); ++y)
        for (int x = 0; x < a.width(); ++x)
            n += a.pixel(x, y) != b.pixel(x, y);
    return n;
}

}  // namespace

class TestExplain : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;
    QTemporaryDir tmp_;
    std::unique_ptr<MainWindow> window_;

    // Sets a spin box as a person would and waits for the redrawn maps.
    bool setAndWait(QSpinBox* box, int value) {
        QSignalSpy updated(window_->explanation(), &vqa::ui::ExplanationController::heatmapUpdated);
        box->setValue(value);
        return updated.wait(60000);
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
        QVERIFY(window_->conversation()->messages().back().hasAttention());
    }

    void layerRangeAndHeadRedrawTheOverlay() {
        MainWindow& w = *window_;
        vqa::ui::ExplainBar* bar = w.explainBar();
        // The spin boxes know the model: 2 decoder layers, 4 heads.
        QCOMPARE(bar->layerEndBox()->maximum(), 1);
        QCOMPARE(bar->headBox()->maximum(), 3);
        w.explanation()->showTokenHeatmap(1, 0);
        const QImage by_default = w.canvas()->overlay();
        QVERIFY(!by_default.isNull());
        const std::vector<vqa::HeatmapGrid> streamed = w.conversation()->messages().back().tokens[0].attention;

        QVERIFY(setAndWait(bar->layerBeginBox(), 0));
        QVERIFY(setAndWait(bar->layerEndBox(), 0));
        const QImage first_layer = w.canvas()->overlay();
        QVERIFY2(differingPixels(by_default, first_layer) > 100,
                 qPrintable(QString::number(differingPixels(by_default, first_layer))));
        QVERIFY(w.conversation()->messages().back().tokens[0].attention[0].values != streamed[0].values);

        QVERIFY(setAndWait(bar->layerEndBox(), 1));
        const QImage both_layers = w.canvas()->overlay();
        QVERIFY(differingPixels(first_layer, both_layers) > 100);

        QVERIFY(setAndWait(bar->headBox(), 2));
        const QImage one_head = w.canvas()->overlay();
        QVERIFY(differingPixels(both_layers, one_head) > 100);
        QVERIFY2(w.statusText().contains("redrawn"), qPrintable(w.statusText()));

        // Back to the defaults: the maps are those the answer streamed with (the engine keeps
        // the attention in half precision, hence the tolerance).
        QVERIFY(setAndWait(bar->headBox(), -1));
        QVERIFY(setAndWait(bar->layerBeginBox(), -1));
        QVERIFY(setAndWait(bar->layerEndBox(), -1));
        const auto& again = w.conversation()->messages().back().tokens[0].attention;
        QCOMPARE(again.size(), streamed.size());
        for (size_t g = 0; g < again.size(); ++g)
            for (size_t i = 0; i < again[g].values.size(); ++i)
                QVERIFY2(std::abs(again[g].values[i] - streamed[g].values[i]) <= 2e-3f * std::abs(streamed[g].values[i]) + 1e-6f,
                         qPrintable(QString("grid %1 value %2: %3 vs %4").arg(g).arg(i).arg(again[g].values[i]).arg(streamed[g].values[i])));
        const int changed = differingPixels(by_default, w.canvas()->overlay());
        QVERIFY2(changed < by_default.width() * by_default.height() / 50, qPrintable(QString::number(changed)));
    }

    void relevancyModeShowsAMapForTheClickedWord() {
        MainWindow& w = *window_;
        w.explainBar()->setMode(vqa::ui::ExplainMode::Relevancy);
        QVERIFY(!w.explainBar()->layerBeginBox()->isEnabled());
        const int answer = int(w.conversation()->messages().size()) - 1;
        const int token = int(w.conversation()->messages().back().tokens.size()) - 1;
        vqa::ui::ChatView* chat = w.chatView();
        const QRect rect = chat->tokenRect(answer, token);
        QVERIFY(rect.isValid());

        // The GUI keeps ticking while the worker runs the backward pass.
        QTimer tick;
        QElapsedTimer clock;
        qint64 last = 0, max_gap = 0;
        connect(&tick, &QTimer::timeout, [&] {
            max_gap = std::max(max_gap, clock.elapsed() - last);
            last = clock.elapsed();
        });
        clock.start();
        tick.start(5);
        QSignalSpy updated(w.explanation(), &vqa::ui::ExplanationController::heatmapUpdated);
        QTest::mouseClick(chat->viewport(), Qt::LeftButton, {}, rect.center());
        QVERIFY(w.explanation()->isExplaining());
        QVERIFY2(w.heatmapCaption().startsWith("Computing the relevancy"), qPrintable(w.heatmapCaption()));
        QVERIFY(QTest::qWaitFor([&] { return !w.explanation()->isExplaining(); }, 120000));
        tick.stop();
        QVERIFY(updated.count() >= 1);
        QVERIFY2(w.heatmapCaption().startsWith("Relevancy of"), qPrintable(w.heatmapCaption()));
        const auto& rel = w.conversation()->messages().back().tokens[size_t(token)].relevancy;
        QVERIFY(!rel.empty());
        QVERIFY(!w.canvas()->overlay().isNull());
        float peak = 0;
        for (const auto& g : rel)
            for (float v : g.values)
                peak = std::max(peak, v);
        QVERIFY(peak > 0);
        const QImage relevancy = w.canvas()->overlay();
        qInfo("relevancy: longest GUI pause %lld ms", max_gap);
        QVERIFY2(max_gap <= 50, qPrintable(QString::number(max_gap)));
        QVERIFY(w.grab().save(vqa::test::artifactsDir() + "/heatmap-relevancy.png"));

        // Back to attention: the same word shows its attention, which is another map.
        w.explainBar()->setMode(vqa::ui::ExplainMode::Attention);
        QVERIFY(w.heatmapCaption().startsWith("Word"));
        QVERIFY(differingPixels(relevancy, w.canvas()->overlay()) > 0);
    }

    void rolloutModeCarriesTheClickedWordThroughTheVisionTower() {
        MainWindow& w = *window_;
        const int answer = int(w.conversation()->messages().size()) - 1;
        w.explanation()->showTokenHeatmap(answer, 0);
        const QImage attention = w.canvas()->overlay();
        QVERIFY(w.explainBar()->layerBeginBox()->isEnabled());
        w.explainBar()->setMode(vqa::ui::ExplainMode::Rollout);
        QVERIFY(w.explainBar()->layerBeginBox()->isEnabled());  // the rollout starts from the reduced attention
        QVERIFY(w.explanation()->isExplaining());  // the pinned word's rollout is on its way
        QVERIFY2(w.heatmapCaption().startsWith("Carrying the attention"), qPrintable(w.heatmapCaption()));
        QVERIFY(QTest::qWaitFor([&] { return !w.explanation()->isExplaining(); }, 60000));
        QVERIFY2(w.heatmapCaption().startsWith("Rollout of"), qPrintable(w.heatmapCaption()));
        const auto& rollout = w.conversation()->messages().back().tokens[0].rollout;
        QVERIFY(!rollout.empty());
        QCOMPARE(rollout[0].rows, w.conversation()->messages().back().tokens[0].attention[0].rows * 2);
        QVERIFY(differingPixels(attention, w.canvas()->overlay()) > 0);
        QVERIFY(w.grab().save(vqa::test::artifactsDir() + "/heatmap-rollout.png"));
        // The Markdown export shows the pinned word's rollout too, named for its method.
        QTemporaryDir out;
        QVERIFY(w.exporter()->exportMarkdown(out.filePath("c.md")));
        QFile md(out.filePath("c.md"));
        QVERIFY(md.open(QIODevice::ReadOnly));
        QVERIFY(QString::fromUtf8(md.readAll()).contains("attention through the vision tower"));
        w.explainBar()->setMode(vqa::ui::ExplainMode::Attention);
        QVERIFY(w.heatmapCaption().startsWith("Word"));
    }

    void headExplorerShowsEveryHeadAndAClickedOneLarge() {
        MainWindow& w = *window_;
        const int answer = int(w.conversation()->messages().size()) - 1;
        w.explanation()->showTokenHeatmap(answer, 0);
        const QImage word_map = w.canvas()->overlay();
        w.explainBar()->headsButton()->click();
        QVERIFY(QTest::qWaitFor([&] { return w.headExplorer() && w.headExplorer()->isVisible(); }, 60000));
        vqa::ui::HeadExplorer* explorer = w.headExplorer();
        vqa::ui::HeadMapModel* model = explorer->model();
        QCOMPARE(model->rowCount(), 2 * 4);  // 2 decoder layers, 4 heads
        QCOMPARE(model->head(5).layer, 1);
        QCOMPARE(model->head(5).head, 1);
        QVERIFY(model->data(model->index(0), Qt::ToolTipRole).toString().contains("on the image"));
        explorer->orderBox()->setCurrentIndex(1);  // most attention on the image first
        for (int r = 1; r < model->rowCount(); ++r)
            QVERIFY(model->head(r - 1).image_share >= model->head(r).image_share);
        QVERIFY(explorer->grab().save(vqa::test::artifactsDir() + "/head-explorer.png"));

        // A click: that head's map of the word, large over the image.
        const vqa::HeadMap chosen = model->head(0);
        QSignalSpy updated(w.explanation(), &vqa::ui::ExplanationController::heatmapUpdated);
        const QRect item = explorer->view()->visualRect(model->index(0));
        QTest::mouseClick(explorer->view()->viewport(), Qt::LeftButton, {}, item.center());
        QCOMPARE(w.explainBar()->layerBeginBox()->value(), chosen.layer);
        QCOMPARE(w.explainBar()->layerEndBox()->value(), chosen.layer);
        QCOMPARE(w.explainBar()->headBox()->value(), chosen.head);
        QVERIFY(updated.wait(60000));
        QVERIFY(differingPixels(word_map, w.canvas()->overlay()) > 0);
        explorer->close();
        QVERIFY(setAndWait(w.explainBar()->headBox(), -1));
        QVERIFY(setAndWait(w.explainBar()->layerBeginBox(), -1));
        QVERIFY(setAndWait(w.explainBar()->layerEndBox(), -1));
    }
};

QTEST_MAIN(TestExplain)
#include "tst_explain.moc"
