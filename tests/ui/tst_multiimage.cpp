// Several pictures in one conversation (issue 20): files opened together make one conversation,
// a file added goes with the next question, and each request carries the pictures in the order
// of the conversation's turns; a word's share of attention on each picture (bars over the chat's
// thumbnails, and along a video's timeline) and the canvas drawing the chosen picture's grids
// only; a video's player strip decoding frames off the GUI thread. The controllers' parts are
// fed synthetic answers (as tst_explanation does: each step certain); the window part runs the
// tiny real model (tst_realmodel's) when the reference data has it, and a SmolVLM2 checkpoint
// for a real video answer when <build>/reference/smolvlm2/tiny/model exists (skipped, saying
// why, otherwise). A conversation about several pictures kept in the library and reopened from
// it: the same pictures in the same messages, a video as a video, and pictures whose files are
// gone or changed since shown as missing. Screenshots go to $VQA_ARTIFACTS.
#include <QCoreApplication>
#include <QDir>
#include <QDropEvent>
#include <QFile>
#include <QLabel>
#include <QMimeData>
#include <QPainter>
#include <QSignalSpy>
#include <QSlider>
#include <QTemporaryDir>
#include <QTest>
#include <QToolButton>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <cmath>
#include <numeric>

#include "engine/EngineWorker.h"
#include "engine/library/LibraryDb.h"
#include "tests/ui/ControllerTestSupport.h"
#include "tests/ui/UiTestSupport.h"
#include "tests/ui/WindowTestSupport.h"
#include "ui/ChatView.h"
#include "ui/ConversationController.h"
#include "ui/ExplanationController.h"
#include "ui/Exporter.h"
#include "ui/Heatmap.h"
#include "ui/ImageCanvas.h"
#include "ui/ImageSet.h"
#include "ui/LibraryController.h"
#include "ui/LibraryStore.h"
#include "ui/MainWindow.h"
#include "ui/ModelController.h"
#include "ui/PendingPictures.h"
#include "ui/TimelineBar.h"
#include "ui/VideoFrameReader.h"
#include "ui/VideoStrip.h"

using namespace vqa::ui;
using vqa::ContentPart;
using vqa::HeatmapGrid;

namespace {

// A second picture unlike the scene: a blue field with a yellow square at its lower right.
QImage otherImage(int w = 480, int h = 360) {
    QImage image(w, h, QImage::Format_RGB32);
    image.fill(QColor(40, 60, 150));
    QPainter p(&image);
    p.fillRect(QRectF(w * 0.6, h * 0.6, w * 0.25, h * 0.25), QColor(250, 220, 40));
    return image;
}

// One grid over the whole of picture `image` (or frame `frame` of video `video`), peaking at (fx, fy).
HeatmapGrid gridOn(QSize size, double fx, double fy, float scale, int image, int video = -1, int frame = -1,
                   double time_s = 0) {
    HeatmapGrid g;
    g.rows = g.cols = 6;
    g.width = size.width();
    g.height = size.height();
    g.global_view = true;
    g.image = image;
    g.video = video;
    g.frame = frame;
    g.time_s = time_s;
    for (int r = 0; r < 6; ++r)
        for (int c = 0; c < 6; ++c) {
            const double dx = (c + 0.5) / 6 - fx, dy = (r + 0.5) / 6 - fy;
            g.values.push_back(scale * float(0.01 + std::exp(-(dx * dx + dy * dy) / 0.02)));
        }
    return g;
}

double gridSum(const HeatmapGrid& g) { return std::accumulate(g.values.begin(), g.values.end(), 0.0); }

std::vector<ContentPart::Kind> kinds(const vqa::Turn& turn) {
    std::vector<ContentPart::Kind> out;
    for (const auto& part : turn.content)
        out.push_back(part.kind);
    return out;
}

// The overlay the canvas would draw for these grids over a picture of `size`.
QImage overlayOf(const std::vector<std::vector<HeatmapGrid>>& tokens, QSize size, Colormap map) {
    std::vector<const std::vector<HeatmapGrid>*> list;
    for (const auto& t : tokens)
        if (!t.empty())
            list.push_back(&t);
    return colorizeHeatmap(buildHeatmap(list, size), map);
}

// Writes a small video (frames of changing colour with a moving square); empty when this
// build's FFmpeg has none of the encoders tried.
QString writeVideo(const QString& dir, int frames, double fps) {
    struct Try {
        const char* file;
        const char* fourcc;
    };
    for (const Try t : {Try{"clip.avi", "MJPG"}, Try{"clip.mkv", "FFV1"}, Try{"clip.mp4", "mp4v"}}) {
        const QString path = dir + "/" + t.file;
        cv::VideoWriter w;
        try {
            w.open(path.toStdString(), cv::CAP_FFMPEG,
                   cv::VideoWriter::fourcc(t.fourcc[0], t.fourcc[1], t.fourcc[2], t.fourcc[3]), fps, cv::Size(160, 96));
        } catch (const cv::Exception&) {
            continue;
        }
        if (!w.isOpened())
            continue;
        for (int i = 0; i < frames; ++i) {
            cv::Mat m(96, 160, CV_8UC3, cv::Scalar(40 + i * 4, 90, 200 - i * 4));
            cv::rectangle(m, cv::Rect(4 + i * 4, 30, 24, 24), cv::Scalar(20, 220, 250), cv::FILLED);
            w.write(m);
        }
        w.release();
        return path;
    }
    return {};
}

// A synthetic answer to `question` about the window's current conversation (no model needed:
// the library keeps it as it keeps any answer).
void answer(MainWindow& window, const QString& question, const QString& text) {
    window.conversation()->beginAnswer(question);
    window.conversation()->handleToken(vqa::test::tokenEvent(0, text.toStdString()));
    window.conversation()->handleFinished(vqa::GenerationResult{});
}

// A conversation about two images, then a video added and asked about, kept in the window's
// library; its id there, 0 when it went wrong.
qint64 keepTwoImagesAndAVideo(MainWindow& window, const QString& a, const QString& b, const QString& video) {
    QSignalSpy added(window.images(), &ImageSet::added);
    window.images()->openMany({a, b});
    if (!added.wait(10000))
        return 0;
    answer(window, "What differs between these two?", "Colour");
    QSignalSpy more(window.images(), &ImageSet::picturesAdded);
    window.images()->addToCurrent({video});
    if (!more.wait(10000))
        return 0;
    answer(window, "And in the clip?", "right");
    window.library()->store()->waitForIdle();
    vqa::library::LibraryDb db(window.library()->store()->path().toStdString());
    const auto list = db.conversations();
    return list.empty() ? 0 : list.front().id;
}

// The window with no model, shown.
void show(MainWindow& window) {
    window.resize(1280, 800);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
}

// The controllers as the window connects them, with the status messages of the part under test.
struct Controllers : vqa::test::WiredControllers {
    QStringList& statuses = image_statuses;
};

}  // namespace

