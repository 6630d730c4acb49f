// One answer, one heatmap: the CLI's answer.png (`vqa explain ... --out DIR`) and the
// window's overlay for the same answer are the same pixels. The CLI runs as a process on the
// tiny Idefics3 reference model; the window's side takes the same answer's grids (the CLI's
// explain.json) through the window's own path: ImageLoader::decode for the picture, then
// buildHeatmap, colorizeHeatmap and blendOverlay with the window's default colormap and
// opacity, as the window draws the whole answer and saves it. A change to the rules on either
// side (composition, normalisation, colours, alpha, blending, resolution) fails here.
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include "tests/ui/UiTestSupport.h"
#include "ui/Heatmap.h"
#include "ui/ImageLoader.h"
#include "ui/Settings.h"

using namespace vqa::ui;

namespace {

QString findModel() { return vqa::test::findTinyModel(); }

std::vector<vqa::HeatmapGrid> gridsFromJson(const QJsonArray& array) {
    std::vector<vqa::HeatmapGrid> grids;
    for (const QJsonValue& v : array) {
        const QJsonObject o = v.toObject();
        vqa::HeatmapGrid g;
        g.rows = o["rows"].toInt();
        g.cols = o["cols"].toInt();
        const QJsonArray rect = o["rect"].toArray();
        g.x = rect[0].toDouble();
        g.y = rect[1].toDouble();
        g.width = rect[2].toDouble();
        g.height = rect[3].toDouble();
        g.global_view = o["global_view"].toBool();
        for (const QJsonValue& x : o["values"].toArray())
            g.values.push_back(float(x.toDouble())); // written from floats: exact
        grids.push_back(std::move(g));
    }
    return grids;
}

// The largest difference of one channel between two RGB pictures of one size.
int maxChannelDiff(const QImage& a, const QImage& b) {
    int worst = 0;
    for (int y = 0; y < a.height(); ++y) {
        for (int x = 0; x < a.width(); ++x) {
            const QRgb p = a.pixel(x, y), q = b.pixel(x, y);
            worst = std::max({worst, std::abs(qRed(p) - qRed(q)), std::abs(qGreen(p) - qGreen(q)),
                              std::abs(qBlue(p) - qBlue(q))});
        }
    }
    return worst;
}

} // namespace

class TestExplainParity : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString model_;

  private slots:
    void initTestCase() {
        model_ = findModel();
        if (model_.isEmpty())
            QSKIP("no model folder: run the reference script that writes "
                  "<build>/reference/idefics3/<tiny checkpoint>");
        QVERIFY(tmp_.isValid());
    }

    void theCliAndTheWindowDrawTheSamePixels() {
        // Wider than the heatmap's resolution, so the map is composed small and stretched
        // over the picture, as for real photos.
        const QString image_path = tmp_.filePath("scene.png");
        QVERIFY(vqa::test::sceneImage(640, 420).save(image_path));
        const AppSettings window_defaults;
        const QString out = tmp_.filePath("explain");
        QProcess cli;
        cli.setProcessChannelMode(QProcess::MergedChannels);
        cli.start(QStringLiteral(VQA_CLI_BINARY),
                  {"explain", "--model", model_, image_path, "What is in the picture?",
                   "--max-new-tokens", "4", "--device", "cpu", "--out", out, "--contour", "0",
                   "--colormap", window_defaults.colormap, "--opacity",
                   QString::number(window_defaults.overlay_opacity)});
        QVERIFY(cli.waitForFinished(300000));
        const QByteArray log = cli.readAll();
        QVERIFY2(cli.exitStatus() == QProcess::NormalExit && cli.exitCode() == 0, log.constData());

        QFile json(out + "/explain.json");
        QVERIFY(json.open(QIODevice::ReadOnly));
        const QJsonObject doc = QJsonDocument::fromJson(json.readAll()).object();
        std::vector<std::vector<vqa::HeatmapGrid>> tokens;
        for (const QJsonValue& t : doc["tokens"].toArray())
            tokens.push_back(gridsFromJson(t.toObject()["grids"].toArray()));
        QVERIFY(!tokens.empty());

        // The window: the picture as it loads it, the whole answer's overlay as it draws it.
        ImageSource source;
        source.path = image_path;
        source.name = "scene.png";
        QString error;
        const LoadedImage loaded = ImageLoader::decode(source, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        std::vector<const std::vector<vqa::HeatmapGrid>*> grids;
        for (const auto& t : tokens)
            if (!t.empty())
                grids.push_back(&t);
        const QImage overlay = colorizeHeatmap(buildHeatmap(grids, loaded.original_size),
                                               colormapFromName(window_defaults.colormap));
        QVERIFY(!overlay.isNull());
        QVERIFY(overlay.width() < loaded.original_size.width()); // composed small, stretched
        const QImage window = blendOverlay(loaded.display, overlay, window_defaults.overlay_opacity)
                                  .convertToFormat(QImage::Format_RGB32);

        // The CLI: the same picture with its colour legend beside it.
        const QImage answer = QImage(out + "/answer.png").convertToFormat(QImage::Format_RGB32);
        QVERIFY(!answer.isNull());
        QCOMPARE(answer.height(), window.height());
        QVERIFY(answer.width() > window.width());
        const QImage cli_picture = answer.copy(0, 0, window.width(), window.height());
        window.save(vqa::test::artifactsDir() + "/explain-parity-window.png");
        cli_picture.save(vqa::test::artifactsDir() + "/explain-parity-cli.png");

        const int diff = maxChannelDiff(window, cli_picture);
        QVERIFY2(diff <= 1,
                 qPrintable(QString("the window and the CLI differ by %1 in a channel").arg(diff)));
        // And there is a heatmap on both: they differ from the plain picture.
        QVERIFY(maxChannelDiff(window, loaded.display.convertToFormat(QImage::Format_RGB32)) > 40);
    }
};

QTEST_MAIN(TestExplainParity)
#include "tst_explainparity.moc"
