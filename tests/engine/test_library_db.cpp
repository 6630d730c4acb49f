// The library database (engine/library/LibraryDb) and the caption files (CaptionExport): what
// is kept, found, migrated, repaired and set aside; writers in several threads at once.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/io/AtomicFile.h"
#include "engine/library/CaptionExport.h"
#include "engine/library/LibraryDb.h"
#include "models/base/Error.h"

namespace fs = std::filesystem;
using namespace vqa::library;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Runs `sql` on the file over a connection of its own (as an older version or another program
// would, past LibraryDb); SQLITE_OK when it ran.
int rawExec(const std::string& db, const char* sql) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open(db.c_str(), &raw);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(raw, sql, nullptr, nullptr, nullptr);
    sqlite3_close(raw);
    return rc;
}

// The number `sql` answers, read the same way; -1 when it could not be read.
int rawCount(const std::string& db, const char* sql) {
    sqlite3* raw = nullptr;
    int n = -1;
    if (sqlite3_open(db.c_str(), &raw) == SQLITE_OK)
        sqlite3_exec(
            raw, sql,
            [](void* out, int, char** values, char**) {
                *static_cast<int*>(out) = std::atoi(values[0]);
                return 0;
            },
            &n, nullptr);
    sqlite3_close(raw);
    return n;
}

class LibraryTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() /
               ("vqa-library-" + std::to_string(::getpid()) + "-" + info->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string db() const { return (dir_ / "library.db").string(); }

    static ImageRecord image(const std::string& path, const std::string& sha) {
        ImageRecord r;
        r.path = path;
        r.size = 100;
        r.mtime_ns = 1;
        r.sha256 = sha;
        r.width = 10;
        r.height = 20;
        return r;
    }

    fs::path dir_;
};

TEST_F(LibraryTest, KeepsImagesCaptionsAndFindsThem) {
    LibraryDb lib(db());
    EXPECT_TRUE(lib.notice().empty());
    const auto a = lib.upsertImage(image("/photos/a.jpg", "aaa"));
    const auto b = lib.upsertImage(image("/photos/b.jpg", "bbb"));
    EXPECT_NE(a.id, b.id);
    lib.putCaption(a.id, "m", "p", "A red bicycle leaning on a wall.");
    lib.putCaption(b.id, "m", "p", "A café with blue chairs.");
    lib.putCaption(b.id, "other", "p", "Chairs outside.");

    ASSERT_TRUE(lib.caption(a.id, "m", "p"));
    EXPECT_EQ(lib.caption(a.id, "m", "p")->text, "A red bicycle leaning on a wall.");
    EXPECT_FALSE(lib.caption(a.id, "m", "other prompt"));
    EXPECT_EQ(lib.captions("m", "p").size(), 2u);
    EXPECT_EQ(lib.captionsOf(b.id).size(), 2u);

    auto hits = lib.search("red bic");  // every word; the last a prefix
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].image_path, "/photos/a.jpg");
    EXPECT_EQ(hits[0].kind, "caption");
    EXPECT_NE(hits[0].snippet.find("[red]"), std::string::npos) << hits[0].snippet;
    EXPECT_EQ(lib.search("cafe").size(), 1u) << "diacritics are folded";
    EXPECT_TRUE(lib.search("red café").empty());
    // FTS5 syntax is taken literally, never an error.
    for (const char* q : {"\"", "a OR", "NEAR(", "*", "col:x", "(", "-x", "'"})
        EXPECT_NO_THROW(lib.search(q)) << q;
    EXPECT_TRUE(lib.search("   ").empty());

    // Replacing a caption replaces its search entry.
    lib.putCaption(a.id, "m", "p", "A green tram.");
    EXPECT_TRUE(lib.search("bicycle").empty());
    EXPECT_EQ(lib.search("tram").size(), 1u);
}

