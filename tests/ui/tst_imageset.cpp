// The open images without a window: the same pixels twice switch to the first copy, closing
// moves the current image to a neighbour (and says so before the current one changes), the
// recent-files list keeps the ten latest once each, and data with no image in it is refused
// with a reason. Also the model controller's refusals and what it says about a model.
#include <QFileInfo>
#include <QMimeData>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "engine/EngineWorker.h"
#include "tests/ui/UiTestSupport.h"
#include "ui/ImageSet.h"
#include "ui/ModelController.h"

using vqa::ui::ImageSession;
using vqa::ui::ImageSet;
using vqa::ui::ModelController;

namespace {

QImage filled(const QColor& colour, QSize size = {32, 24}) {
    QImage image(size, QImage::Format_RGB32);
    image.fill(colour);
    return image;
}

}  // namespace

class TestImageSet : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;
    QTemporaryDir tmp_;

private slots:
    void initTestCase() { vqa::test::isolateSettings(settings_dir_.path()); }
    void init() { QSettings().clear(); }

    void theSamePixelsSwitchToTheFirstCopy() {
        ImageSet images;
        QSignalSpy added(&images, &ImageSet::added);
        QSignalSpy inserted(&images, &ImageSet::inserted);
        images.add(filled(Qt::red), "red");
        QVERIFY(added.wait(10000));
        images.add(filled(Qt::blue), "blue");
        QVERIFY(added.wait(10000));
        QCOMPARE(images.count(), 2);
        QCOMPARE(images.currentIndex(), 1);
        images.add(filled(Qt::red), "red again");
        QVERIFY(added.wait(10000));
        QCOMPARE(images.count(), 2);
        QCOMPARE(inserted.count(), 2);
        QCOMPARE(added.last().first().toInt(), 0);
        QCOMPARE(images.currentIndex(), 0);
        QCOMPARE(images.current()->image.name, QString("red"));
    }

    void closingMovesToANeighbour() {
        ImageSet images;
        QSignalSpy added(&images, &ImageSet::added);
        for (const QColor& c : {QColor(Qt::red), QColor(Qt::green), QColor(Qt::blue)}) {
            images.add(filled(c), c.name());
            QVERIFY(added.wait(10000));
        }
        const ImageSession* last = images.at(2).get();
        QStringList order;
        connect(&images, &ImageSet::removed, this, [&](int i) { order << QString("removed %1").arg(i); });
        connect(&images, &ImageSet::currentChanged, this, [&](int i) { order << QString("current %1").arg(i); });
        images.close(1);
        QCOMPARE(order, (QStringList{"removed 1", "current 1"}));
        QCOMPARE(images.current().get(), last);
        QVERIFY(images.find(last) != nullptr);
        images.close(1);
        images.close(0);
        QCOMPARE(order.last(), QString("current -1"));
        QCOMPARE(images.count(), 0);
        QVERIFY(!images.current());
        QVERIFY(!images.find(last));
        images.close(0);  // nothing there: nothing happens
        QCOMPARE(order.size(), 6);
    }

    void recentFilesKeepTheTenLatestOnceEach() {
        ImageSet images;
        QSignalSpy added(&images, &ImageSet::added);
        for (int i = 0; i < 12; ++i) {
            const QString path = tmp_.filePath(QString("image-%1.png").arg(i));
            QVERIFY(filled(QColor::fromHsv(i * 25, 200, 200)).save(path));
            images.open(path);
            QVERIFY(added.wait(10000));
        }
        images.close(5);
        images.open(tmp_.filePath("image-5.png"));  // opened again: it comes first, once
        QVERIFY(added.wait(10000));
        const QStringList recent = images.recent();
        QCOMPARE(recent.size(), ImageSet::kMaxRecent);
        QCOMPARE(QFileInfo(recent[0]).fileName(), QString("image-5.png"));
        QCOMPARE(QFileInfo(recent[1]).fileName(), QString("image-11.png"));
        QCOMPARE(recent.count(recent[0]), 1);
        QCOMPARE(images.lastDir(), QFileInfo(tmp_.path()).absoluteFilePath());
        images.clearRecent();
        QVERIFY(images.recent().isEmpty());
    }

    void dataWithoutAnImageIsRefused() {
        ImageSet images;
        QSignalSpy failed(&images, &ImageSet::failed);
        QSignalSpy error(&images, &ImageSet::error);
        QMimeData text;
        text.setText("just words");
        QVERIFY(!images.openFromMime(&text));
        QCOMPARE(failed.count(), 1);
        QCOMPARE(error.count(), 1);
        QCOMPARE(error.first().first().toString(), QString("No image there"));
        QVERIFY(!failed.first().first().toString().isEmpty());
        QCOMPARE(images.count(), 0);
    }

    void theModelControllerSaysWhatItHasAndRefusesASecondLoad() {
        vqa::EngineThread engine;
        ModelController model(engine.worker());
        QCOMPARE(model.infoText(), QString("No model is loaded."));
        QVERIFY(model.name().isEmpty());
        QSignalSpy failed(&model, &ModelController::loadFailed);
        QVERIFY(model.load(tmp_.filePath("missing"), {}));
        QVERIFY(model.isLoading());
        QVERIFY(!model.load(tmp_.filePath("other"), {}));  // one load at a time
        QVERIFY(failed.wait(10000));
        QVERIFY(!model.isLoading());
        QCOMPARE(failed.first().at(0).toString(), failed.first().at(1).toString());  // nothing was loaded before
        // A model loaded: its name and facts; a later failure leaves it in place.
        ModelController loaded(engine.worker());
        loaded.handleLoaded(vqa::test::fakeModel());
        QVERIFY(loaded.hasModel());
        QCOMPARE(loaded.name(), QString("SmolVLM-256M-Instruct"));
        QVERIFY2(loaded.infoText().contains("Parameters: 256.5 M"), qPrintable(loaded.infoText()));
        QVERIFY(loaded.infoText().contains("Weights in memory: 489 MiB"));
        QCOMPARE(ModelController::lastDir(), QString("/models/SmolVLM-256M-Instruct"));
        QSignalSpy failed_later(&loaded, &ModelController::loadFailed);
        loaded.handleFailed("config.json is missing");
        QVERIFY(loaded.hasModel());
        QCOMPARE(failed_later.count(), 1);
        QVERIFY(failed_later.first().at(1).toString().contains("SmolVLM-256M-Instruct, is still loaded"));
    }
};

QTEST_MAIN(TestImageSet)
#include "tst_imageset.moc"
