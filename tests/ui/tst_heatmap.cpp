// The UI's pure parts: colormaps, attention grids to heatmap, image decoding for the engine
// (EXIF orientation, transparency, content keys, dropped data), words of an answer, and
// the conversation handed to the engine.
#include <QBuffer>
#include <QMimeData>
#include <QTest>
#include <QUrl>

#include "tests/ui/UiTestSupport.h"
#include "ui/ChatMessage.h"
#include "ui/Colormap.h"
#include "ui/Heatmap.h"
#include "ui/ImageLoader.h"

using namespace vqa::ui;

namespace {

// A JPEG with an EXIF APP1 segment whose Orientation is `orientation`.
QByteArray jpegWithOrientation(const QImage& image, quint16 orientation) {
    QByteArray jpeg;
    QBuffer buf(&jpeg);
    buf.open(QIODevice::WriteOnly);
    image.save(&buf, "JPG", 95);
    QByteArray tiff("MM\x00\x2a\x00\x00\x00\x08", 8);      // big-endian, IFD at 8
    tiff += QByteArray("\x00\x01", 2);                      // one entry
    tiff += QByteArray("\x01\x12\x00\x03\x00\x00\x00\x01", 8);  // Orientation, SHORT, 1
    tiff += char(orientation >> 8);
    tiff += char(orientation & 0xff);
    tiff += QByteArray("\x00\x00", 2);
    tiff += QByteArray("\x00\x00\x00\x00", 4);              // no next IFD
    QByteArray app1 = QByteArray("Exif\x00\x00", 6) + tiff;
    const int len = int(app1.size()) + 2;
    QByteArray segment("\xff\xe1", 2);
    segment += char(len >> 8);
    segment += char(len & 0xff);
    segment += app1;
    return jpeg.left(2) + segment + jpeg.mid(2);  // right after SOI
}

}  // namespace

class TestHeatmap : public QObject {
    Q_OBJECT
private slots:
    void colormapsHaveTheirKnownEnds() {
        QCOMPARE(colormapColor(Colormap::Viridis, 0.0f), qRgb(68, 1, 84));
        QCOMPARE(colormapColor(Colormap::Viridis, 1.0f), qRgb(253, 231, 37));
        QCOMPARE(colormapColor(Colormap::Gray, 0.5f), qRgb(128, 128, 128));
        auto near = [](QRgb a, QRgb b) {
            return std::abs(qRed(a) - qRed(b)) <= 3 && std::abs(qGreen(a) - qGreen(b)) <= 3 &&
                   std::abs(qBlue(a) - qBlue(b)) <= 3;
        };
        QVERIFY(near(colormapColor(Colormap::Jet, 0.5f), qRgb(128, 255, 128)));
        QVERIFY(near(colormapColor(Colormap::Jet, 0.0f), qRgb(0, 0, 128)));
        const QRgb hot = colormapColor(Colormap::Turbo, 0.9f), cold = colormapColor(Colormap::Turbo, 0.1f);
        QVERIFY(qRed(hot) > 170 && qBlue(hot) < 80);
        QVERIFY(qBlue(cold) > qRed(cold));
        QCOMPARE(colormapColor(Colormap::Gray, -3.0f), qRgb(0, 0, 0));  // clamped
        QCOMPARE(colormapColor(Colormap::Gray, 7.0f), qRgb(255, 255, 255));
        QCOMPARE(colormapFromName("Viridis"), Colormap::Viridis);
        QCOMPARE(colormapFromName("nonsense"), Colormap::Turbo);
        QCOMPARE(colormapName(Colormap::Jet), QString("jet"));
    }

    void aGridMapsToItsRectangle() {
        // One hot cell at row 1, col 2 of a 2x4 grid over the right half of a 400x200 image.
        vqa::HeatmapGrid g;
        g.rows = 2;
        g.cols = 4;
        g.values = {0, 0, 0, 0, 0, 0, 1, 0};
        g.x = 200;
        g.y = 0;
        g.width = 200;
        g.height = 200;
        const std::vector<vqa::HeatmapGrid> grids{g};
        const HeatmapField f = buildHeatmap({&grids}, QSize(400, 200), 100);
        QCOMPARE(f.width, 100);
        QCOMPARE(f.height, 50);
        auto at = [&](double ix, double iy) { return f.values[size_t(int(iy / 4)) * f.width + int(ix / 4)]; };
        auto covered = [&](double ix, double iy) { return f.covered[size_t(int(iy / 4)) * f.width + int(ix / 4)] != 0; };
        // Cell (1, 2) spans x 300..350, y 100..200; its centre is the maximum.
        QVERIFY(at(325, 150) > 0.95f);
        QVERIFY(at(225, 50) < 0.05f);
        QVERIFY(!covered(100, 100));  // the left half has no grid
        QVERIFY(covered(250, 100));
        const QImage overlay = colorizeHeatmap(f, Colormap::Gray);
        QCOMPARE(qAlpha(overlay.pixel(10, 10)), 0);
        QVERIFY(qRed(overlay.pixel(325 / 4, 150 / 4)) > 240);
        QVERIFY(qAlpha(overlay.pixel(325 / 4, 150 / 4)) > qAlpha(overlay.pixel(225 / 4, 50 / 4)));  // hot is more opaque
    }

