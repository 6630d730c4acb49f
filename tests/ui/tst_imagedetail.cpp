// Settings ▸ Image detail says what each level means for the image shown, with the real engine
// on the parity script's tiny SmolVLM checkpoint: its image tokens at the chosen level (fewer at
// Low than at Full, for a photo big enough to be cut into tiles), and the wait, from this
// machine's encoding of the image when it was shown. Screenshot in the artifacts folder.
#include <QComboBox>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "engine/EngineWorker.h"
#include "tests/ui/UiTestSupport.h"
#include "ui/ImageSet.h"
#include "ui/MainWindow.h"
#include "ui/ModelController.h"
#include "ui/SettingsDialog.h"

using vqa::ui::MainWindow;

namespace {
const QString kTinyModel = QStringLiteral(VQA_BINARY_DIR "/reference/idefics3/tiny_tied/model");
}

class TestImageDetail : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;
    QTemporaryDir tmp_;

private slots:
    void initTestCase() {
        vqa::test::isolateSettings(settings_dir_.path());
        if (!QFile::exists(kTinyModel + "/config.json"))
            QSKIP("no tiny model: the reference script writes <build>/reference/idefics3/tiny_tied/model");
    }

    void theDetailSaysTheImagesTokensAndTheWait() {
        MainWindow window;
        window.show();
        QSignalSpy loaded(window.model(), &vqa::ui::ModelController::loaded);
        window.loadModel(kTinyModel);
        QVERIFY(loaded.wait(120000));
        QVERIFY(window.encodeMsPerImageToken() <= 0);
        // Shown, the image is encoded ahead: that encoding measures the machine.
        QVERIFY(vqa::test::sceneImage(1600, 1200).save(tmp_.filePath("photo.png")));
        window.openImage(tmp_.filePath("photo.png"));
        QVERIFY(QTest::qWaitFor([&] { return window.encodeMsPerImageToken() > 0; }, 120000));

        // The tiny model makes few tokens an image: a budget of its own (kept by the dialog as
        // an extra level) is low enough to cut the tiles.
        vqa::ui::AppSettings settings = window.settings();
        settings.images.max_image_tokens = 16;
        vqa::ui::SettingsDialog dialog(settings, &window);
        window.describeImageDetail(&dialog);
        QVERIFY(QTest::qWaitFor([&] { return !dialog.detailNote().isEmpty(); }, 60000));
        QComboBox* detail = nullptr;
        for (QComboBox* box : dialog.findChildren<QComboBox*>())
            if (box->itemData(0).toInt() == 256)
                detail = box;
        QVERIFY(detail);
        auto tokensAt = [&](int budget) {
            detail->setCurrentIndex(detail->findData(budget));
            const QString note = dialog.detailNote();
            const auto at = note.indexOf(" image tokens");
            return note.left(at).section(' ', -1).toInt();
        };
        const int low = tokensAt(16), full = tokensAt(0);
        QVERIFY2(low > 0 && low < full, qPrintable(QString("low %1, full %2").arg(low).arg(full)));
        QVERIFY2(dialog.detailNote().startsWith("photo.png (1600×1200)"), qPrintable(dialog.detailNote()));
        QVERIFY2(dialog.detailNote().contains("on this machine"), qPrintable(dialog.detailNote()));
        QVERIFY(dialog.grab().save(vqa::test::artifactsDir() + "/image-detail.png"));
    }
};

QTEST_MAIN(TestImageDetail)
#include "tst_imagedetail.moc"
