// Grounding in the window: a scripted answer (Qwen2.5-VL's JSON, in the resized image's
// coordinates) whose two boxes are drawn on the canvas as labelled rectangles at the right
// original-image pixels (checked on the rendered canvas), hovering a box highlights the words
// that named it in the chat (and a hovered word its box), the toggle in the bar and the View
// menu, and the boxes kept per answer. A screenshot goes to $VQA_ARTIFACTS.
#include <QAction>
#include <QCheckBox>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMenuBar>
#include <QTemporaryDir>
#include <QTest>

#include "engine/explain/Grounding.h"
#include "tests/ui/UiTestSupport.h"
#include "ui/ChatView.h"
#include "ui/ConversationController.h"
#include "ui/ExplainBar.h"
#include "ui/ExplanationController.h"
#include "ui/Exporter.h"
#include "ui/ImageCanvas.h"
#include "ui/ImageSet.h"
#include "ui/MainWindow.h"

using vqa::test::tokenEvent;
using vqa::ui::MainWindow;

namespace {

// The scene is 1200x800; the model saw it resized to 600x400 and names boxes there.
const QSize kOriginal(1200, 800);
const QSize kBoxSpace(600, 400);

// An answer as Qwen2.5-VL writes it, in tokens: the house and the sun of the scene image.
const std::vector<std::string> kPieces = {
    "Here",  " they", " are", ":\n", "```",   "json", "\n[",     "\n\t{\"", "bbox", "_2d",
    "\":",   " [",    "84",   ",",   " 120",  ",",    " 228",    ",",       " 320", "],",
    " \"",   "label", "\":",  " \"", "house", "\"},", "\n\t{\"", "bbox",    "_2d",  "\":",
    " [",    "432",   ",",    " 44", ",",     " 504", ",",       " 116",    "],",   " \"",
    "label", "\":",   " \"",  "sun", "\"}",   "\n]",  "\n```"};
// Where they are on the original image.
const QRectF kHouse(168, 240, 288, 400);
const QRectF kSun(864, 88, 144, 144);

// What the engine reports at the end of that answer: the parser's boxes, with the tokens that
// named each (the engine takes them from the tokenizer; here from the pieces' byte ranges).
vqa::GenerationResult resultFor(const std::vector<std::string>& pieces) {
    vqa::GenerationResult result;
    std::vector<int> ends;
    for (const auto& p : pieces) {
        result.text += p;
        ends.push_back(int(result.text.size()));
    }
    vqa::ImageLayout layout;
    layout.image_width = kOriginal.width();
    layout.image_height = kOriginal.height();
    layout.box_space_width = kBoxSpace.width();
    layout.box_space_height = kBoxSpace.height();
    result.boxes = vqa::parseGroundingBoxes(result.text, layout, 0);
    for (auto& b : result.boxes) {
        b.token_begin =
            int(std::upper_bound(ends.begin(), ends.end(), b.text_begin) - ends.begin());
        b.token_end =
            int(std::lower_bound(ends.begin(), ends.end(), b.text_end) - ends.begin()) + 1;
    }
    return result;
}

void answer(MainWindow& w, const QString& question, const std::vector<std::string>& pieces) {
    w.conversation()->beginAnswer(question);
    for (size_t i = 0; i < pieces.size(); ++i)
        w.conversation()->handleToken(tokenEvent(int(i), pieces[i]));
    w.conversation()->handleFinished(resultFor(pieces));
}

// Where an original-image rectangle is drawn on the canvas (widget pixels).
QRectF onCanvas(MainWindow& w, const QRectF& original) {
    const QRectF r = w.canvas()->imageRect();
    const double sx = r.width() / kOriginal.width(), sy = r.height() / kOriginal.height();
    return {r.x() + original.x() * sx, r.y() + original.y() * sy, original.width() * sx,
            original.height() * sy};
}

QColor boxColor(int index) {
    const auto c = vqa::groundingBoxColor(index);
    return {c[0], c[1], c[2]};
}

// Whether some pixel within `radius` of `p` has exactly `color` (the outline is drawn
// without antialiasing, so its pixels are the box's colour itself).
bool colourNear(const QImage& shot, QPointF p, const QColor& color, int radius = 2) {
    for (int dy = -radius; dy <= radius; ++dy)
        for (int dx = -radius; dx <= radius; ++dx) {
            const QPoint q(int(p.x()) + dx, int(p.y()) + dy);
            if (shot.rect().contains(q) && shot.pixelColor(q).rgb() == color.rgb())
                return true;
        }
    return false;
}

// The four sides of the rectangle show the colour, at their midpoints.
bool outlined(const QImage& shot, const QRectF& r, const QColor& color) {
    return colourNear(shot, {r.center().x(), r.top()}, color) &&
           colourNear(shot, {r.center().x(), r.bottom()}, color) &&
           colourNear(shot, {r.left(), r.center().y()}, color) &&
           colourNear(shot, {r.right(), r.center().y()}, color);
}

// The pixels written over the tag above the box's top-left corner: neither the tag's colour
// nor the image as it was.
int captionPixels(const QImage& shot, const QImage& before, const QRectF& r, const QColor& tag) {
    int n = 0;
    const int h = QFontMetrics(QApplication::font()).height() + 2;
    for (int y = int(r.top()) - h; y < int(r.top()) - 2; ++y)
        for (int x = int(r.left()) + 1; x < int(r.left()) + 60; ++x)
            if (shot.rect().contains(x, y) && shot.pixel(x, y) != tag.rgb() &&
                shot.pixel(x, y) != before.pixel(x, y))
                ++n;
    return n;
}

QAction* menuAction(MainWindow& w, const QString& text) {
    for (QAction* a : w.menuBar()->findChildren<QAction*>())
        if (a->text() == text)
            return a;
    return nullptr;
}

} // namespace