    void meanOverTokensAveragesTheirMaps() {
        const QSize size(300, 300);
        const auto a = vqa::test::bumpGrids(0.2, 0.2, size, 0.08);
        const auto b = vqa::test::bumpGrids(0.8, 0.8, size, 0.08);
        const HeatmapField fa = buildHeatmap({&a}, size, 60);
        const HeatmapField fab = buildHeatmap({&a, &b}, size, 60);
        auto at = [](const HeatmapField& f, double fx, double fy) {
            return f.values[size_t(int(fy * f.height)) * f.width + int(fx * f.width)];
        };
        QVERIFY2(at(fa, 0.2, 0.2) > 0.75f, qPrintable(QString::number(at(fa, 0.2, 0.2))));
        QVERIFY(at(fa, 0.8, 0.8) < 0.1f);
        // Both places are hot in the mean, and about equally.
        QVERIFY(at(fab, 0.2, 0.2) > 0.7f);
        QVERIFY(at(fab, 0.8, 0.8) > 0.7f);
        auto peak = [](const HeatmapField& f, double fx, double fy) {
            float best = 0;
            for (int dy = -4; dy <= 4; ++dy)
                for (int dx = -4; dx <= 4; ++dx)
                    best = std::max(best, f.values[size_t(int(fy * f.height) + dy) * f.width + int(fx * f.width) + dx]);
            return best;
        };
        QVERIFY(std::abs(peak(fab, 0.2, 0.2) - peak(fab, 0.8, 0.8)) < 0.1f);
        QVERIFY(at(fab, 0.5, 0.1) < 0.3f);
        // Different layouts take the general path and agree.
        auto c = b;
        c.pop_back();  // no global view
        const HeatmapField fac = buildHeatmap({&a, &c}, size, 60);
        QVERIFY(at(fac, 0.2, 0.2) > 0.6f);
        QVERIFY(at(fac, 0.8, 0.8) > 0.6f);
        // Nothing in, nothing out.
        QVERIFY(buildHeatmap({}, size).empty());
        const std::vector<vqa::HeatmapGrid> bad{vqa::HeatmapGrid{2, 2, {1.0f}, 0, 0, 10, 10, false}};
        QVERIFY(buildHeatmap({&bad}, size).empty());
    }

    void blendPutsTheOverlayOverTheImage() {
        QImage image(20, 10, QImage::Format_RGB32);
        image.fill(Qt::black);
        QImage overlay(2, 1, QImage::Format_ARGB32);
        overlay.setPixel(0, 0, qRgba(255, 255, 255, 255));
        overlay.setPixel(1, 0, qRgba(0, 0, 0, 0));
        const QImage out = blendOverlay(image, overlay, 0.5);
        QCOMPARE(out.size(), image.size());
        QVERIFY(std::abs(qRed(out.pixel(2, 5)) - 128) <= 2);
        QCOMPARE(qRed(out.pixel(18, 5)), 0);
    }