class TestMultiImage : public QObject {
    Q_OBJECT
    QTemporaryDir settings_dir_;
    QTemporaryDir tmp_;
    QString scene_, other_, third_;

private slots:
    void initTestCase() {
        vqa::test::isolateSettings(settings_dir_.path());
        scene_ = tmp_.filePath("scene.png");
        other_ = tmp_.filePath("other.png");
        third_ = tmp_.filePath("third.png");
        QVERIFY(vqa::test::sceneImage().save(scene_));
        QVERIFY(otherImage().save(other_));
        QVERIFY(otherImage(200, 200).mirrored().save(third_));
    }

    // Two files opened at once make one conversation; the first question carries both, in
    // order; a file added later goes with the next question only.
    void severalFilesMakeOneConversation() {
        Controllers c;
        QSignalSpy added(&c.images, &ImageSet::added);
        c.images.openMany({scene_, other_});
        QVERIFY(added.wait(10000));
        QCOMPARE(c.images.count(), 1);
        const auto s = c.images.current();
        QCOMPARE(s->pictureCount(), 2);
        QCOMPARE(s->image.name, QStringLiteral("scene.png"));
        QCOMPARE(s->picture(1).name, QStringLiteral("other.png"));
        QCOMPARE(s->unsent, (std::vector<int>{0, 1}));

        c.conversation.beginAnswer("What differs between these two?");
        c.conversation.handleToken(vqa::test::tokenEvent(0, "Colour"));
        c.conversation.handleFinished(vqa::GenerationResult{});
        QVERIFY(s->unsent.empty());
        QCOMPARE(s->messages[0].pictures.size(), size_t(2));

        const vqa::Request first = c.conversation.requestFor(*s, 1);
        QCOMPARE(first.images.size(), size_t(2));
        QVERIFY(first.images[0] == s->image.rgb);
        QVERIFY(first.images[1] == s->picture(1).rgb);
        QCOMPARE(first.image_keys[1], s->picture(1).key.toStdString());
        QCOMPARE(first.conversation.size(), size_t(1));
        QCOMPARE(kinds(first.conversation[0]), (std::vector<ContentPart::Kind>{ContentPart::Kind::Image,
                                                                               ContentPart::Kind::Image,
                                                                               ContentPart::Kind::Text}));

        // A third picture, added to the conversation: it goes with the next question.
        QSignalSpy more(&c.images, &ImageSet::picturesAdded);
        c.images.addToCurrent({third_});
        QVERIFY(more.wait(10000));
        QCOMPARE(c.images.count(), 1);
        QCOMPARE(s->pictureCount(), 3);
        QCOMPARE(s->unsent, (std::vector<int>{2}));
        QVERIFY(c.statuses.last().contains("third.png"));
        QVERIFY2(c.statuses.last().contains("it goes with your next question"), qPrintable(c.statuses.last()));
        c.conversation.beginAnswer("And this one?");
        c.conversation.handleFinished(vqa::GenerationResult{});
        const vqa::Request second = c.conversation.requestFor(*s, 3);
        QCOMPARE(second.images.size(), size_t(3));
        QVERIFY(second.images[2] == s->picture(2).rgb);
        QCOMPARE(second.conversation.size(), size_t(3));
        QCOMPARE(kinds(second.conversation[2]),
                 (std::vector<ContentPart::Kind>{ContentPart::Kind::Image, ContentPart::Kind::Text}));

        // A new conversation starts with every picture again.
        QVERIFY(c.conversation.newConversation());
        QCOMPARE(s->unsent, (std::vector<int>{0, 1, 2}));
    }

    // One image keeps the request it always had: the image at the start of the first turn.
    void oneImageAsBefore() {
        Controllers c;
        QSignalSpy added(&c.images, &ImageSet::added);
        c.images.open(scene_);
        QVERIFY(added.wait(10000));
        const auto s = c.images.current();
        c.conversation.beginAnswer("What is this?");
        c.conversation.handleToken(vqa::test::tokenEvent(0, "A"));
        c.conversation.handleFinished(vqa::GenerationResult{});
        c.conversation.beginAnswer("And?");
        c.conversation.handleFinished(vqa::GenerationResult{});
        const vqa::Request r = c.conversation.requestFor(*s, 3);
        QCOMPARE(r.images.size(), size_t(1));
        QVERIFY(r.videos.empty());
        QCOMPARE(kinds(r.conversation[0]),
                 (std::vector<ContentPart::Kind>{ContentPart::Kind::Image, ContentPart::Kind::Text}));
        QCOMPARE(kinds(r.conversation[2]), (std::vector<ContentPart::Kind>{ContentPart::Kind::Text}));
        // Messages written without pictures (a conversation reopened from the library) too.
        std::vector<ChatMessage> old(2);
        old[0].text = "Q";
        old[1].role = vqa::Role::Assistant;
        old[1].text = "A";
        const auto conv = toConversation(old, 2, true);
        QCOMPARE(kinds(conv[0]), (std::vector<ContentPart::Kind>{ContentPart::Kind::Image, ContentPart::Kind::Text}));
    }

