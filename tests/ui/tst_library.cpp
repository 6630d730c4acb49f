// The library in the window, on the tiny checkpoint: every conversation kept as it goes (two
// turns, a regenerated answer replacing the one before, a new conversation a new entry), the
// history shown again after the window is closed and opened anew, a conversation reopened on
// its image and continued, search over conversations and captions, rename and delete, and a
// damaged library file set aside with a message. Screenshots: the history after the
// restart, a search result.
#include <QDockWidget>
#include <QLineEdit>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeWidget>

#include <filesystem>
#include <fstream>

#include "engine/library/LibraryDb.h"
#include "tests/ui/UiTestSupport.h"
#include "ui/ConversationController.h"
#include "ui/ImageSet.h"
#include "ui/LibraryController.h"
#include "ui/LibraryPanel.h"
#include "ui/LibraryStore.h"
#include "ui/MainWindow.h"
#include "ui/ModelController.h"

using vqa::ui::MainWindow;
namespace library = vqa::library;

namespace {

const QString kModel = QStringLiteral(VQA_BINARY_DIR "/reference/idefics3/tiny_untied/model");

}  // namespace

class TestLibrary : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

    QString libraryPath() const { return dir_.filePath("settings/data/vqa-studio/library.db"); }

    // A window with the tiny model and the test image open.
    std::unique_ptr<MainWindow> window() {
        auto w = std::make_unique<MainWindow>();
        w->show();
        [&] {
            QVERIFY(QTest::qWaitForWindowExposed(w.get()));
            vqa::ui::AppSettings s = w->settings();
            s.generation.max_new_tokens = 6;
            s.generation.ignore_eos = true;
            s.load.dtype = "float32";
            w->applySettings(s);
            QSignalSpy ready(w->model(), &vqa::ui::ModelController::loaded);
            w->loadModel(kModel);
            QVERIFY(ready.wait(120000));
        }();
        return w;
    }

    static void ask(MainWindow& w, const QString& question) {
        QSignalSpy finished(w.conversation(), &vqa::ui::ConversationController::answerFinished);
        QVERIFY(w.conversation()->ask(question));
        QVERIFY(finished.wait(120000));
    }

    std::vector<library::ConversationRecord> conversations() const {
        library::LibraryDb db(libraryPath().toStdString());
        return db.conversations();
    }

    std::vector<library::Message> messages(qint64 id) const {
        library::LibraryDb db(libraryPath().toStdString());
        return db.messages(id);
    }