    void exifOrientationIsApplied() {
        QImage wide(40, 20, QImage::Format_RGB32);
        wide.fill(Qt::white);
        const QByteArray rotated = jpegWithOrientation(wide, 6);  // rotate 90° clockwise
        ImageSource src;
        src.name = "rotated.jpg";
        src.bytes = rotated;
        QString error;
        const LoadedImage loaded = ImageLoader::decode(src, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QCOMPARE(loaded.original_size, QSize(20, 40));
        QCOMPARE(loaded.rgb->width, 20);
        QCOMPARE(loaded.rgb->height, 40);
    }

    void rgbForTheEngine() {
        QImage image(3, 2, QImage::Format_ARGB32);
        image.fill(qRgba(0, 0, 0, 0));        // transparent → white
        image.setPixel(0, 0, qRgba(10, 20, 30, 255));
        const vqa::RgbImage rgb = ImageLoader::toRgb(image);
        QCOMPARE(rgb.width, 3);
        QCOMPARE(rgb.height, 2);
        QCOMPARE(rgb.pixels.size(), size_t(18));
        QCOMPARE(int(rgb.pixels[0]), 10);
        QCOMPARE(int(rgb.pixels[1]), 20);
        QCOMPARE(int(rgb.pixels[2]), 30);
        QCOMPARE(int(rgb.pixels[3]), 255);
        QCOMPARE(int(rgb.pixels[17]), 255);

        // Same pixels, same key; different pixels, different key.
        ImageSource a, b;
        a.image = vqa::test::sceneImage(64, 48);
        b.image = a.image.copy();
        QString e1, e2;
        const auto la = ImageLoader::decode(a, &e1), lb = ImageLoader::decode(b, &e2);
        QCOMPARE(la.key, lb.key);
        b.image.setPixel(3, 3, qRgb(1, 2, 3));
        QVERIFY(ImageLoader::decode(b, &e2).key != la.key);
        QVERIFY(!la.thumbnail.isNull());
        QVERIFY(la.thumbnail.width() <= 2 * ImageLoader::kThumbnailSide);
    }

    void brokenBytesGiveAReadableError() {
        ImageSource src;
        src.name = "junk.png";
        src.bytes = "not an image at all";
        QString error;
        ImageLoader::decode(src, &error);
        QVERIFY(error.startsWith("junk.png: "));
    }

    void mimeSources() {
        QMimeData files;
        files.setUrls({QUrl::fromLocalFile("/tmp/a.png"), QUrl::fromLocalFile("/tmp/b.jpg")});
        auto s = ImageLoader::sourcesFromMime(&files);
        QCOMPARE(s.size(), size_t(2));
        QCOMPARE(s[1].name, QString("b.jpg"));
        QMimeData inline_image;
        QByteArray png;
        QBuffer buf(&png);
        buf.open(QIODevice::WriteOnly);
        QImage(7, 5, QImage::Format_RGB32).save(&buf, "PNG");
        inline_image.setUrls({QUrl("data:image/png;base64," + QString::fromLatin1(png.toBase64()))});
        s = ImageLoader::sourcesFromMime(&inline_image);
        QCOMPARE(s.size(), size_t(1));
        QString err;
        QCOMPARE(ImageLoader::decode(s[0], &err).original_size, QSize(7, 5));
        QMimeData text;
        text.setText("hello");
        QString problem;
        QVERIFY(ImageLoader::sourcesFromMime(&text, &problem).empty());
        QVERIFY(problem.contains("no image"));
    }

    void wordsOfAnAnswer() {
        ChatMessage m;
        m.role = vqa::Role::Assistant;
        const QStringList pieces = {"A", " ho", "use", ",", " big", "ger", "."};
        for (const QString& p : pieces) {
            TokenRecord r;
            r.start = int(m.text.size());
            m.text += p;
            r.end = int(m.text.size());
            m.tokens.push_back(r);
        }
        const auto words = m.words();
        QCOMPARE(words.size(), size_t(5));  // A | house | , | bigger | .
        QCOMPARE(words[1], std::make_pair(1, 3));
        QCOMPARE(m.wordOfToken(2), std::make_pair(1, 3));
        QCOMPARE(m.wordOfToken(5), std::make_pair(4, 6));
        QCOMPARE(m.wordOfToken(3), std::make_pair(3, 4));
    }

    void conversationForTheEngine() {
        std::vector<ChatMessage> msgs(5);
        msgs[0].role = vqa::Role::User;
        msgs[0].text = "What is it?";
        msgs[1].role = vqa::Role::Assistant;
        msgs[1].text = "A cat.";
        msgs[2].role = vqa::Role::User;
        msgs[2].text = "What colour?";
        msgs[3].role = vqa::Role::Assistant;
        msgs[3].error = "failed";
        msgs[4].role = vqa::Role::User;
        msgs[4].text = "Hello?";
        const vqa::Conversation c = toConversation(msgs, msgs.size(), true);
        QCOMPARE(c.size(), size_t(3));
        QCOMPARE(c[0].content.size(), size_t(2));
        QVERIFY(c[0].content[0].kind == vqa::ContentPart::Kind::Image);
        QCOMPARE(c[0].content[1].text, std::string("What is it?"));
        QVERIFY(c[1].role == vqa::Role::Assistant);
        // The failed answer is left out and the two questions around it merge.
        QVERIFY(c[2].role == vqa::Role::User);
        QCOMPARE(c[2].content.size(), size_t(2));
        QCOMPARE(c[2].content[1].text, std::string("Hello?"));
    }
};

QTEST_MAIN(TestHeatmap)
#include "tst_heatmap.moc"
