// Captioning many images (engine/library/FolderCaptioner) on the tiny SmolVLM checkpoint:
// which files are taken, prompts filled per image, each image captioned once and kept, copies
// reused, broken and huge files skipped with a reason, a second run resuming, cancelling
// between and during images, and a run that stops when the engine keeps failing.
#include <atomic>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/Engine.h"
#include "engine/library/FolderCaptioner.h"
#include "engine/library/LibraryDb.h"
#include "models/base/Error.h"
#include "tests/common/TestPaths.h"
#include "tests/engine/test_image_util.h"

namespace fs = std::filesystem;
using namespace vqa;
using namespace vqa::library;

namespace {

void writeBytes(const fs::path& p, const std::vector<std::uint8_t>& bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::uint8_t> png(int w, int h, int seed) {
    std::vector<std::uint8_t> samples(static_cast<std::size_t>(w) * h * 3);
    for (std::size_t i = 0; i < samples.size(); ++i)
        samples[i] = static_cast<std::uint8_t>((i * static_cast<std::size_t>(seed) * 7 + i / 3) % 251);
    return test::makePng(w, h, 8, 2, samples);
}

class FolderCaptionerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() / ("vqa-captioner-" + std::to_string(::getpid()) + "-" + info->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Four images, a copy of one, a broken file, one declaring too many pixels.
    fs::path makeFolder() {
        const fs::path f = dir_ / "photos";
        for (int i = 0; i < 4; ++i)
            writeBytes(f / (i < 2 ? "" : "sub") / ("p" + std::to_string(i) + ".png"), png(24 + i, 20, i + 1));
        writeBytes(f / "sub" / "copy.png", png(25, 20, 2));
        writeBytes(f / "broken.jpg", {0xff, 0xd8, 0xff, 0xe0, 0, 4, 'J', 'F'});
        writeBytes(f / "huge.png", png(1, 1, 1));
        {  // the header of a 30000 x 30000 image: refused before decoding
            std::vector<std::uint8_t> big = png(1, 1, 1);
            big[16] = 0, big[17] = 0, big[18] = 0x75, big[19] = 0x30;  // width 30000
            big[20] = 0, big[21] = 0, big[22] = 0x75, big[23] = 0x30;  // height 30000
            writeBytes(f / "huge.png", big);
        }
        return f;
    }

    void load() {
        const fs::path model = test::referenceDir("idefics3") / "tiny_untied" / "model";
        if (!fs::exists(model / "model.safetensors"))
            GTEST_SKIP() << "missing " << model << ": run tests/reference/make_idefics3.py";
        LoadOptions options;
        options.device = DevicePreference::Cpu;
        options.dtype = "float32";
        engine_.load(model.string(), options);
    }

    CaptionJob job(const fs::path& folder) {
        CaptionJob j;
        j.images = listImageFiles({folder.string()}, true);
        j.model = modelKey(engine_.modelInfo());
        j.prompt = "Describe {name}.";
        j.generation.max_new_tokens = 4;
        j.max_pixels = 100'000'000;
        return j;
    }

    fs::path dir_;
    Engine engine_;
};

TEST_F(FolderCaptionerTest, ListsImageFilesOnceSortedWithoutHiddenOnes) {
    writeBytes(dir_ / "b.PNG", {1});
    writeBytes(dir_ / "a.jpeg", {1});
    writeBytes(dir_ / "notes.txt", {1});
    writeBytes(dir_ / ".hidden.png", {1});
    writeBytes(dir_ / ".cache" / "x.png", {1});
    writeBytes(dir_ / "deep" / "er" / "c.webp", {1});
    const auto flat = listImageFiles({dir_.string()}, false);
    ASSERT_EQ(flat.size(), 2u);
    EXPECT_EQ(flat[0], (dir_ / "a.jpeg").string());
    EXPECT_EQ(flat[1], (dir_ / "b.PNG").string());
    const auto deep = listImageFiles({dir_.string(), (dir_ / "a.jpeg").string(), (dir_ / "notes.txt").string()}, true);
    ASSERT_EQ(deep.size(), 4u) << "each once; a file named explicitly is taken whatever its extension";
    EXPECT_EQ(deep[2], (dir_ / "deep" / "er" / "c.webp").string());
    EXPECT_EQ(deep[3], (dir_ / "notes.txt").string());
    EXPECT_THROW(listImageFiles({(dir_ / "nope").string()}, false), Error);
}

TEST_F(FolderCaptionerTest, FillsThePromptPerImage) {
    EXPECT_EQ(fillPrompt("Caption {name} from {folder} ({file}) {{literal}} {unknown}", "/trips/rome/colosseum.jpg"),
              "Caption colosseum from rome (colosseum.jpg) {literal} {unknown}");
    EXPECT_EQ(fillPrompt("{path}", "/a/b.png"), "/a/b.png");
    EXPECT_EQ(fillPrompt("no variables", "/a/b.png"), "no variables");
}

TEST_F(FolderCaptionerTest, NamesTheModelAndItsPrecision) {
    ModelInfo info;
    info.name = "0123abcd";
    info.path = "/home/u/.cache/huggingface/hub/models--HuggingFaceTB--SmolVLM-256M-Instruct/snapshots/0123abcd";
    info.dtype = "bfloat16";
    EXPECT_EQ(modelKey(info), "HuggingFaceTB/SmolVLM-256M-Instruct bfloat16");
    info.name = "my-model";
    info.path = "/models/my-model";
    info.quantization = "q4_0";
    EXPECT_EQ(modelKey(info), "my-model q4_0");
    info.remote = true;
    info.name = "qwen2.5-vl-72b";
    info.path = "http://gpu-box:8000";
    EXPECT_EQ(modelKey(info), "qwen2.5-vl-72b at http://gpu-box:8000");
}

TEST_F(FolderCaptionerTest, CaptionsEachImageOnceReusesCopiesAndSkipsBadFiles) {
    load();
    const fs::path folder = makeFolder();
    LibraryDb db((dir_ / "library.db").string());
    const CaptionJob j = job(folder);
    ASSERT_EQ(j.images.size(), 7u);
    std::vector<CaptionItem> items;
    std::vector<CaptionProgress> progress;
    const auto summary = captionImages(
        engine_, db, j, [&](const CaptionItem& i) { items.push_back(i); },
        [&](const CaptionProgress& p) { progress.push_back(p); });
    EXPECT_EQ(summary.captioned, 4);
    EXPECT_EQ(summary.reused, 1);
    EXPECT_EQ(summary.skipped, 2);
    EXPECT_FALSE(summary.cancelled);
    ASSERT_EQ(items.size(), 7u);
    for (const auto& item : items) {
        const std::string name = fs::path(item.path).filename().string();
        if (name == "broken.jpg" || name == "huge.png") {
            EXPECT_EQ(item.status, ItemStatus::Skipped) << name;
            EXPECT_EQ(item.message.rfind(name, 0), 0u) << "names the file: " << item.message;
        } else if (name == "copy.png") {
            EXPECT_EQ(item.status, ItemStatus::Reused);
            EXPECT_NE(item.message.find("p1.png"), std::string::npos) << item.message;
        } else {
            EXPECT_EQ(item.status, ItemStatus::Captioned) << name;
            EXPECT_FALSE(item.text.empty());
            ASSERT_TRUE(db.image(item.path)) << name;
            const auto kept = db.caption(db.image(item.path)->id, j.model, j.prompt);
            ASSERT_TRUE(kept);
            EXPECT_EQ(kept->text, item.text);
        }
    }
    EXPECT_NE(items[1].message.find("pixels"), std::string::npos) << items[1].message;  // huge.png
    EXPECT_EQ(db.captions(j.model, j.prompt).size(), 5u);
    ASSERT_EQ(progress.size(), 14u) << "when each image starts and ends";
    EXPECT_EQ(progress.back().done, 7);
    EXPECT_GE(progress.back().eta_s, 0.0);
    EXPECT_EQ(progress.front().current, j.images.front());

    // The same run again resumes: nothing is captioned twice.
    items.clear();
    const auto again = captionImages(engine_, db, j, [&](const CaptionItem& i) { items.push_back(i); });
    EXPECT_EQ(again.captioned, 0);
    EXPECT_EQ(again.kept, 5);
    EXPECT_EQ(again.skipped, 2);
    EXPECT_EQ(items[2].status, ItemStatus::Kept);
    EXPECT_EQ(items[2].text, db.caption(db.image(items[2].path)->id, j.model, j.prompt)->text);

    // Another prompt is another set of captions; --redo captions again.
    CaptionJob other = j;
    other.prompt = "Tags for {name}:";
    EXPECT_EQ(captionImages(engine_, db, other, {}).captioned, 4);
    CaptionJob redo = j;
    redo.redo = true;
    EXPECT_EQ(captionImages(engine_, db, redo, {}).captioned, 5);
}

TEST_F(FolderCaptionerTest, AChangedFileIsCaptionedAgain) {
    load();
    const fs::path folder = makeFolder();
    LibraryDb db((dir_ / "library.db").string());
    const CaptionJob j = job(folder);
    captionImages(engine_, db, j, {});
    writeBytes(folder / "p0.png", png(30, 30, 9));
    int captioned = 0;
    captionImages(engine_, db, j, [&](const CaptionItem& i) {
        if (i.status == ItemStatus::Captioned) {
            ++captioned;
            EXPECT_EQ(fs::path(i.path).filename(), "p0.png");
        }
    });
    EXPECT_EQ(captioned, 1);
}

TEST_F(FolderCaptionerTest, CancelsBetweenImagesAndDuringOne) {
    load();
    const fs::path folder = makeFolder();
    LibraryDb db((dir_ / "library.db").string());
    const CaptionJob j = job(folder);
    // Sorted: broken.jpg, huge.png, p0.png, p1.png, sub/copy.png, sub/p2.png, sub/p3.png.
    std::atomic<bool> cancel{false};
    int seen = 0;
    auto summary = captionImages(
        engine_, db, j,
        [&](const CaptionItem&) {
            if (++seen == 4)
                cancel = true;  // after p1.png: copy.png never starts
        },
        {}, &cancel);
    EXPECT_TRUE(summary.cancelled);
    EXPECT_EQ(seen, 4);
    EXPECT_EQ(db.captions(j.model, j.prompt).size(), 2u);

    // Cancelled while sub/p2.png is being captioned: that image is not kept.
    cancel = false;
    std::vector<CaptionItem> items;
    summary = captionImages(
        engine_, db, j, [&](const CaptionItem& i) { items.push_back(i); },
        [&](const CaptionProgress& p) {
            if (p.current == j.images[5])
                cancel = true;
        },
        &cancel);
    EXPECT_TRUE(summary.cancelled);
    ASSERT_EQ(items.size(), 6u);
    EXPECT_EQ(items[4].status, ItemStatus::Reused);
    EXPECT_EQ(items[5].status, ItemStatus::Stopped);
    EXPECT_EQ(db.captions(j.model, j.prompt).size(), 3u);

    cancel = false;
    summary = captionImages(engine_, db, j, {}, {}, &cancel);
    EXPECT_FALSE(summary.cancelled);
    EXPECT_EQ(summary.kept, 3);
    EXPECT_EQ(summary.captioned, 2);
}

TEST_F(FolderCaptionerTest, CaptionsInBatchesWhatOneByOneCaptions) {
    load();
    const fs::path folder = makeFolder();
    for (int i = 4; i < 9; ++i)
        writeBytes(folder / ("q" + std::to_string(i) + ".png"), png(20 + i, 18, i + 3));
    CaptionJob j = job(folder);
    LibraryDb one_by_one((dir_ / "one.db").string());
    std::vector<CaptionItem> alone;
    captionImages(engine_, one_by_one, j, [&](const CaptionItem& i) { alone.push_back(i); });

    j.batch_size = 3;
    LibraryDb batched((dir_ / "batched.db").string());
    std::vector<CaptionItem> together;
    int starts = 0;
    const auto summary = captionImages(
        engine_, batched, j,
        [&](const CaptionItem& i) {
            together.push_back(i);
            // Handed out once it is kept.
            if (i.status == ItemStatus::Captioned) {
                EXPECT_TRUE(batched.caption(batched.image(i.path)->id, j.model, j.prompt)) << i.path;
            }
        },
        [&](const CaptionProgress& p) { starts += !p.current.empty(); });
    EXPECT_EQ(summary.captioned, 9);
    EXPECT_EQ(summary.reused, 1);
    EXPECT_EQ(summary.skipped, 2);
    ASSERT_EQ(together.size(), alone.size());
    for (std::size_t i = 0; i < alone.size(); ++i) {
        EXPECT_EQ(together[i].index, static_cast<int>(i)) << "in the images' order";
        EXPECT_EQ(together[i].status, alone[i].status) << alone[i].path;
        EXPECT_EQ(together[i].text, alone[i].text) << alone[i].path;
    }
    // Sorted: broken, huge (a step each), p0 p1 q4, q5 q6 q7, q8 + copy + p2, p3.
    EXPECT_LT(starts, 9) << "images captioned together start together";
}

TEST_F(FolderCaptionerTest, StopsWhenTheEngineKeepsFailing) {
    const fs::path folder = makeFolder();
    LibraryDb db((dir_ / "library.db").string());
    Engine no_model;
    CaptionJob j;
    j.images = listImageFiles({folder.string()}, true);
    j.model = "none";
    j.prompt = "p";
    j.max_engine_failures_in_a_row = 3;
    int items = 0;
    const auto summary = captionImages(no_model, db, j, [&](const CaptionItem&) { ++items; });
    EXPECT_EQ(summary.captioned, 0);
    EXPECT_FALSE(summary.stopped_because.empty());
    EXPECT_NE(summary.stopped_because.find("the last 3 images"), std::string::npos) << summary.stopped_because;
    EXPECT_LT(items, 7) << "stopped before the end";
}

} // namespace