TEST_F(LibraryTest, ChangedContentLosesItsCaptions) {
    LibraryDb lib(db());
    auto a = lib.upsertImage(image("/x/a.png", "one"));
    lib.putCaption(a.id, "m", "p", "first");
    auto touched = image("/x/a.png", "one");
    touched.mtime_ns = 99;
    EXPECT_EQ(lib.upsertImage(touched).id, a.id);
    EXPECT_TRUE(lib.caption(a.id, "m", "p")) << "same content, same caption";
    EXPECT_EQ(lib.image("/x/a.png")->mtime_ns, 99);
    lib.upsertImage(image("/x/a.png", "two"));
    EXPECT_FALSE(lib.caption(a.id, "m", "p"));
    EXPECT_TRUE(lib.search("first").empty());

    const auto b = lib.upsertImage(image("/x/copy.png", "two"));
    lib.putCaption(b.id, "m", "p", "second");
    const auto same = lib.captionByContent("two", "m", "p");
    ASSERT_TRUE(same);
    EXPECT_EQ(same->image_path, "/x/copy.png");
    EXPECT_FALSE(lib.captionByContent("two", "m", "q"));
}

TEST_F(LibraryTest, ConversationsKeepTheirMessagesInOrder) {
    LibraryDb lib(db());
    const auto img = lib.upsertImage(image("/a.jpg", "s"));
    const auto c1 = lib.addConversation(img.id, "Receipt", "m");
    const auto c2 = lib.addConversation(0, "Text only", "m");
    lib.addMessage(c1, {"user", "What is the total?"});
    lib.addMessage(c1, {"assistant", "The total is 42 euros."});
    lib.addMessage(c2, {"user", "Hello"});
    EXPECT_THROW(lib.addMessage(c1, {"system", "x"}), vqa::Error);
    EXPECT_THROW(lib.addMessage(12345, {"user", "x"}), vqa::Error);

    const auto m = lib.messages(c1);
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[0].role, "user");
    EXPECT_EQ(m[1].text, "The total is 42 euros.");
    auto list = lib.conversations();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].id, c2) << "most recently updated first";
    EXPECT_EQ(list[1].image_path, "/a.jpg");
    EXPECT_EQ(list[0].image_path, "");

    auto hits = lib.search("euros");
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].kind, "message");
    EXPECT_EQ(hits[0].conversation_id, c1);
    EXPECT_EQ(hits[0].image_path, "/a.jpg");

    // A turn appended, then its answer regenerated: the tail replaced, in place.
    lib.replaceMessagesFrom(c1, 2, {{"user", "And the tax?"}, {"assistant", "Four euros."}});
    lib.replaceMessagesFrom(c1, 2, {{"user", "And the tax?"}, {"assistant", "Four euros twenty."}});
    ASSERT_EQ(lib.messages(c1).size(), 4u);
    EXPECT_EQ(lib.messages(c1)[3].text, "Four euros twenty.");
    EXPECT_TRUE(lib.search("twenty").size() == 1 && lib.search("four").size() == 1);
    EXPECT_THROW(lib.replaceMessagesFrom(999, 0, {}), vqa::Error);
    ASSERT_TRUE(lib.conversation(c1));
    EXPECT_EQ(lib.conversation(c1)->title, "Receipt");
    EXPECT_FALSE(lib.conversation(999));

    lib.renameConversation(c1, "The receipt");
    EXPECT_EQ(lib.conversation(c1)->title, "The receipt");
    lib.deleteConversation(c1);
    EXPECT_TRUE(lib.messages(c1).empty());
    EXPECT_TRUE(lib.search("euros").empty());
    EXPECT_EQ(lib.conversations().size(), 1u);
}

TEST_F(LibraryTest, KeepsEverythingAcrossReopening) {
    {
        LibraryDb lib(db());
        const auto a = lib.upsertImage(image("/a.jpg", "s"));
        lib.putCaption(a.id, "m", "p", "kept");
        lib.addMessage(lib.addConversation(a.id, "t", "m"), {"user", "still here"});
    }
    LibraryDb again(db());
    EXPECT_TRUE(again.notice().empty());
    EXPECT_EQ(again.captions("m", "p").size(), 1u);
    EXPECT_EQ(again.search("still").size(), 1u);
}

TEST_F(LibraryTest, MigratesTheFirstSchemaKeepingItsCaptions) {
    LibraryDb::createAtVersion(db(), 1);
    ASSERT_EQ(rawExec(db(), "INSERT INTO images (path, size, mtime_ns, sha256, added_at) VALUES ('/old.jpg', 1, 1, 'h', 0);"
                           "INSERT INTO captions (image_id, model, prompt, text, created_at) VALUES (1, 'm', 'p', "
                           "'a lighthouse at dusk', 0);"), SQLITE_OK);
    LibraryDb lib(db());
    EXPECT_NE(lib.notice().find("schema 1 to " + std::to_string(LibraryDb::kSchemaVersion)), std::string::npos)
        << lib.notice();
    ASSERT_EQ(lib.captions("m", "p").size(), 1u);
    auto hits = lib.search("lighthouse");  // the captions from before are searchable
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].image_path, "/old.jpg");
    EXPECT_GT(lib.addConversation(1, "new in version 2", "m"), 0);
}

