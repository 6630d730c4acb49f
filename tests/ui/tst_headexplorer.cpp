// The layer x head explorer at a 7B model's size, without a model: 32 layers x 32 heads of a
// LLaVA-1.5 image (24 x 24 tokens). It opens at once and draws only the heads in view (the
// rest when scrolled to); the three orders sort by what they say. Prints the time to the first
// painted grid, the figure docs/BENCHMARKS.md reports ("the explorer's time to first paint").
#include <QComboBox>
#include <QElapsedTimer>
#include <QListView>
#include <QScrollBar>
#include <QTemporaryDir>
#include <QTest>

#include <random>

#include "tests/ui/UiTestSupport.h"
#include "ui/HeadExplorer.h"

namespace {

// Events on the view's viewport: the first paint's arrival.
class PaintWatch : public QObject {
public:
    bool painted = false;
    bool eventFilter(QObject* watched, QEvent* event) override {
        if (event->type() == QEvent::Paint)
            painted = true;
        return QObject::eventFilter(watched, event);
    }
};

std::vector<vqa::HeadMap> sevenBHeads() {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<vqa::HeadMap> maps;
    for (int l = 0; l < 32; ++l)
        for (int h = 0; h < 32; ++h) {
            vqa::HeatmapGrid g;
            g.rows = g.cols = 24;
            g.width = 336;
            g.height = 336;
            g.global_view = true;
            for (int i = 0; i < 24 * 24; ++i)
                g.values.push_back(u(rng));
            maps.push_back({l, h, u(rng), 2.0f + 4.0f * u(rng), {g}});
        }
    return maps;
}

}  // namespace

class TestHeadExplorer : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;

private slots:
    void initTestCase() { vqa::test::isolateSettings(settings_dir_.path()); }

    void aThousandHeadsOpenAtOnceDrawingOnlyThoseInView() {
        const QImage image = vqa::test::sceneImage().scaled(336, 336);
        vqa::ui::HeadExplorer explorer;
        PaintWatch watch;
        explorer.view()->viewport()->installEventFilter(&watch);
        QElapsedTimer clock;
        clock.start();
        explorer.setMaps(QStringLiteral("“dog”"), sevenBHeads(), image, QSize(336, 336), vqa::ui::Colormap::Turbo);
        explorer.show();
        QVERIFY(QTest::qWaitFor([&] { return watch.painted && explorer.model()->thumbnailsDrawn() > 0; }, 20000));
        const qint64 first_paint = clock.elapsed();
        const int drawn = explorer.model()->thumbnailsDrawn();
        qInfo("head explorer, 32 x 32 heads of 24 x 24 tokens: first paint after %lld ms, %d of 1024 thumbnails drawn",
              first_paint, drawn);
        QCOMPARE(explorer.model()->rowCount(), 1024);
        QVERIFY2(drawn < 1024 / 2, qPrintable(QString::number(drawn)));  // only what is in view
        QVERIFY(explorer.grab().save(vqa::test::artifactsDir() + "/head-explorer-7b.png"));

        // Scrolled to the end: the heads there are drawn then.
        explorer.view()->scrollToBottom();
        QVERIFY(QTest::qWaitFor([&] { return explorer.model()->thumbnailsDrawn() > drawn; }, 20000));

        // The orders: most on the image first, then most focused (lowest entropy) first.
        explorer.orderBox()->setCurrentIndex(1);
        for (int r = 1; r < 1024; ++r)
            QVERIFY(explorer.model()->head(r - 1).image_share >= explorer.model()->head(r).image_share);
        explorer.orderBox()->setCurrentIndex(2);
        for (int r = 1; r < 1024; ++r)
            QVERIFY(explorer.model()->head(r - 1).entropy <= explorer.model()->head(r).entropy);
        explorer.orderBox()->setCurrentIndex(0);
        QCOMPARE(explorer.model()->head(33).layer, 1);
        QCOMPARE(explorer.model()->head(33).head, 1);
    }
};

QTEST_MAIN(TestHeadExplorer)
#include "tst_headexplorer.moc"