    // The engine's limits: pictures past them are left out, saying so; those before stay.
    void limits() {
        Controllers c;
        QStringList paths;
        for (int i = 0; i < ImageSet::kMaxImages + 2; ++i) {
            const QString p = tmp_.filePath(QStringLiteral("n%1.png").arg(i));
            QImage img(16, 16, QImage::Format_RGB32);
            img.fill(QColor(i * 10, 0, 0));
            QVERIFY(img.save(p));
            paths << p;
        }
        QSignalSpy added(&c.images, &ImageSet::added);
        c.images.openMany(paths);
        QVERIFY(added.wait(10000));
        QCOMPARE(c.images.current()->pictureCount(), ImageSet::kMaxImages);
        QVERIFY2(c.statuses.last().contains("at most 16 images"), qPrintable(c.statuses.last()));
        QVERIFY(c.statuses.last().contains("n16.png") && c.statuses.last().contains("n17.png"));
    }

    // A word's share on each picture sums to 1 and is its grids' sums; the overlay is the
    // chosen picture's grids only: by default the one it looked at most, a click overrides.
    void sharesAndTheChosenPicturesGrids() {
        Controllers c;
        QSignalSpy added(&c.images, &ImageSet::added);
        c.images.openMany({scene_, other_});
        QVERIFY(added.wait(10000));
        const auto s = c.images.current();
        const QSize a = s->picture(0).original_size, b = s->picture(1).original_size;
        // "red" looks mostly at the scene's house, "square" mostly at the other's square.
        vqa::TokenEvent red = vqa::test::tokenEvent(0, "red", {gridOn(a, 0.25, 0.65, 1.0f, 0), gridOn(b, 0.5, 0.5, 0.3f, 1)});
        vqa::TokenEvent square =
            vqa::test::tokenEvent(1, " square", {gridOn(a, 0.5, 0.5, 0.2f, 0), gridOn(b, 0.7, 0.7, 1.5f, 1)});
        c.conversation.beginAnswer("What differs?");
        c.conversation.handleToken(red);
        c.conversation.handleToken(square);
        c.conversation.handleFinished(vqa::GenerationResult{});

        for (const auto& [token, event] : {std::pair{0, red}, std::pair{1, square}}) {
            c.explanation.hover(1, token);
            const HeatmapView& v = c.explanation.view();
            QCOMPARE(v.shares.size(), size_t(2));
            double total = 0;
            for (const auto& sh : v.shares)
                total += sh.share;
            QVERIFY(std::abs(total - 1.0) < 1e-5);
            const double s0 = gridSum(event.attention[0]), s1 = gridSum(event.attention[1]);
            QVERIFY(std::abs(v.shares[0].share - s0 / (s0 + s1)) < 1e-5);
            QVERIFY(std::abs(v.shares[1].share - s1 / (s0 + s1)) < 1e-5);
            const int best = s0 > s1 ? 0 : 1;
            QCOMPARE(v.picture, best);
            // Only that picture's grid is drawn, over that picture's size.
            const QImage expected = overlayOf({{event.attention[size_t(best)]}}, s->picture(best).original_size,
                                              c.explanation.colormap());
            QCOMPARE(v.overlay, expected);
            const QImage mixed = overlayOf({event.attention}, s->picture(best).original_size, c.explanation.colormap());
            QVERIFY(v.overlay != mixed);
        }
        // A click on the other thumbnail: its grids, whatever the word looked at most.
        c.explanation.hover(1, 0);
        c.explanation.choosePicture(1);
        QCOMPARE(c.explanation.view().picture, 1);
        QCOMPARE(c.explanation.view().overlay,
                 overlayOf({{red.attention[1]}}, s->picture(1).original_size, c.explanation.colormap()));
        c.explanation.choosePicture(-1);  // the word chooses again
        QCOMPARE(c.explanation.view().picture, 0);
    }