// The pictures a conversation about several images and a video brought, question by question.
std::vector<Message> picturesConversation() {
    return {{"user", "What differs between these?",
             {{0, "/p/a.png", false, "key-a", "a.png"}, {1, "/p/b.png", false, "key-b", "b.png"}}},
            {"assistant", "The colours."},
            {"user", "And in the clip?", {{2, "/v/clip.mp4", true, "key-clip", "clip.mp4"}}},
            {"assistant", "A square moves right."}};
}

void expectSamePictures(const std::vector<Message>& got, const std::vector<Message>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t m = 0; m < got.size(); ++m) {
        EXPECT_EQ(got[m].role, want[m].role) << m;
        EXPECT_EQ(got[m].text, want[m].text) << m;
        ASSERT_EQ(got[m].pictures.size(), want[m].pictures.size()) << m;
        for (size_t p = 0; p < got[m].pictures.size(); ++p) {
            const PictureRecord &a = got[m].pictures[p], &b = want[m].pictures[p];
            EXPECT_EQ(a.picture, b.picture) << m << "/" << p;
            EXPECT_EQ(a.path, b.path) << m << "/" << p;
            EXPECT_EQ(a.video, b.video) << m << "/" << p;
            EXPECT_EQ(a.key, b.key) << m << "/" << p;
            EXPECT_EQ(a.name, b.name) << m << "/" << p;
        }
    }
}

// Rows of message_pictures, read past the class (what a delete must leave nothing of).
int pictureRows(const std::string& db) { return rawCount(db, "SELECT COUNT(*) FROM message_pictures"); }

TEST_F(LibraryTest, MessagesKeepTheirPicturesInOrder) {
    const auto want = picturesConversation();
    std::int64_t c = 0;
    {
        LibraryDb lib(db());
        const auto a = lib.upsertImage(image("/p/a.png", "s"));
        c = lib.addConversation(a.id, "Pictures", "m");
        lib.replaceMessagesFrom(c, 0, {want[0], want[1]});
        lib.addMessage(c, want[2]);
        lib.addMessage(c, want[3]);
        // Another conversation's pictures stay its own (written with the conversation).
        const auto other = lib.addConversation(a.id, "Other", "m",
                                               {{"user", "Just this?", {{0, "/p/z.png", false, "key-z", "z.png"}}},
                                                {"assistant", "Yes."}});
        expectSamePictures(lib.messages(other), {{"user", "Just this?", {{0, "/p/z.png", false, "key-z", "z.png"}}},
                                                 {"assistant", "Yes."}});
    }
    LibraryDb again(db());  // kept across reopening
    expectSamePictures(again.messages(c), want);
    EXPECT_EQ(pictureRows(db()), 4);
}

TEST_F(LibraryTest, ARegeneratedAnswerReplacesItsQuestionsPictures) {
    LibraryDb lib(db());
    const auto c = lib.addConversation(lib.upsertImage(image("/p/a.png", "s")).id, "Pictures", "m");
    auto want = picturesConversation();
    lib.replaceMessagesFrom(c, 0, want);
    // The last answer regenerated, its question now with another picture: the old ones are gone.
    want[2].pictures = {{2, "/p/c.png", false, "key-c", "c.png"}};
    want[3].text = "A square moves left.";
    lib.replaceMessagesFrom(c, 2, {want[2], want[3]});
    expectSamePictures(lib.messages(c), want);
    EXPECT_EQ(pictureRows(db()), 3);
    // Back to the first question: every later picture goes.
    lib.replaceMessagesFrom(c, 0, {{"user", "Only words?"}, {"assistant", "Only words."}});
    expectSamePictures(lib.messages(c), {{"user", "Only words?"}, {"assistant", "Only words."}});
    EXPECT_EQ(pictureRows(db()), 0);
}