private slots:
    void initTestCase() {
        if (!std::filesystem::exists((kModel + "/model.safetensors").toStdString()))
            QSKIP("no tiny model: run tests/reference/make_idefics3.py (ctest: reference.idefics3)");
        QVERIFY(dir_.isValid());
        vqa::test::isolateSettings(dir_.filePath("settings"));
        QVERIFY(vqa::test::sceneImage().save(dir_.filePath("scene.png")));
    }

    void keepsConversationsAndShowsThemAfterARestart() {
        qint64 first_id = 0;
        QString first_answer;
        {
            auto w = window();
            w->openImage(dir_.filePath("scene.png"));
            QVERIFY(QTest::qWaitFor([&] { return w->images()->count() == 1; }, 10000));
            ask(*w, "What is in the picture?");
            ask(*w, "And the colours?");
            w->library()->store()->waitForIdle();
            auto list = conversations();
            QCOMPARE(int(list.size()), 1);
            first_id = list[0].id;
            QCOMPARE(QString::fromStdString(list[0].title), QString("What is in the picture?"));
            QCOMPARE(QString::fromStdString(list[0].image_path), QFileInfo(dir_.filePath("scene.png")).absoluteFilePath());
            auto kept = messages(first_id);
            QCOMPARE(int(kept.size()), 4);
            QCOMPARE(QString::fromStdString(kept[3].text), w->conversation()->messages().back().text);
            first_answer = QString::fromStdString(kept[1].text);

            // A regenerated answer replaces the last one; it is not a third turn.
            QSignalSpy finished(w->conversation(), &vqa::ui::ConversationController::answerFinished);
            QVERIFY(w->conversation()->regenerate());
            QVERIFY(finished.wait(120000));
            w->library()->store()->waitForIdle();
            QCOMPARE(int(messages(first_id).size()), 4);

            // A new conversation is a new entry.
            QVERIFY(w->conversation()->newConversation());
            ask(*w, "Is there a house?");
            w->library()->store()->waitForIdle();
            QCOMPARE(int(conversations().size()), 2);
        }

        // Closed and opened again: the history is there, grouped under the image.
        auto w = window();
        w->libraryDock()->show();
        vqa::ui::LibraryPanel* panel = w->libraryPanel();
        QVERIFY(vqa::test::waitInEventLoop([&] { return panel->rowCount() == 2; }, 10000));
        QCOMPARE(panel->tree()->topLevelItemCount(), 1);
        QCOMPARE(panel->tree()->topLevelItem(0)->text(0), QString("scene.png"));
        QVERIFY(vqa::test::waitInEventLoop([&] { return !panel->tree()->topLevelItem(0)->icon(0).isNull(); }, 10000));
        QVERIFY(w->grab().save(vqa::test::artifactsDir() + "/library-history.png"));

        // Reopened: the conversation is back on its image, and goes on.
        QSignalSpy reopened(w->library(), &vqa::ui::LibraryController::reopened);
        w->library()->reopen(first_id);
        QVERIFY(reopened.wait(10000));
        QCOMPARE(int(w->conversation()->messages().size()), 4);
        QCOMPARE(w->conversation()->messages()[1].text, first_answer);
        QCOMPARE(w->images()->current()->image.name, QString("scene.png"));
        ask(*w, "Where is the zeppelin?");
        w->library()->store()->waitForIdle();
        auto kept = messages(first_id);
        QCOMPARE(int(kept.size()), 6);
        QCOMPARE(QString::fromStdString(kept[4].text), QString("Where is the zeppelin?"));
        QCOMPARE(int(conversations().size()), 2);
    }

    void searchesConversationsAndCaptions() {
        {  // a caption made by `vqa caption` or the captioning window
            library::LibraryDb db(libraryPath().toStdString());
            library::ImageRecord r;
            r.path = QFileInfo(dir_.filePath("scene.png")).absoluteFilePath().toStdString();
            r.sha256 = std::string(64, '0');
            const auto image = db.upsertImage(r);
            db.putCaption(image.id, "m", "p", "A red house under a yellow sun");
        }
        auto w = window();
        w->libraryDock()->show();
        vqa::ui::LibraryPanel* panel = w->libraryPanel();
        panel->searchBox()->setText("yellow");
        QVERIFY(vqa::test::waitInEventLoop(
            [&] {
                return panel->rowCount() == 1 &&
                       panel->tree()->topLevelItem(0)->text(0).contains("Caption: A red house under a [yellow] sun");
            },
            10000));
        QVERIFY(vqa::test::waitInEventLoop([&] { return !panel->tree()->topLevelItem(0)->icon(0).isNull(); }, 10000));
        QVERIFY(w->grab().save(vqa::test::artifactsDir() + "/library-search.png"));

        panel->searchBox()->setText("zeppelin");  // a question asked in the test above
        QVERIFY(vqa::test::waitInEventLoop(
            [&] {
                return panel->rowCount() == 1 &&
                       panel->tree()->topLevelItem(0)->text(0).contains("Where is the [zeppelin]?");
            },
            10000));
        panel->searchBox()->setText("nothing-like-this");
        QVERIFY(vqa::test::waitInEventLoop([&] { return panel->emptyText().contains("Nothing"); }, 10000));
        panel->searchBox()->clear();
        QVERIFY(vqa::test::waitInEventLoop([&] { return panel->rowCount() == 2; }, 10000));
    }

    void renamesAndDeletes() {
        auto w = window();
        vqa::ui::LibraryPanel* panel = w->libraryPanel();
        QVERIFY(vqa::test::waitInEventLoop([&] { return panel->rowCount() == 2; }, 10000));
        auto list = conversations();
        w->library()->store()->rename(list[0].id, "Renamed");
        QVERIFY(vqa::test::waitInEventLoop(
            [&] { return panel->tree()->topLevelItem(0)->child(0)->text(0).startsWith("Renamed"); }, 10000));
        w->library()->store()->remove(list[1].id);
        QVERIFY(vqa::test::waitInEventLoop([&] { return panel->rowCount() == 1; }, 10000));
        QCOMPARE(int(conversations().size()), 1);
    }

    void theWindowAndTheCommandLineWriteAtOnce() {
        const QString folder = dir_.filePath("cli-photos");
        QDir().mkpath(folder);
        for (int i = 0; i < 60; ++i) {
            QImage image(32 + i % 9, 24 + i % 7, QImage::Format_RGB32);
            image.fill(QColor::fromHsv(i * 6 % 360, 180, 200));
            QVERIFY(image.save(folder + QStringLiteral("/p%1.png").arg(i, 2, 10, QChar('0'))));
        }
        auto w = window();
        w->openImage(dir_.filePath("scene.png"));
        QVERIFY(QTest::qWaitFor([&] { return w->images()->count() == 1; }, 10000));
        QVERIFY(w->conversation()->newConversation());

        // The same library: the CLI inherits XDG_DATA_HOME from isolateSettings.
        QProcess cli;
        cli.setProcessChannelMode(QProcess::MergedChannels);
        cli.start(QStringLiteral(VQA_CLI_BINARY), {"caption", "--model", kModel, folder, "--max-new-tokens", "8",
                                                   "--ignore-eos", "--dtype", "float32"});
        QVERIFY(cli.waitForStarted(10000));
        int asked_meanwhile = 0;
        for (int i = 0; i < 20 && cli.state() == QProcess::Running; ++i) {
            ask(*w, QStringLiteral("Question %1 while the CLI captions?").arg(i));
            asked_meanwhile += cli.state() == QProcess::Running ? 1 : 0;
        }
        // It may have ended while the questions were answered (waitForFinished is false then).
        QVERIFY(cli.state() == QProcess::NotRunning || cli.waitForFinished(300000));
        QVERIFY2(cli.exitCode() == 0, cli.readAll().constData());
        QVERIFY2(asked_meanwhile > 0, "no answer was kept while the CLI ran");
        w->library()->store()->waitForIdle();

        library::LibraryDb db(libraryPath().toStdString());
        QVERIFY2(db.notice().empty(), db.notice().c_str());
        int captioned = 0;
        for (int i = 0; i < 60; ++i)
            if (auto r = db.image(QFileInfo(folder + QStringLiteral("/p%1.png").arg(i, 2, 10, QChar('0'))).absoluteFilePath().toStdString()))
                captioned += int(db.captionsOf(r->id).size());
        QCOMPARE(captioned, 60);
        const auto latest = db.conversations().front();
        const auto& shown = w->conversation()->messages();
        int answered = 0;  // every answer is kept with its question (a failed one would not be)
        for (std::size_t i = 1; i < shown.size(); i += 2)
            answered += shown[i].error.isEmpty() && !shown[i].text.isEmpty() ? 1 : 0;
        QCOMPARE(answered, int(shown.size() / 2));
        QCOMPARE(int(db.messages(latest.id).size()), 2 * answered);
    }

    void aDamagedLibraryIsSetAsideAndANewOneKept() {
        {
            std::ofstream out(libraryPath().toStdString(), std::ios::binary | std::ios::trunc);
            out << std::string(8192, 'z');
        }
        std::filesystem::remove(libraryPath().toStdString() + "-wal");
        std::filesystem::remove(libraryPath().toStdString() + "-shm");
        auto w = window();
        QVERIFY(vqa::test::waitInEventLoop([&] { return w->library()->lastProblem().contains("damaged"); }, 10000));
        w->openImage(dir_.filePath("scene.png"));
        QVERIFY(QTest::qWaitFor([&] { return w->images()->count() == 1; }, 10000));
        ask(*w, "What now?");
        w->library()->store()->waitForIdle();
        QCOMPARE(int(conversations().size()), 1);
        const QStringList aside = QDir(QFileInfo(libraryPath()).absolutePath()).entryList({"library.db.corrupt-*"});
        QCOMPARE(aside.size(), 1);
    }
};

QTEST_MAIN(TestLibrary)
#include "tst_library.moc"