    // The window on the tiny real model: two files dropped at once, a question about both; the
    // request holds both images in order, the answer's grids lie on both, the bars over the
    // chat's thumbnails are the word's shares, the canvas shows the chosen image's grids only.
    void realModelTwoImages() {
        const QString model = vqa::test::findTinyModel();
        if (model.isEmpty())
            QSKIP("no tiny model: run the reference script that writes <build>/reference/idefics3/<tiny checkpoint>");
        MainWindow window;
        const QString loaded = vqa::test::showAndLoad(window, model, 4);
        QVERIFY2(loaded.isEmpty(), qPrintable(loaded));

        QMimeData drop;
        drop.setUrls({QUrl::fromLocalFile(scene_), QUrl::fromLocalFile(other_)});
        QSignalSpy added(window.images(), &ImageSet::added);
        QVERIFY(window.images()->openFromMime(&drop));
        QVERIFY(added.wait(10000));
        QCOMPARE(window.images()->count(), 1);
        const auto s = window.images()->current();
        QCOMPARE(s->pictureCount(), 2);
        QVERIFY(window.chatView()->picturesShown());

        QSignalSpy answered(window.conversation(), &ConversationController::answerFinished);
        QVERIFY(window.conversation()->ask("What differs between these two pictures?"));
        QVERIFY(answered.wait(120000));
        const ChatMessage& answer = s->messages.back();
        QVERIFY2(answer.error.isEmpty(), qPrintable(answer.error));
        const vqa::Request request = window.conversation()->requestFor(*s, 1);
        QCOMPARE(request.images.size(), size_t(2));
        QVERIFY(request.images[0] == s->image.rgb);
        QVERIFY(request.images[1] == s->picture(1).rgb);
        QCOMPARE(kinds(request.conversation[0]).front(), ContentPart::Kind::Image);
        QCOMPARE(kinds(request.conversation[0])[1], ContentPart::Kind::Image);
        QVERIFY(!answer.tokens.empty());
        bool on0 = false, on1 = false;
        for (const auto& g : answer.tokens[0].attention) {
            on0 |= g.image == 0;
            on1 |= g.image == 1;
        }
        QVERIFY2(on0 && on1, "the first token's grids lie on both images");

        // Pin the first word: bars per picture summing to 1, matching its grids.
        window.explanation()->showTokenHeatmap(1, 0);
        const HeatmapView& v = window.explanation()->view();
        const auto [b, e] = answer.wordOfToken(0);
        double per[2] = {0, 0};
        for (int t = b; t < e; ++t)
            for (const auto& g : answer.tokens[size_t(t)].attention)
                per[g.image] += std::accumulate(g.values.begin(), g.values.end(), 0.0,
                                                [](double acc, float x) { return acc + std::max(0.0f, x); });
        QCOMPARE(v.shares.size(), size_t(2));
        QVERIFY(std::abs(v.shares[0].share + v.shares[1].share - 1.0) < 1e-5);
        QVERIFY(std::abs(v.shares[0].share - per[0] / (per[0] + per[1])) < 1e-4);
        const std::map<int, float>& bars = window.chatView()->pictureShares();
        QCOMPARE(bars.size(), size_t(2));
        QVERIFY(std::abs(bars.at(0) - v.shares[0].share) < 1e-6);
        // The canvas: the chosen image and its grids only.
        QCOMPARE(window.canvas()->imageSize(), s->picture(v.picture).original_size);
        std::vector<std::vector<HeatmapGrid>> mine;
        for (int t = b; t < e; ++t) {
            mine.emplace_back();
            for (const auto& g : answer.tokens[size_t(t)].attention)
                if (g.image == v.picture)
                    mine.back().push_back(g);
        }
        QCOMPARE(v.overlay, overlayOf(mine, s->picture(v.picture).original_size, window.explanation()->colormap()));
        QVERIFY(!window.chatView()->pictureRect(1).isEmpty());

        const QString path = vqa::test::artifactsDir() + "/multiimage-two-images-word-bars.png";
        QVERIFY(window.grab().save(path));
        qInfo("screenshot: %s", qPrintable(path));

        // A click on the other thumbnail in the chat chooses it: the canvas follows.
        const int other = 1 - v.picture;
        QSignalSpy clicked(window.chatView(), &ChatView::pictureClicked);
        const QRect thumb = window.chatView()->pictureRect(other);
        QTest::mouseClick(window.chatView()->viewport(), Qt::LeftButton, {}, thumb.center());
        QCOMPARE(clicked.count(), 1);
        QCOMPARE(clicked.first().first().toInt(), other);
        QCOMPARE(window.explanation()->view().picture, other);
        QCOMPARE(window.canvas()->imageSize(), s->picture(other).original_size);
        // The head explorer's maps lie on that picture too.
        QSignalSpy heads(window.explanation(), &ExplanationController::headMapsReady);
        QVERIFY(window.explanation()->requestHeadMaps());
        QVERIFY(heads.wait(60000));
        QVERIFY(heads.first().at(0).toString().contains(s->picture(other).name));
        const auto maps = heads.first().at(1).value<std::vector<vqa::HeadMap>>();
        QVERIFY(!maps.empty());
        for (const auto& m : maps) {
            QVERIFY(!m.grids.empty());
            for (const auto& g : m.grids)
                QCOMPARE(g.image, other);
        }
        // Saved, the heatmap lies over that picture.
        const QString png = tmp_.filePath("overlay.png");
        QVERIFY(window.exporter()->saveOverlay(png));
        QCOMPARE(QImage(png).size(), s->picture(other).display.size());
        // Exported (Markdown, JSON), the whole answer's map lies over the main picture and is
        // drawn from the grids on it alone, not from both images' grids mixed.
        {
            const auto exported = window.exporter()->heatmaps();
            QVERIFY(!exported.empty());
            const ChatMessage& answer = s->messages[1];
            std::vector<std::vector<vqa::HeatmapGrid>> on_main;
            bool other_grids = false;
            for (const auto& t : answer.tokens) {
                if (t.attention.empty())
                    continue;
                on_main.emplace_back();
                for (const auto& g : t.attention) {
                    if (g.image == 0)
                        on_main.back().push_back(g);
                    other_grids = other_grids || g.image != 0;
                }
            }
            QVERIFY(other_grids);  // the answer looked at both, so the filter matters
            std::vector<const std::vector<vqa::HeatmapGrid>*> tokens;
            for (const auto& g : on_main)
                tokens.push_back(&g);
            const QImage want =
                blendOverlay(s->image.display,
                             colorizeHeatmap(buildHeatmap(tokens, s->image.original_size), window.explanation()->colormap()),
                             window.explanation()->opacity());
            QCOMPARE(exported.front().message, 1);
            QCOMPARE(exported.front().image, want);
        }

        // Regenerated, the answer still sees both images.
        QSignalSpy again(window.conversation(), &ConversationController::answerFinished);
        QVERIFY(window.conversation()->regenerate());
        QVERIFY(again.wait(120000));
        QCOMPARE(s->messages.size(), size_t(2));
        QCOMPARE(s->messages[0].pictures.size(), size_t(2));
        QCOMPARE(window.conversation()->requestFor(*s, 1).images.size(), size_t(2));

        // A third file dropped with Ctrl held joins this conversation and goes with the next
        // question; the canvas shows it.
        QMimeData third;
        third.setUrls({QUrl::fromLocalFile(third_)});
        QSignalSpy joined(window.images(), &ImageSet::picturesAdded);
        const QPoint at = window.canvas()->rect().center();
        QDragEnterEvent enter(at, Qt::CopyAction, &third, Qt::LeftButton, Qt::ControlModifier);
        QCoreApplication::sendEvent(window.canvas(), &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop_ctrl(QPointF(at), Qt::CopyAction, &third, Qt::LeftButton, Qt::ControlModifier);
        QCoreApplication::sendEvent(window.canvas(), &drop_ctrl);
        QVERIFY2(joined.count() > 0 || joined.wait(10000), qPrintable(window.statusText()));
        QCOMPARE(window.images()->count(), 1);
        QCOMPARE(s->pictureCount(), 3);
        QVERIFY2(window.statusText().contains("next question"), qPrintable(window.statusText()));
        QCOMPARE(window.canvas()->imageSize(), s->picture(2).original_size);
        {  // the chat's header names them all
            bool named = false;
            for (QLabel* label : window.findChildren<QLabel*>())
                named |= label->text().contains("scene.png and 2 more");
            QVERIFY(named);
        }
        QSignalSpy answered_third(window.conversation(), &ConversationController::answerFinished);
        QVERIFY(window.conversation()->ask("And this one?"));
        QVERIFY(answered_third.wait(120000));
        QVERIFY2(s->messages.back().error.isEmpty(), qPrintable(s->messages.back().error));
        const vqa::Request follow_up = window.conversation()->requestFor(*s, 3);
        QCOMPARE(follow_up.images.size(), size_t(3));
        QVERIFY(follow_up.images[2] == s->picture(2).rgb);
        QCOMPARE(kinds(follow_up.conversation[2]),
                 (std::vector<ContentPart::Kind>{ContentPart::Kind::Image, ContentPart::Kind::Text}));
        bool on2 = false;
        for (const auto& g : s->messages.back().tokens.at(0).attention)
            on2 |= g.image == 2;
        QVERIFY2(on2, "the follow-up's grids lie on the third image too");
    }

    // Closing a reader while it decodes cancels the decode and returns.
    void readerClosesWhileDecoding() {
        const QString video = writeVideo(tmp_.path(), 30, 10.0);
        if (video.isEmpty())
            QSKIP("this build's FFmpeg has no encoder to write the test video");
        auto reader = std::make_unique<VideoFrameReader>();
        reader->setVideo(video, "clip");
        QSignalSpy ready(reader.get(), &VideoFrameReader::frameReady);
        reader->request(3);
        QVERIFY(ready.wait(10000));
        QCOMPARE(ready.last().at(0).toLongLong(), qint64(3));
        reader->request(3);  // from the cache, at once
        QCOMPARE(ready.count(), 2);
        reader->request(29);
        reader.reset();  // cancels what is in flight, waits for the thread
    }

    // A video on the window's side: its first frame is its picture, the request carries it as a
    // video, the timeline's bars are the word's shares on the frames the model saw, the canvas
    // shows the frame the word looked at most, and the scrubber moves through frames decoded off
    // the GUI thread (each waited for by its signal).
    void videoConversation() {
        const QString video = writeVideo(tmp_.path(), 30, 10.0);
        if (video.isEmpty())
            QSKIP("this build's FFmpeg has no MJPG, FFV1 or MPEG-4 encoder to write the test video");
        MainWindow window;
        window.resize(1280, 800);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QSignalSpy added(window.images(), &ImageSet::added);
        window.images()->openMany({scene_, video});
        QVERIFY(added.wait(10000));
        const auto s = window.images()->current();
        QCOMPARE(s->pictureCount(), 2);
        const LoadedImage& clip = s->picture(1);
        QVERIFY(clip.video);
        QCOMPARE(clip.frame_count, qint64(30));
        QCOMPARE(clip.original_size, QSize(160, 96));

        // A synthetic answer (no model here takes video): "square" looks at the video, most at
        // the frame at 2.0 s; the model saw 4 frames.
        const std::vector<double> times = {0.0, 1.0, 2.0, 2.9};
        const std::vector<float> weight = {0.2f, 0.5f, 1.6f, 0.4f};
        std::vector<HeatmapGrid> grids = {gridOn(s->image.original_size, 0.3, 0.6, 0.3f, 0)};
        for (int f = 0; f < 4; ++f)
            grids.push_back(gridOn(clip.original_size, 0.2 + 0.2 * f, 0.5, weight[size_t(f)], -1, 0, f, times[size_t(f)]));
        window.conversation()->beginAnswer("Where does the square go?");
        window.conversation()->handleToken(vqa::test::tokenEvent(0, "right", grids));
        vqa::GenerationResult result;
        vqa::VideoFrames seen;
        seen.video = 0;
        seen.duration_s = 3.0;
        seen.indices = {0, 10, 20, 29};
        seen.times_s = times;
        result.video_frames = {seen};
        window.conversation()->handleFinished(result);
        const vqa::Request request = window.conversation()->requestFor(*s, 1);
        QCOMPARE(request.images.size(), size_t(1));
        QCOMPARE(request.videos.size(), size_t(1));
        QCOMPARE(request.videos[0].path, video.toStdString());
        QCOMPARE(kinds(request.conversation[0]), (std::vector<ContentPart::Kind>{ContentPart::Kind::Image,
                                                                                ContentPart::Kind::Video,
                                                                                ContentPart::Kind::Text}));

        auto* strip = window.findChild<VideoStrip*>();
        QVERIFY(strip);
        QSignalSpy frames(strip, &VideoStrip::frameShown);
        window.explanation()->showTokenHeatmap(1, 0);
        const HeatmapView& v = window.explanation()->view();
        QCOMPARE(v.picture, 1);
        QCOMPARE(v.frame, 2);
        QCOMPARE(v.shares.size(), size_t(5));
        double video_total = 0, total = 0;
        for (const auto& sh : v.shares) {
            total += sh.share;
            video_total += sh.picture == 1 ? sh.share : 0;
        }
        QVERIFY(std::abs(total - 1.0) < 1e-5);
        QVERIFY(strip->isVisible());
        // The timeline: a bar at each frame the model saw, as tall as its share.
        const auto& marks = strip->timeline()->marks();
        QCOMPARE(marks.size(), size_t(4));
        double all = 0;
        for (const auto& g : grids)
            all += gridSum(g);
        for (size_t f = 0; f < 4; ++f) {
            QCOMPARE(marks[f].time_s, times[f]);
            QVERIFY(std::abs(marks[f].share - gridSum(grids[f + 1]) / all) < 1e-5);
        }
        QVERIFY(std::abs(window.chatView()->pictureShares().at(1) - video_total) < 1e-5);
        // The strip went to the frame at 2.0 s; it arrives decoded, and the canvas shows it with
        // that frame's grid alone.
        QVERIFY(frames.count() > 0 || frames.wait(10000));
        QCOMPARE(strip->frame(), qint64(20));
        QTRY_COMPARE_WITH_TIMEOUT(frames.last().at(0).toLongLong(), qint64(20), 10000);
        QCOMPARE(v.overlay, overlayOf({{grids[3]}}, clip.original_size, window.explanation()->colormap()));
        QVERIFY(window.canvas()->image().pixelColor(5, 5) != clip.display.pixelColor(5, 5));  // not the first frame

        const QString path = vqa::test::artifactsDir() + "/multiimage-video-timeline.png";
        QVERIFY(window.grab().save(path));
        qInfo("screenshot: %s", qPrintable(path));

        // The scrubber: each frame asked for arrives (frameShown), the GUI thread never waits.
        for (int f : {3, 7, 15, 29, 1}) {
            frames.clear();
            strip->scrubber()->setValue(f);
            QVERIFY(QTest::qWaitFor([&] {
                return std::any_of(frames.begin(), frames.end(),
                                   [f](const QList<QVariant>& args) { return args.at(0).toLongLong() == f; });
            }, 10000));
        }
        QVERIFY(strip->reader()->cachedFrames() <= VideoFrameReader::kCacheFrames);
        // A click on the timeline near 1.0 s chooses the frame the model saw there.
        strip->timeline()->resize(400, strip->timeline()->height());
        QTest::mouseClick(strip->timeline(), Qt::LeftButton, {}, QPoint(strip->timeline()->xOf(1.05), 5));
        QCOMPARE(window.explanation()->view().frame, 1);
        QCOMPARE(window.explanation()->view().overlay,
                 overlayOf({{grids[2]}}, clip.original_size, window.explanation()->colormap()));

        // Playing: the frames come one after the other until the end.
        frames.clear();
        strip->seekFrame(25);
        QVERIFY(QTest::qWaitFor([&] { return !frames.isEmpty() && frames.last().at(0).toLongLong() == 25; }, 10000));
        strip->setPlaying(true);
        QVERIFY(QTest::qWaitFor([&] { return !strip->isPlaying(); }, 20000));
        QCOMPARE(strip->frame(), qint64(29));
    }

    // A real video answer, when a SmolVLM2 checkpoint is there.
    void realVideoModel() {
        const QString model = QStringLiteral(VQA_BINARY_DIR "/reference/smolvlm2/tiny/model");
        if (!QDir(model).exists("config.json"))
            QSKIP("no SmolVLM2 checkpoint at <build>/reference/smolvlm2/tiny/model (tests/reference/make_smolvlm2.py "
                  "writes it): the video answer is checked with synthetic grids above");
        const QString video = writeVideo(tmp_.path(), 30, 10.0);
        if (video.isEmpty())
            QSKIP("this build's FFmpeg has no encoder to write the test video");
        MainWindow window;
        const QString loaded = vqa::test::showAndLoad(window, model, 3);
        QVERIFY2(loaded.isEmpty(), qPrintable(loaded));
        QSignalSpy added(window.images(), &ImageSet::added);
        window.images()->open(video);
        QVERIFY(added.wait(10000));
        QSignalSpy answered(window.conversation(), &ConversationController::answerFinished);
        QVERIFY(window.conversation()->ask("What happens in this video?"));
        QVERIFY(answered.wait(120000));
        const auto s = window.images()->current();
        const ChatMessage& answer = s->messages.back();
        QVERIFY2(answer.error.isEmpty(), qPrintable(answer.error));
        QCOMPARE(answer.video_frames.size(), size_t(1));
        QVERIFY(!answer.tokens.empty());
        bool on_frames = !answer.tokens[0].attention.empty();
        for (const auto& g : answer.tokens[0].attention)
            on_frames &= g.video == 0 && g.frame >= 0;
        QVERIFY(on_frames);
        auto* strip = window.findChild<VideoStrip*>();
        QSignalSpy frames(strip, &VideoStrip::frameShown);
        window.explanation()->showTokenHeatmap(1, 0);
        QCOMPARE(strip->timeline()->marks().size(), answer.video_frames[0].times_s.size());
        // The strip went to the frame the word looked at most: the screenshot waits for it.
        QVERIFY(window.explanation()->view().frame >= 0);
        QVERIFY(QTest::qWaitFor([&] { return !frames.isEmpty() && frames.last().at(0).toLongLong() == strip->frame(); },
                                10000));
        QVERIFY(window.chatView()->picturesShown());  // a video's thumbnail shows in its question
        const QString path = vqa::test::artifactsDir() + "/multiimage-smolvlm2-video.png";
        QVERIFY(window.grab().save(path));
        qInfo("screenshot: %s", qPrintable(path));
    }

    // Pictures added to a conversation wait above the question box (not in the chat) until the
    // question that takes them is sent; a click on one shows it on the canvas.
    void addedPicturesWaitAboveTheQuestionBox() {
        MainWindow window;
        show(window);
        auto* pending = window.findChild<PendingPictures*>();
        QVERIFY(pending);
        QSignalSpy added(window.images(), &ImageSet::added);
        window.images()->open(scene_);
        QVERIFY(added.wait(10000));
        QVERIFY2(!pending->isVisible(), "a lone picture no one asked about is on the canvas already");
        answer(window, "What is this?", "A house");
        QVERIFY(!pending->isVisible());

        QSignalSpy more(window.images(), &ImageSet::picturesAdded);
        window.images()->addToCurrent({other_, third_});
        QVERIFY(more.wait(10000));
        QVERIFY2(window.statusText().contains("other.png, third.png: they go with your next question"),
                 qPrintable(window.statusText()));
        QVERIFY(pending->isVisible());
        QCOMPARE(pending->shown(), (std::vector<int>{1, 2}));
        QVERIFY(window.chatView()->pictureRect(1).isEmpty());  // not in the chat yet
        const auto buttons = pending->findChildren<QToolButton*>();
        QCOMPARE(buttons.size(), qsizetype(2));
        QCOMPARE(buttons[0]->accessibleName(), QStringLiteral("other.png"));
        const auto s = window.images()->current();
        buttons[0]->click();
        QCOMPARE(window.explanation()->view().picture, 1);
        QCOMPARE(window.canvas()->imageSize(), s->picture(1).original_size);
        const QString path = vqa::test::artifactsDir() + "/multiimage-pending-pictures.png";
        QVERIFY(window.grab().save(path));
        qInfo("screenshot: %s", qPrintable(path));

        // Sent: they are the question's, in the chat, and nothing waits any more.
        answer(window, "And these two?", "Blue");
        QVERIFY(!pending->isVisible());
        QVERIFY(pending->shown().empty());
        QCOMPARE(s->messages[2].pictures.size(), size_t(2));
        QVERIFY(!window.chatView()->pictureRect(1).isEmpty() && !window.chatView()->pictureRect(2).isEmpty());

        // A new conversation: every picture goes with its first question (the panel itself
        // gives way to the welcome page here, with no model and nothing said).
        QVERIFY(window.conversation()->newConversation());
        QVERIFY(!pending->isHidden());
        QCOMPARE(pending->shown(), (std::vector<int>{0, 1, 2}));
    }

    // Two images and a video asked about, the conversation closed and reopened from the library:
    // the same pictures in the same messages (thumbnails in the chat, the video a video again),
    // and it goes on as the same conversation.
    void reopenedFromTheLibraryWithItsPictures() {
        const QString video = writeVideo(tmp_.path(), 30, 10.0);
        if (video.isEmpty())
            QSKIP("this build's FFmpeg has no encoder to write the test video");
        MainWindow window;
        show(window);
        const qint64 id = keepTwoImagesAndAVideo(window, scene_, other_, video);
        QVERIFY(id > 0);
        {  // what the library holds: each question with the pictures it brought
            vqa::library::LibraryDb db(window.library()->store()->path().toStdString());
            const auto kept = db.messages(id);
            QCOMPARE(kept.size(), size_t(4));
            QCOMPARE(kept[0].pictures.size(), size_t(2));
            QCOMPARE(QString::fromStdString(kept[0].pictures[1].name), QStringLiteral("other.png"));
            QCOMPARE(kept[2].pictures.size(), size_t(1));
            QVERIFY(kept[2].pictures[0].video);
            QCOMPARE(kept[2].pictures[0].picture, 2);
        }
        const auto before = window.images()->current();
        const std::vector<ChatMessage> said = before->messages;
        QStringList keys;
        for (int i = 0; i < before->pictureCount(); ++i)
            keys << before->picture(i).key;
        window.closeImage(0);
        QCOMPARE(window.images()->count(), 0);

        QSignalSpy reopened(window.library(), &LibraryController::reopened);
        window.library()->reopen(id);
        QVERIFY(reopened.wait(10000));
        QCOMPARE(window.images()->count(), 1);
        const auto s = window.images()->current();
        QCOMPARE(s->pictureCount(), 3);
        for (int i = 0; i < 3; ++i) {
            QCOMPARE(s->picture(i).key, keys[i]);
            QVERIFY(s->picture(i).missing.isEmpty());
        }
        QCOMPARE(s->picture(1).name, QStringLiteral("other.png"));
        QVERIFY(s->picture(2).video);
        QCOMPARE(s->picture(2).frame_count, qint64(30));
        QVERIFY(s->unsent.empty());
        QCOMPARE(s->messages.size(), said.size());
        for (size_t m = 0; m < said.size(); ++m) {
            QCOMPARE(s->messages[m].role, said[m].role);
            QCOMPARE(s->messages[m].text, said[m].text);
            QCOMPARE(s->messages[m].pictures.size(), said[m].pictures.size());
            for (size_t p = 0; p < said[m].pictures.size(); ++p) {
                const MessagePicture &got = s->messages[m].pictures[p], &want = said[m].pictures[p];
                QCOMPARE(got.picture, want.picture);
                QCOMPARE(got.video, want.video);
                QCOMPARE(got.name, want.name);
                QCOMPARE(got.thumbnail, want.thumbnail);
            }
        }
        // The chat shows each question's thumbnails; the next request is the one before.
        QVERIFY(window.chatView()->picturesShown());
        for (int i = 0; i < 3; ++i)
            QVERIFY(!window.chatView()->pictureRect(i).isEmpty());
        const vqa::Request next = window.conversation()->requestFor(*s, 3);
        QCOMPARE(next.images.size(), size_t(2));
        QVERIFY(next.images[1]->pixels == before->picture(1).rgb->pixels);
        QCOMPARE(next.videos.size(), size_t(1));
        QCOMPARE(next.videos[0].path, video.toStdString());
        QCOMPARE(kinds(next.conversation[2]),
                 (std::vector<ContentPart::Kind>{ContentPart::Kind::Video, ContentPart::Kind::Text}));
        // The video on the canvas plays as a video.
        window.explanation()->choosePicture(2);
        auto* strip = window.findChild<VideoStrip*>();
        QVERIFY(strip && strip->isVisible());
        QCOMPARE(window.canvas()->imageSize(), QSize(160, 96));
        const QString path = vqa::test::artifactsDir() + "/multiimage-reopened-from-library.png";
        QVERIFY(window.grab().save(path));
        qInfo("screenshot: %s", qPrintable(path));

        // It goes on as the same conversation.
        answer(window, "Which way?", "left");
        window.library()->store()->waitForIdle();
        vqa::library::LibraryDb db(window.library()->store()->path().toStdString());
        QCOMPARE(db.messages(id).size(), size_t(6));
        QCOMPARE(db.messages(id)[2].pictures.size(), size_t(1));
    }

    // Pasted pictures have no file: the library keeps a copy of their pixels, and the
    // conversation reopens on the same pixels, under the names they had.
    void pastedPicturesComeBackFromTheLibrarysCopy() {
        MainWindow window;
        show(window);
        QSignalSpy added(window.images(), &ImageSet::added);
        window.images()->add(otherImage(300, 200), "pasted image");
        QVERIFY(added.wait(10000));
        answer(window, "What is this?", "Blue");
        QMimeData pasted;
        pasted.setImageData(otherImage(120, 90).mirrored());
        QSignalSpy more(window.images(), &ImageSet::picturesAdded);
        QVERIFY(window.images()->addFromMime(&pasted));
        QVERIFY(more.wait(10000));
        answer(window, "And this one?", "Mirrored");
        const auto before = window.images()->current();
        QVERIFY(before->image.path.isEmpty() && before->picture(1).path.isEmpty());
        const QString key0 = before->picture(0).key, key1 = before->picture(1).key, name1 = before->picture(1).name;
        window.library()->store()->waitForIdle();
        qint64 id = 0;
        {
            vqa::library::LibraryDb db(window.library()->store()->path().toStdString());
            id = db.conversations().front().id;
        }
        window.closeImage(0);

        QSignalSpy reopened(window.library(), &LibraryController::reopened);
        window.library()->reopen(id);
        QVERIFY(reopened.wait(10000));
        const auto s = window.images()->current();
        QCOMPARE(s->pictureCount(), 2);
        QCOMPARE(s->picture(0).key, key0);
        QCOMPARE(s->picture(1).key, key1);
        QCOMPARE(s->picture(0).name, QStringLiteral("pasted image"));
        QCOMPARE(s->picture(1).name, name1);
        const QString copies = QFileInfo(window.library()->store()->path()).absolutePath() + "/images/";
        QVERIFY2(s->picture(1).path.startsWith(copies), qPrintable(s->picture(1).path));
        QCOMPARE(s->messages.size(), size_t(4));
        QCOMPARE(s->messages[2].pictures.size(), size_t(1));
        QCOMPARE(s->messages[2].pictures[0].picture, 1);
    }

    // A picture and the video deleted after the conversation was kept: it still opens, each in
    // its place as a placeholder saying it is missing, the status says so, and it cannot be
    // continued (the model would not see what it saw).
    void reopenedWithPicturesGoneSince() {
        const QString video = writeVideo(tmp_.path(), 30, 10.0);
        if (video.isEmpty())
            QSKIP("this build's FFmpeg has no encoder to write the test video");
        const QString gone = tmp_.filePath("gone.png"),
                      gone_video = tmp_.filePath("gone-clip") + video.mid(video.lastIndexOf('.'));
        QFile::remove(gone);
        QFile::remove(gone_video);
        QVERIFY(QFile::copy(other_, gone));
        QVERIFY(QFile::copy(video, gone_video));
        MainWindow window;
        show(window);
        const qint64 id = keepTwoImagesAndAVideo(window, scene_, gone, gone_video);
        QVERIFY(id > 0);
        window.closeImage(0);
        QVERIFY(QFile::remove(gone));
        QVERIFY(QFile::remove(gone_video));

        QSignalSpy reopened(window.library(), &LibraryController::reopened);
        window.library()->reopen(id);
        QVERIFY(reopened.wait(10000));
        const auto s = window.images()->current();
        QCOMPARE(s->pictureCount(), 3);
        QVERIFY(s->picture(0).missing.isEmpty());
        QVERIFY2(s->picture(1).missing.contains("no longer at"), qPrintable(s->picture(1).missing));
        QCOMPARE(s->picture(1).name, QStringLiteral("gone.png"));
        QVERIFY(!s->picture(2).missing.isEmpty());
        QVERIFY(s->picture(2).video);
        QVERIFY(!s->picture(1).thumbnail.isNull() && !s->picture(2).thumbnail.isNull());
        QCOMPARE(s->messages.size(), size_t(4));
        QCOMPARE(s->messages[2].pictures.size(), size_t(1));
        QVERIFY(s->messages[2].pictures[0].video);
        QVERIFY2(window.statusText().contains("2 pictures missing") && window.statusText().contains("gone.png"),
                 qPrintable(window.statusText()));
        for (int i = 0; i < 3; ++i)
            QVERIFY(!window.chatView()->pictureRect(i).isEmpty());
        // On the canvas: the placeholder; the missing video has no player.
        window.explanation()->choosePicture(1);
        QCOMPARE(window.canvas()->imageSize(), s->picture(1).display.size());
        window.explanation()->choosePicture(2);
        QVERIFY(!window.findChild<VideoStrip*>()->isVisible());
        QCOMPARE(window.canvas()->imageSize(), s->picture(2).display.size());
        const QString path = vqa::test::artifactsDir() + "/multiimage-reopened-pictures-missing.png";
        QVERIFY(window.grab().save(path));
        qInfo("screenshot: %s", qPrintable(path));
        // Read, not continued.
        QSignalSpy said(window.conversation(), &ConversationController::status);
        QVERIFY(!window.conversation()->ask("Go on?"));
        QVERIFY(!said.isEmpty());
        QVERIFY2(said.last().first().toString().contains("gone.png is missing"), qPrintable(said.last().first().toString()));
        QCOMPARE(s->messages.size(), size_t(4));
    }

    // A picture whose file was overwritten with other pixels after the conversation was kept:
    // it comes back as a placeholder saying it changed, not as the new pixels (the answers were
    // about the old ones), and the conversation cannot be continued.
    void reopenedWithAPictureChangedSince() {
        const QString changed = tmp_.filePath("changed.png");
        QFile::remove(changed);
        QVERIFY(QFile::copy(other_, changed));
        MainWindow window;
        show(window);
        QSignalSpy added(window.images(), &ImageSet::added);
        window.images()->openMany({scene_, changed});
        QVERIFY(added.wait(10000));
        answer(window, "What differs between these two?", "Colour");
        window.library()->store()->waitForIdle();
        qint64 id = 0;
        {
            vqa::library::LibraryDb db(window.library()->store()->path().toStdString());
            id = db.conversations().front().id;
        }
        const QString key = window.images()->current()->picture(1).key;
        window.closeImage(0);
        QVERIFY(QFile::remove(changed));
        QVERIFY(otherImage().mirrored().save(changed));  // same size and name, other pixels

        QSignalSpy reopened(window.library(), &LibraryController::reopened);
        window.library()->reopen(id);
        QVERIFY(reopened.wait(10000));
        const auto s = window.images()->current();
        QCOMPARE(s->pictureCount(), 2);
        QVERIFY(s->picture(0).missing.isEmpty());
        QVERIFY2(s->picture(1).missing.contains("other pixels"), qPrintable(s->picture(1).missing));
        QVERIFY(!s->picture(1).rgb);
        QCOMPARE(s->picture(1).key, key);  // the placeholder stands for what was kept
        QCOMPARE(s->picture(1).name, QStringLiteral("changed.png"));
        QVERIFY2(window.statusText().contains("changed.png"), qPrintable(window.statusText()));
        QSignalSpy said(window.conversation(), &ConversationController::status);
        QVERIFY(!window.conversation()->ask("Go on?"));
        QVERIFY(!said.isEmpty());
        QVERIFY2(said.last().first().toString().contains("other pixels"), qPrintable(said.last().first().toString()));
        QCOMPARE(s->messages.size(), size_t(2));
    }
};

QTEST_MAIN(TestMultiImage)
#include "tst_multiimage.moc"