TEST_F(LibraryTest, ATurnIsKeptWholeOrNotAtAll) {
    LibraryDb lib(db());
    const auto a = lib.upsertImage(image("/p/a.png", "s")).id;
    const auto c = lib.addConversation(a, "Pictures", "m");
    const auto first = picturesConversation();
    lib.replaceMessagesFrom(c, 0, {first[0], first[1]});
    // A picture the database refuses mid-turn (a failing disk would do the same).
    ASSERT_EQ(rawExec(db(), "CREATE TRIGGER refuse BEFORE INSERT ON message_pictures WHEN new.name = 'refused.png' "
                           "BEGIN SELECT RAISE(ABORT, 'refused'); END;"), SQLITE_OK);
    Message question{"user", "And these?",
                     {{2, "/p/fine.png", false, "key-f", "fine.png"}, {3, "/p/refused.png", false, "key-r", "refused.png"}}};
    EXPECT_THROW(lib.replaceMessagesFrom(c, 2, {question, {"assistant", "Both."}}), vqa::Error);
    expectSamePictures(lib.messages(c), {first[0], first[1]});  // nothing of the turn, the turn before whole
    EXPECT_EQ(pictureRows(db()), 2);
    EXPECT_TRUE(lib.search("both").empty());
    // The first turn of a new conversation: no conversation is left behind without it.
    EXPECT_THROW(lib.addConversation(a, "Refused", "m", {question, {"assistant", "Both."}}), vqa::Error);
    ASSERT_EQ(lib.conversations().size(), 1u);
    EXPECT_EQ(lib.conversations()[0].title, "Pictures");
}

TEST_F(LibraryTest, DeletingAConversationDeletesItsPictures) {
    LibraryDb lib(db());
    const auto img = lib.upsertImage(image("/p/a.png", "s"));
    const auto c = lib.addConversation(img.id, "Pictures", "m");
    const auto keep = lib.addConversation(img.id, "Kept", "m");
    lib.replaceMessagesFrom(c, 0, picturesConversation());
    lib.replaceMessagesFrom(keep, 0, {{"user", "This?", {{0, "/p/a.png", false, "key-a", "a.png"}}}, {"assistant", "Yes."}});
    EXPECT_EQ(pictureRows(db()), 4);
    lib.deleteConversation(c);
    EXPECT_TRUE(lib.messages(c).empty());
    EXPECT_EQ(pictureRows(db()), 1);
    EXPECT_EQ(lib.messages(keep)[0].pictures.size(), 1u);
    EXPECT_TRUE(lib.image("/p/a.png")) << "the image row stays: another conversation is about it";
}

TEST_F(LibraryTest, MigratesTheThirdSchemaKeepingEverything) {
    LibraryDb::createAtVersion(db(), 3);
    ASSERT_EQ(rawExec(db(), "INSERT INTO images (path, size, mtime_ns, sha256, added_at) VALUES ('/old.jpg', 1, 1, 'h', 0);"
                           "INSERT INTO captions (image_id, model, prompt, text, created_at) VALUES (1, 'm', 'p', "
                           "'a lighthouse at dusk', 0);"
                           "INSERT INTO conversations (image_id, title, model, created_at, updated_at) VALUES "
                           "(1, 'the lighthouse', 'm', 0, 0);"
                           "INSERT INTO messages (conversation_id, seq, role, text, created_at) VALUES "
                           "(1, 0, 'user', 'Is the lamp lit?', 0), (1, 1, 'assistant', 'Yes, it is lit.', 0);"
                           "INSERT INTO embeddings (image_id, model, dim, vector, created_at) VALUES "
                           "(1, 'clip', 1, x'0000803f', 0);"), SQLITE_OK);
    LibraryDb lib(db());
    EXPECT_NE(lib.notice().find("schema 3 to 4"), std::string::npos) << lib.notice();
    ASSERT_EQ(lib.captions("m", "p").size(), 1u);
    EXPECT_EQ(lib.search("lighthouse").size(), 1u);
    EXPECT_EQ(lib.search("lamp").size(), 1u) << "the messages from before are searchable";
    ASSERT_EQ(lib.conversations().size(), 1u);
    EXPECT_EQ(lib.conversations()[0].image_path, "/old.jpg");
    EXPECT_EQ(lib.conversations()[0].title, "the lighthouse");
    // The messages from before have no pictures: a conversation about its main image alone.
    expectSamePictures(lib.messages(1), {{"user", "Is the lamp lit?"}, {"assistant", "Yes, it is lit."}});
    EXPECT_EQ(rawCount(db(), "SELECT COUNT(*) FROM embeddings"), 1) << "the search vectors stay";
    // It goes on with pictures.
    auto turn = picturesConversation();
    lib.replaceMessagesFrom(1, 2, {turn[2], turn[3]});
    ASSERT_EQ(lib.messages(1).size(), 4u);
    EXPECT_TRUE(lib.messages(1)[0].pictures.empty());
    expectSamePictures({lib.messages(1)[2]}, {turn[2]});
}