class TestGrounding : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;
    QTemporaryDir tmp_;

  private slots:
    void initTestCase() {
        vqa::test::isolateSettings(settings_dir_.path());
        QVERIFY(vqa::test::sceneImage(kOriginal.width(), kOriginal.height())
                    .save(tmp_.filePath("scene.png")));
    }

    void anAnswersBoxesAreDrawnLabelledAtTheirOriginalPixelsAndHoverShowsTheirWords() {
        MainWindow window;
        window.resize(1280, 800);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        window.openImage(tmp_.filePath("scene.png"));
        QVERIFY(QTest::qWaitFor(
            [&] { return window.images()->count() == 1 && window.images()->pending() == 0; },
            10000));
        QCOMPARE(window.canvas()->imageSize(), kOriginal);
        QVERIFY(!window.explainBar()->boxesToggle()->isVisible()); // nothing names boxes yet
        const QImage before = window.canvas()->grab().toImage();
        QCOMPARE(before.devicePixelRatio(), 1.0);

        answer(window, "Where are the house and the sun? Answer in JSON.", kPieces);
        const auto& boxes = window.canvas()->boxes();
        QCOMPARE(boxes.size(), size_t(2));
        QCOMPARE(QString::fromStdString(boxes[0].label), QString("house"));
        QCOMPARE(
            QRectF(boxes[0].x1, boxes[0].y1, boxes[0].x2 - boxes[0].x1, boxes[0].y2 - boxes[0].y1),
            kHouse);
        QCOMPARE(
            QRectF(boxes[1].x1, boxes[1].y1, boxes[1].x2 - boxes[1].x1, boxes[1].y2 - boxes[1].y1),
            kSun);
        QVERIFY(window.explainBar()->boxesToggle()->isVisible());
        QVERIFY(window.explainBar()->boxesToggle()->isChecked());

        // Two rectangles at the boxes' pixels, in their colours, each with its caption's tag
        // above it; inside, the image as it was.
        const QRectF house = onCanvas(window, kHouse), sun = onCanvas(window, kSun);
        QCOMPARE(window.canvas()->boxRect(0), house);
        const QImage shot = window.canvas()->grab().toImage();
        QVERIFY(outlined(shot, house, boxColor(0)));
        QVERIFY(outlined(shot, sun, boxColor(1)));
        QVERIFY(!colourNear(shot, house.center(), boxColor(0), 6));
        QCOMPARE(shot.pixel(house.center().toPoint()), before.pixel(house.center().toPoint()));
        QCOMPARE(shot.pixel(sun.center().toPoint()), before.pixel(sun.center().toPoint()));
        // Away from the boxes nothing changed.
        const QPoint away = onCanvas(window, QRectF(600, 700, 1, 1)).topLeft().toPoint();
        QCOMPARE(shot.pixel(away), before.pixel(away));
        for (const auto& [r, i] : {std::pair{house, 0}, std::pair{sun, 1}}) {
            QVERIFY(colourNear(shot, {r.left() + 2, r.top() - 4}, boxColor(i), 1)); // the tag
            QVERIFY2(captionPixels(shot, before, r, boxColor(i)) > 10,
                     "the caption is written in the tag");
        }

        // Hovering a box highlights the words that named it (its object of the JSON) and shows it
        // stronger; the other box the same.
        vqa::ui::ChatView* chat = window.chatView();
        QTest::mouseMove(window.canvas(), house.center().toPoint());
        QTRY_COMPARE(window.explanation()->view().highlight_box, 0);
        QCOMPARE(window.explanation()->view().highlight_message, 1);
        QCOMPARE(window.explanation()->view().highlight_begin, boxes[0].token_begin);
        QCOMPARE(window.explanation()->view().highlight_end, boxes[0].token_end);
        QVERIFY2(window.heatmapCaption().contains("house"), qPrintable(window.heatmapCaption()));
        QTRY_COMPARE(chat->extraSelections().size(), 1);
        const QString words = chat->extraSelections().first().cursor.selectedText();
        QVERIFY2(words.contains("house") && words.contains("84") && !words.contains("sun"),
                 qPrintable(words));
        QCOMPARE(window.canvas()->highlightedBox(), 0);
        const QImage hovered = window.canvas()->grab().toImage();
        QVERIFY(hovered.pixel(house.center().toPoint()) != before.pixel(house.center().toPoint()));
        QVERIFY(window.grab().save(vqa::test::artifactsDir() + "/grounding-boxes.png"));

        // (The window's layout may have moved since: the answer grew the chat.)
        QTest::mouseMove(window.canvas(), onCanvas(window, kSun).center().toPoint());
        QTRY_COMPARE(window.explanation()->view().highlight_box, 1);
        QTRY_VERIFY(chat->extraSelections().size() == 1 &&
                    chat->extraSelections().first().cursor.selectedText().contains("sun"));
        // Off the boxes: no box, no words.
        QTest::mouseMove(window.canvas(),
                         onCanvas(window, QRectF(600, 700, 1, 1)).topLeft().toPoint());
        QTRY_COMPARE(window.explanation()->view().highlight_box, -1);
        QCOMPARE(window.explanation()->view().highlight_message, -1);

        // A hovered word of the chat that names a box makes that box stand out.
        window.explanation()->hover(1, boxes[1].token_begin + 1);
        QCOMPARE(window.explanation()->view().highlight_box, 1);
        QCOMPARE(window.canvas()->highlightedBox(), 1);
        window.explanation()->leave();

        // The toggle hides and shows them; the View menu's action follows it and drives it.
        QAction* action = menuAction(window, "Show &Boxes");
        QVERIFY(action);
        QVERIFY(action->isChecked());
        window.explainBar()->boxesToggle()->setChecked(false);
        QVERIFY(!action->isChecked());
        QVERIFY(!window.canvas()->boxesVisible());
        const QImage hidden = window.canvas()->grab().toImage();
        QVERIFY(!outlined(hidden, onCanvas(window, kHouse), boxColor(0)));
        QVERIFY(!window.settings().boxes_visible);
        action->trigger();
        QVERIFY(window.canvas()->boxesVisible());
        QVERIFY(window.explainBar()->boxesToggle()->isChecked());
        QVERIFY(outlined(window.canvas()->grab().toImage(), onCanvas(window, kHouse), boxColor(0)));

        // The JSON export keeps them with their answer, in original-image pixels.
        const QString json = tmp_.filePath("conversation.json");
        QVERIFY(window.exporter()->exportJson(json));
        QFile file(json);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QJsonArray exported =
            QJsonDocument::fromJson(file.readAll()).object()["turns"].toArray()[1].toObject()["boxes"].toArray();
        QCOMPARE(exported.size(), 2);
        QCOMPARE(exported[1].toObject()["label"].toString(), QString("sun"));
        QCOMPARE(exported[1].toObject()["box"].toArray(), (QJsonArray{864, 88, 1008, 232}));

        // Boxes stay with their answer: an answer without boxes leaves them up, a newer one
        // with a box shows its own, and a word of the first answer brings the first's back.
        answer(window, "What colour is the sky?", {"Blue", "."});
        QCOMPARE(window.canvas()->boxes().size(), size_t(2));
        answer(window, "Where is the sun?",
               std::vector<std::string>(kPieces.begin() + 26, kPieces.end()));
        QTRY_COMPARE(window.canvas()->boxes().size(), size_t(1));
        QCOMPARE(QString::fromStdString(window.canvas()->boxes()[0].label), QString("sun"));
        window.explanation()->hover(1, 0);
        QCOMPARE(window.canvas()->boxes().size(), size_t(2));
        window.explanation()->leave();
        QCOMPARE(window.canvas()->boxes().size(), size_t(1));
    }
};

QTEST_MAIN(TestGrounding)
#include "tst_grounding.moc"
