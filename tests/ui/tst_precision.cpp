// Model ▸ Precision…: each choice with the memory its load plan needs, the choice kept per
// model folder across runs, and the window loading the model again in the precision chosen.
#include <QFileInfo>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "tests/ui/UiTestSupport.h"
#include "ui/MainWindow.h"
#include "ui/ModelController.h"
#include "ui/PrecisionDialog.h"

using vqa::ui::ModelController;
using vqa::ui::PrecisionDialog;

class TestPrecision : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;
    QString model_;

private slots:
    void initTestCase() {
        vqa::test::isolateSettings(settings_dir_.path());
        model_ = vqa::test::findTinyModel();
    }

    void init() { QSettings().remove("modelPrecision"); }

    void aChoiceIsKeptPerModelFolder() {
        QTemporaryDir a, b;
        QVERIFY(ModelController::precisionFor(a.path()).isEmpty());
        ModelController::rememberPrecision(a.path(), "int4");
        QCOMPARE(ModelController::precisionFor(a.path()), QString("int4"));
        QCOMPARE(ModelController::precisionFor(a.path() + "/"), QString("int4"));  // the same folder
        QVERIFY(ModelController::precisionFor(b.path()).isEmpty());
        vqa::LoadOptions defaults;
        defaults.dtype = "bfloat16";
        QCOMPARE(ModelController::optionsFor(a.path(), defaults).dtype, std::string("int4"));
        QCOMPARE(ModelController::optionsFor(b.path(), defaults).dtype, std::string("bfloat16"));
    }

    void eachChoiceShowsTheMemoryItNeeds() {
        if (model_.isEmpty())
            QSKIP("no tiny model: run tests/reference/make_idefics3.py");
        PrecisionDialog dialog(model_, "tiny", "int8", vqa::DevicePreference::Cpu);
        QSignalSpy shown(&dialog, &PrecisionDialog::estimatesShown);
        dialog.show();
        QVERIFY(shown.wait(30000));
        QCOMPARE(dialog.chosen(), QString("int8"));
        for (const char* dtype : {"auto", "float32", "bfloat16", "fast", "int8", "int4"})
            QVERIFY2(dialog.estimateText(dtype).contains("needs about"), qPrintable(dialog.estimateText(dtype)));
        QVERIFY(dialog.estimateText("fast").contains("float32 (bfloat16 vision)"));
        QVERIFY(dialog.estimateText("int4").contains("q4_0 weights"));
        QVERIFY(dialog.estimateText("int8").contains("q8_0 weights"));
        QVERIFY(dialog.estimateText("bfloat16").contains("in bfloat16"));
        const auto estimates = vqa::ui::estimatePrecisions(model_, vqa::DevicePreference::Cpu);
        QCOMPARE(int(estimates.size()), 6);
        QVERIFY(estimates[5].bytes < estimates[4].bytes && estimates[4].bytes < estimates[1].bytes);  // int4 < int8 < f32
        // fast: float32 behind a bfloat16 tower, more than bfloat16 and less than float32, but
        // where its prefill runs in float16 (AVX512-FP16) it also keeps float16 panels of the
        // decoder's weights (2 bytes a weight), which can take it past float32.
        QVERIFY(estimates[3].bytes > estimates[2].bytes);
#if defined(__x86_64__) && defined(__GNUC__)
        if (!__builtin_cpu_supports("avx512fp16"))
            QVERIFY(estimates[3].bytes < estimates[1].bytes);
#endif
        dialog.choose("int4");
        QCOMPARE(dialog.chosen(), QString("int4"));
        QVERIFY(dialog.grab().save(vqa::test::artifactsDir() + "/precision-dialog.png"));
    }

    // An AWQ checkpoint is 4-bit already: 8 bits cannot be chosen (the note says why), and the
    // model information names AWQ.
    void anAwqCheckpointOffersWhatItCanRun() {
        const QString awq = QStringLiteral(VQA_BINARY_DIR "/reference/awq/engine/model");
        if (!QFileInfo::exists(awq))
            QSKIP("no AWQ checkpoint: run tests/reference/make_awq.py");
        PrecisionDialog dialog(awq, "awq", "auto", vqa::DevicePreference::Cpu);
        QSignalSpy shown(&dialog, &PrecisionDialog::estimatesShown);
        dialog.show();
        QVERIFY(shown.wait(30000));
        QVERIFY(!dialog.available("int8"));
        QVERIFY2(dialog.estimateText("int8").contains("quantized to 4 bits by AWQ"), qPrintable(dialog.estimateText("int8")));
        for (const char* dtype : {"auto", "float32", "bfloat16", "int4"}) {
            QVERIFY2(dialog.available(dtype), dtype);
            QVERIFY2(dialog.estimateText(dtype).contains("q4_1 weights from AWQ's 4 bits"), qPrintable(dialog.estimateText(dtype)));
        }
        QVERIFY(dialog.grab().save(vqa::test::artifactsDir() + "/precision-dialog-awq.png"));

        vqa::ui::MainWindow window;
        QSignalSpy loaded(window.model(), &ModelController::loaded);
        window.loadModel(awq);
        QVERIFY(loaded.wait(60000));
        QCOMPARE(window.model()->info()->quantized_by, std::string("awq"));
        QVERIFY2(window.model()->infoText().contains("4-bit AWQ weights (q4_1)"), qPrintable(window.model()->infoText()));
    }

    void theWindowLoadsTheModelAgainInTheChosenPrecision() {
        if (model_.isEmpty())
            QSKIP("no tiny model: run tests/reference/make_idefics3.py");
        {
            vqa::ui::MainWindow window;
            window.show();
            QSignalSpy loaded(window.model(), &ModelController::loaded);
            window.loadModel(model_);
            QVERIFY(loaded.wait(60000));
            QVERIFY(window.model()->info()->quantization.empty());
            PrecisionDialog* dialog = window.showPrecision();
            QVERIFY(dialog);
            QSignalSpy shown(dialog, &PrecisionDialog::estimatesShown);
            QVERIFY(shown.wait(30000));
            dialog->choose("int4");
            dialog->accept();
            QVERIFY(loaded.wait(60000));
            QCOMPARE(window.model()->info()->quantization, std::string("q4_0"));
            QVERIFY(window.model()->infoText().contains("4-bit weights (q4_0)"));
            QCOMPARE(ModelController::precisionFor(model_), QString("int4"));
        }
        // The next run: the same folder loads in 4 bits without being asked.
        vqa::ui::MainWindow window;
        QSignalSpy loaded(window.model(), &ModelController::loaded);
        window.loadModel(model_);
        QVERIFY(loaded.wait(60000));
        QCOMPARE(window.model()->info()->quantization, std::string("q4_0"));
    }
};

QTEST_MAIN(TestPrecision)
#include "tst_precision.moc"