TEST_F(LibraryTest, SetsADamagedFileAsideAndStartsANewOne) {
    {
        std::ofstream out(db(), std::ios::binary);
        out << "This is not an SQLite database, but it is long enough to look like a header of one. " << std::string(4096, 'x');
    }
    std::unique_ptr<LibraryDb> lib;
    ASSERT_NO_THROW(lib = std::make_unique<LibraryDb>(db()));
    EXPECT_NE(lib->notice().find("damaged"), std::string::npos) << lib->notice();
    int aside = 0;
    for (const auto& e : fs::directory_iterator(dir_))
        if (e.path().filename().string().rfind("library.db.corrupt-", 0) == 0) {
            ++aside;
            EXPECT_EQ(slurp(e.path()).substr(0, 8), "This is ") << "kept as it was";
        }
    EXPECT_EQ(aside, 1);
    const auto a = lib->upsertImage(image("/a.jpg", "s"));
    lib->putCaption(a.id, "m", "p", "works");
    EXPECT_EQ(lib->search("works").size(), 1u);
}

TEST_F(LibraryTest, SetsAsideADatabaseDamagedInsideItsPages) {
    {
        LibraryDb lib(db());
        for (int i = 0; i < 200; ++i) {
            const auto a = lib.upsertImage(image("/p/" + std::to_string(i) + ".jpg", std::to_string(i)));
            lib.putCaption(a.id, "m", "p", std::string(300, static_cast<char>('a' + i % 26)));
        }
    }
    {  // overwrite a stretch of pages after the header
        std::fstream f(db(), std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(4096 * 3);
        const std::string junk(4096 * 4, '\x5a');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    std::unique_ptr<LibraryDb> lib;
    ASSERT_NO_THROW(lib = std::make_unique<LibraryDb>(db()));
    EXPECT_NE(lib->notice().find("damaged"), std::string::npos) << lib->notice();
    EXPECT_TRUE(lib->captions("m", "p").empty());
}

TEST_F(LibraryTest, LeavesANewerSchemaUntouched) {
    LibraryDb::createAtVersion(db(), LibraryDb::kSchemaVersion);
    ASSERT_EQ(rawExec(db(), "PRAGMA user_version = 99"), SQLITE_OK);
    try {
        LibraryDb lib(db());
        FAIL() << "opened a newer schema";
    } catch (const vqa::Error& e) {
        EXPECT_NE(std::string(e.what()).find("newer VQA Studio"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(fs::exists(db()));
}

TEST_F(LibraryTest, CannotCreateInAFolderThatIsAFile) {
    { std::ofstream(dir_ / "file") << "x"; }
    EXPECT_THROW(LibraryDb((dir_ / "file" / "library.db").string()), vqa::Error);
}

TEST_F(LibraryTest, WritersInSeveralConnectionsAtOnceLoseNothing) {
    LibraryDb::createAtVersion(db(), LibraryDb::kSchemaVersion);
    constexpr int kThreads = 4, kEach = 60;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            try {
                LibraryDb lib(db());
                for (int i = 0; i < kEach; ++i) {
                    const std::string name = "/t" + std::to_string(t) + "/" + std::to_string(i) + ".jpg";
                    const auto a = lib.upsertImage(image(name, name));
                    lib.putCaption(a.id, "m", "p", "word" + std::to_string(t));
                    if (i % 10 == 0)
                        lib.addMessage(lib.addConversation(a.id, "c", "m"), {"user", "hello"});
                }
            } catch (const std::exception& e) {
                ADD_FAILURE() << e.what();
                ++failures;
            }
        });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(failures.load(), 0);
    LibraryDb lib(db());
    EXPECT_EQ(lib.captions("m", "p").size(), static_cast<std::size_t>(kThreads * kEach));
    EXPECT_EQ(lib.search("word2", 1000).size(), static_cast<std::size_t>(kEach));
    EXPECT_EQ(lib.conversations().size(), static_cast<std::size_t>(kThreads * kEach / 10));
}

// --- the caption files -------------------------------------------------------------------

TEST_F(LibraryTest, CaptionLogRepairsALineCutShortAndKnowsItsImages) {
    const std::string path = (dir_ / "out" / "captions.jsonl").string();
    CaptionRecord c;
    c.model = "m";
    c.prompt = "p";
    {
        CaptionLog log(path);
        EXPECT_FALSE(log.repaired());
        c.image_path = "/a.jpg";
        c.text = "one \"quoted\"\nline";
        log.append(c);
        c.image_path = "/b.jpg";
        c.text = "two";
        log.append(c);
    }
    {
        std::ofstream out(path, std::ios::app | std::ios::binary);
        out << "{\"image\": \"/c.jpg\", \"capt";  // a crash mid-line
    }
    CaptionLog log(path);
    EXPECT_TRUE(log.repaired());
    EXPECT_TRUE(log.has("/a.jpg"));
    EXPECT_TRUE(log.has("/b.jpg"));
    EXPECT_FALSE(log.has("/c.jpg"));
    c.image_path = "/c.jpg";
    c.text = "three";
    log.append(c);
    std::istringstream lines(slurp(path));
    std::string line;
    int n = 0;
    while (std::getline(lines, line)) {
        ++n;
        EXPECT_EQ(line.front(), '{') << line;
        EXPECT_EQ(line.back(), '}') << line;
    }
    EXPECT_EQ(n, 3);
    EXPECT_NE(slurp(path).find("\\\"quoted\\\"\\nline"), std::string::npos);
}

TEST_F(LibraryTest, SidecarsAreKeptUnlessOverwritingAndNeverLeftHalfWritten) {
    const std::string image_path = (dir_ / "holiday.beach.jpg").string();
    const fs::path txt = dir_ / "holiday.beach.txt";
    EXPECT_EQ(sidecarPath(image_path), txt.string());
    EXPECT_EQ(writeSidecar(image_path, "sand and sea", false), SidecarResult::Written);
    EXPECT_EQ(slurp(txt), "sand and sea\n");
    EXPECT_EQ(writeSidecar(image_path, "sand and sea", false), SidecarResult::Unchanged);
    EXPECT_EQ(writeSidecar(image_path, "something else", false), SidecarResult::KeptExisting);
    EXPECT_EQ(slurp(txt), "sand and sea\n");
    EXPECT_EQ(writeSidecar(image_path, "something else", true), SidecarResult::Written);
    EXPECT_EQ(slurp(txt), "something else\n");
    for (const auto& e : fs::directory_iterator(dir_))
        EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "left behind: " << e.path();
    // A folder that cannot be written: a clear error, not a crash.
    EXPECT_THROW(writeSidecar((dir_ / "holiday.beach.txt" / "x.jpg").string(), "x", false), vqa::Error);
}

TEST_F(LibraryTest, RemovesOnlyTheTemporariesOfProcessesThatAreGone) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0)
        ::_exit(0);
    ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // reaped: its pid names no process now
    const std::string dead = std::to_string(child), alive = std::to_string(::getpid());
    const std::vector<std::string> names = {"a.txt." + dead + ".tmp", "b.txt." + alive + ".tmp", "c.tmp",
                                            "d.txt.x1.tmp", "e.txt"};
    for (const auto& name : names)
        std::ofstream(dir_ / name) << "x";
    EXPECT_EQ(vqa::removeStaleTemporaries(dir_.string()), 1);
    EXPECT_FALSE(fs::exists(dir_ / ("a.txt." + dead + ".tmp")));
    for (std::size_t i = 1; i < names.size(); ++i)
        EXPECT_TRUE(fs::exists(dir_ / names[i])) << names[i];
    EXPECT_EQ(vqa::removeStaleTemporaries((dir_ / "missing").string()), 0);
}

TEST_F(LibraryTest, CsvQuotesWhatNeedsIt) {
    std::vector<CaptionRecord> rows(2);
    rows[0].image_path = "/a,b.jpg";
    rows[0].text = "He said \"hi\"\nthen left";
    rows[1].image_path = "/plain.jpg";
    rows[1].text = "plain";
    const std::string path = (dir_ / "c.csv").string();
    writeCaptionsCsv(rows, path);
    EXPECT_EQ(slurp(path), "image,caption\r\n\"/a,b.jpg\",\"He said \"\"hi\"\"\nthen left\"\r\n/plain.jpg,plain\r\n");
}

} // namespace
