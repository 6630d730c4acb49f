// The image index (engine/retrieval/ImageIndex) and its tables (library::EmbeddingStore, schema 3)
// with a deterministic stand-in for a dual encoder: each image's colour histogram, normalized,
// counted per call, able to raise the cancel flag or fail during its k-th call. What a run
// embeds, reuses, keeps and removes as files are added, changed, touched, deleted, renamed and
// copied between runs; broken files reported and remembered; a cancelled or failed run resumed;
// two models kept apart; search against a brute-force ranking computed here.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include "engine/library/EmbeddingStore.h"
#include "engine/library/LibraryDb.h"
#include "engine/retrieval/ImageIndex.h"
#include "engine/vision/ImageIO.h"
#include "models/base/Error.h"
#include "tests/engine/test_image_util.h"

namespace fs = std::filesystem;
using namespace vqa;
using namespace vqa::retrieval;
using vqa::library::LibraryDb;

namespace {

void writeBytes(const fs::path& p, const std::vector<std::uint8_t>& bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A PNG whose colours are a mix of its own: every seed gives another colour histogram.
std::vector<std::uint8_t> photo(int seed, int w = 24, int h = 16) {
    std::vector<std::uint8_t> samples(static_cast<std::size_t>(w) * h * 3);
    std::uint32_t x = static_cast<std::uint32_t>(seed) * 2654435761u + 12345u;
    const int spread[3] = {40 + seed * 37 % 216, 40 + seed * 71 % 216, 40 + seed * 13 % 216};
    for (std::size_t i = 0; i < samples.size(); ++i) {
        x = x * 1664525u + 1013904223u;
        const int c = static_cast<int>(i % 3);
        samples[i] = static_cast<std::uint8_t>((seed * 29 * (c + 1) + static_cast<int>(x >> 24) % spread[c]) % 256);
    }
    return test::makePng(w, h, 8, 2, samples);
}

// The stand-in model: per channel a histogram of `bins` bins, the three concatenated and
// L2-normalized.
class HistogramEmbedder : public ImageEmbedder {
  public:
    explicit HistogramEmbedder(std::string id = "histogram-8", int bins = 8) : id_(std::move(id)), bins_(bins) {}
    std::string modelId() const override { return id_; }
    int dim() const override { return 3 * bins_; }
    std::vector<float> embedImages(const std::vector<RgbImage>& images) const override {
        ++calls;
        batch_sizes.push_back(static_cast<int>(images.size()));
        if (cancel && cancel_on_call == calls)
            cancel->store(true);  // as Ctrl+C arriving while this batch is embedded
        if (fail_on_call == calls)
            throw Error("the model stopped (test)");
        std::vector<float> out;
        for (const auto& image : images) {
            const auto v = histogram(image, bins_);
            out.insert(out.end(), v.begin(), v.end());
            ++embedded;
        }
        return out;
    }
    static std::vector<float> histogram(const RgbImage& image, int bins) {
        std::vector<double> h(static_cast<std::size_t>(3 * bins), 0.0);
        for (std::size_t i = 0; i < image.pixels.size(); ++i)
            h[(i % 3) * bins + image.pixels[i] * bins / 256] += 1;
        double norm = 0;
        for (double v : h)
            norm += v * v;
        std::vector<float> out;
        for (double v : h)
            out.push_back(static_cast<float>(v / std::sqrt(norm)));
        return out;
    }
    std::vector<float> ofFile(const fs::path& p) const { return histogram(decodeImageFile(p.string()), bins_); }

    mutable int calls = 0;
    mutable int embedded = 0;
    mutable std::vector<int> batch_sizes;
    std::atomic<bool>* cancel = nullptr;
    int cancel_on_call = 0;
    int fail_on_call = 0;

  private:
    std::string id_;
    int bins_;
};

std::vector<std::string> paths(const std::vector<ImageMatch>& matches) {
    std::vector<std::string> out;
    for (const auto& m : matches)
        out.push_back(m.path);
    return out;
}

class ImageIndexTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() / ("vqa-index-" + std::to_string(::getpid()) + "-" + info->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        photos_ = dir_ / "photos";
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string db() const { return (dir_ / "library.db").string(); }

    // `n` photos, every third in a subfolder.
    void makePhotos(int n, int first_seed = 1) {
        for (int i = 0; i < n; ++i)
            writeBytes(photo_path(i), photo(first_seed + i));
    }
    fs::path photo_path(int i) const {
        return photos_ / (i % 3 == 2 ? "sub" : "") / ("p" + std::to_string(i / 10) + std::to_string(i % 10) + ".png");
    }

    fs::path dir_;
    fs::path photos_;
};

TEST_F(ImageIndexTest, PicksUpAddedChangedDeletedAndRenamedFilesWithoutEmbeddingTheRest) {
    makePhotos(6);
    LibraryDb lib(db());
    ImageIndex index(lib);
    HistogramEmbedder model;

    IndexReport first = index.update(photos_.string(), model);
    EXPECT_EQ(first.folder, photos_.string());
    EXPECT_EQ(first.model, "histogram-8");
    EXPECT_EQ(first.files, 6);
    EXPECT_EQ(first.added, 6);
    EXPECT_EQ(first.unchanged + first.changed + first.reused + first.removed, 0);
    EXPECT_TRUE(first.failed.empty());
    EXPECT_FALSE(first.cancelled);
    EXPECT_EQ(model.embedded, 6);
    EXPECT_EQ(index.count("histogram-8"), 6);

    IndexReport again = index.update(photos_.string(), model);
    EXPECT_EQ(again.unchanged, 6);
    EXPECT_EQ(again.added + again.changed + again.reused + again.removed, 0);
    EXPECT_EQ(model.calls, 1) << "nothing changed: the model is not asked";

    // Touched (new time, same bytes): hashed, not embedded.
    fs::last_write_time(photo_path(0), fs::last_write_time(photo_path(0)) - std::chrono::hours(1));
    // Changed (new bytes), added, deleted, renamed into another folder.
    writeBytes(photo_path(1), photo(101, 30, 20));
    writeBytes(photo_path(6), photo(7));
    fs::remove(photo_path(3));
    fs::create_directories(photos_ / "moved");
    fs::rename(photo_path(4), photos_ / "moved" / "renamed.png");

    model.embedded = 0;
    IndexReport third = index.update(photos_.string(), model);
    EXPECT_EQ(third.files, 6);
    EXPECT_EQ(third.added, 1);
    EXPECT_EQ(third.changed, 1);
    EXPECT_EQ(third.reused, 1) << "the renamed file keeps its vector";
    EXPECT_EQ(third.removed, 2) << "the deleted file and the renamed file's old path";
    EXPECT_EQ(third.unchanged, 3) << "two untouched and one touched";
    EXPECT_EQ(model.embedded, 2) << "only the new and the changed image";
    EXPECT_EQ(index.count("histogram-8"), 6);

    // The index answers with the files as they are now.
    const auto all = index.search("histogram-8", model.ofFile(photo_path(1)), 0);
    ASSERT_EQ(all.size(), 6u);
    EXPECT_EQ(all[0].path, photo_path(1).string());
    EXPECT_NEAR(all[0].score, 1.0f, 1e-5);
    EXPECT_EQ(all[0].width, 30);
    EXPECT_EQ(all[0].height, 20);
    const auto found = paths(all);
    EXPECT_NE(std::find(found.begin(), found.end(), (photos_ / "moved" / "renamed.png").string()), found.end());
    EXPECT_EQ(std::find(found.begin(), found.end(), photo_path(4).string()), found.end());
    EXPECT_EQ(std::find(found.begin(), found.end(), photo_path(3).string()), found.end());
    // The renamed file's stored vector is the one its content had.
    const auto moved = index.storedVector("histogram-8", (photos_ / "moved" / "renamed.png").string());
    ASSERT_TRUE(moved);
    const auto expected = model.ofFile(photos_ / "moved" / "renamed.png");
    for (std::size_t i = 0; i < expected.size(); ++i)
        EXPECT_FLOAT_EQ((*moved)[i], expected[i]);
}

TEST_F(ImageIndexTest, ACopyReusesTheVectorBetweenRunsAndWithinOne) {
    makePhotos(3);
    LibraryDb lib(db());
    ImageIndex index(lib);
    HistogramEmbedder model;
    index.update(photos_.string(), model);
    ASSERT_EQ(model.embedded, 3);

    fs::copy_file(photo_path(0), photos_ / "copy of p00.png");
    // Two new files with one content in the same run: embedded once.
    writeBytes(photos_ / "twin-a.png", photo(50));
    writeBytes(photos_ / "twin-b.png", photo(50));
    model.embedded = 0;
    const IndexReport r = index.update(photos_.string(), model);
    EXPECT_EQ(r.reused, 2) << "the copy and the second twin";
    EXPECT_EQ(r.added, 1);
    EXPECT_EQ(model.embedded, 1);
    EXPECT_EQ(index.count("histogram-8"), 6);
    const auto a = index.storedVector("histogram-8", (photos_ / "twin-a.png").string());
    const auto b = index.storedVector("histogram-8", (photos_ / "twin-b.png").string());
    ASSERT_TRUE(a && b);
    EXPECT_EQ(*a, *b);
}

TEST_F(ImageIndexTest, BrokenFilesAreReportedRememberedAndRetriedOnlyWhenChanged) {
    makePhotos(2);
    writeBytes(photos_ / "cut.jpg", {0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0});  // a JPEG cut short
    writeBytes(photos_ / "notes.png", {'h', 'e', 'l', 'l', 'o', '\n'});                      // text named .png
    LibraryDb lib(db());
    ImageIndex index(lib);
    HistogramEmbedder model;

    const IndexReport first = index.update(photos_.string(), model);
    EXPECT_EQ(first.added, 2);
    ASSERT_EQ(first.failed.size(), 2u);
    EXPECT_EQ(first.failed[0].path, (photos_ / "cut.jpg").string());
    EXPECT_EQ(first.failed[0].reason.rfind("cut.jpg", 0), 0u) << first.failed[0].reason;
    EXPECT_EQ(first.failed[1].path, (photos_ / "notes.png").string());
    EXPECT_EQ(first.failed[1].reason.rfind("notes.png", 0), 0u) << first.failed[1].reason;
    EXPECT_FALSE(first.failed[0].remembered);
    EXPECT_EQ(model.embedded, 2) << "the run went on past them";

    const IndexReport second = index.update(photos_.string(), model);
    ASSERT_EQ(second.failed.size(), 2u);
    EXPECT_TRUE(second.failed[0].remembered) << "unchanged: reported, not decoded again";
    EXPECT_TRUE(second.failed[1].remembered);
    EXPECT_EQ(second.failed[0].reason, first.failed[0].reason);
    EXPECT_EQ(second.unchanged, 2);

    IndexOptions retry;
    retry.retry_unreadable = true;
    const IndexReport retried = index.update(photos_.string(), model, {}, nullptr, retry);
    ASSERT_EQ(retried.failed.size(), 2u);
    EXPECT_FALSE(retried.failed[0].remembered) << "asked to: decoded again";

    // Repaired: indexed, and no longer reported.
    writeBytes(photos_ / "notes.png", photo(9));
    const IndexReport third = index.update(photos_.string(), model);
    EXPECT_EQ(third.added, 1);
    ASSERT_EQ(third.failed.size(), 1u);
    EXPECT_EQ(third.failed[0].path, (photos_ / "cut.jpg").string());
    // Gone: forgotten.
    fs::remove(photos_ / "cut.jpg");
    EXPECT_TRUE(index.update(photos_.string(), model).failed.empty());
    writeBytes(photos_ / "cut.jpg", {0xff, 0xd8, 0xff});
    EXPECT_FALSE(index.update(photos_.string(), model).failed.at(0).remembered) << "a new file at the old path";

    // An indexed image that breaks loses its vector.
    writeBytes(photo_path(0), {0x89, 'P', 'N', 'G'});
    const IndexReport broke = index.update(photos_.string(), model);
    EXPECT_EQ(broke.failed.size(), 2u);
    EXPECT_FALSE(index.storedVector("histogram-8", photo_path(0).string()));
    EXPECT_EQ(index.count("histogram-8"), 2);
}

TEST_F(ImageIndexTest, ACancelledRunKeepsItsBatchesAndTheNextEmbedsOnlyTheRest) {
    makePhotos(20);
    LibraryDb lib(db());
    ImageIndex index(lib);
    HistogramEmbedder model;
    std::atomic<bool> cancel{false};
    model.cancel = &cancel;
    model.cancel_on_call = 2;
    IndexOptions options;
    options.batch_size = 4;

    const IndexReport first = index.update(photos_.string(), model, {}, &cancel, options);
    EXPECT_TRUE(first.cancelled);
    EXPECT_EQ(first.added, 8) << "the batch being embedded when the flag rose is kept";
    EXPECT_EQ(model.batch_sizes, (std::vector<int>{4, 4}));
    EXPECT_EQ(index.count("histogram-8"), 8);

    cancel = false;
    model.cancel = nullptr;
    model.embedded = 0;
    const IndexReport rest = index.update(photos_.string(), model, {}, &cancel, options);
    EXPECT_FALSE(rest.cancelled);
    EXPECT_EQ(rest.unchanged, 8);
    EXPECT_EQ(rest.added, 12);
    EXPECT_EQ(model.embedded, 12);
    EXPECT_EQ(index.count("histogram-8"), 20);

    // Cancelled before anything: nothing embedded, and nothing removed yet either.
    fs::remove(photo_path(0));
    writeBytes(photos_ / "late.png", photo(77));
    cancel = true;
    const IndexReport none = index.update(photos_.string(), model, {}, &cancel, options);
    EXPECT_TRUE(none.cancelled);
    EXPECT_EQ(none.added + none.removed, 0);
    EXPECT_EQ(index.count("histogram-8"), 20);
    cancel = false;
    const IndexReport whole = index.update(photos_.string(), model, {}, &cancel, options);
    EXPECT_EQ(whole.added, 1);
    EXPECT_EQ(whole.removed, 1);
    EXPECT_EQ(index.count("histogram-8"), 20);
}

TEST_F(ImageIndexTest, AModelThatFailsMidRunLosesOnlyTheBatchInProgress) {
    makePhotos(10);
    LibraryDb lib(db());
    ImageIndex index(lib);
    HistogramEmbedder model;
    model.fail_on_call = 3;
    IndexOptions options;
    options.batch_size = 3;
    EXPECT_THROW(index.update(photos_.string(), model, {}, nullptr, options), Error);
    EXPECT_EQ(index.count("histogram-8"), 6) << "two batches were written, each whole";

    model.fail_on_call = 0;
    model.embedded = 0;
    const IndexReport rest = index.update(photos_.string(), model, {}, nullptr, options);
    EXPECT_EQ(rest.unchanged, 6);
    EXPECT_EQ(rest.added, 4);
    EXPECT_EQ(model.embedded, 4);
}

TEST_F(ImageIndexTest, ReportsProgressWithTimeLeft) {
    makePhotos(7);
    LibraryDb lib(db());
    ImageIndex index(lib);
    HistogramEmbedder model;
    IndexOptions options;
    options.batch_size = 2;
    std::vector<IndexProgress> seen;
    index.update(photos_.string(), model, [&](const IndexProgress& p) { seen.push_back(p); }, nullptr, options);
    ASSERT_EQ(seen.size(), 8u) << "one per file, one at the end";
    EXPECT_EQ(seen.front().done, 0);
    EXPECT_EQ(seen.front().total, 7);
    EXPECT_LT(seen.front().eta_s, 0) << "no pace yet";
    EXPECT_EQ(seen.front().current, photo_path(0).string());
    for (std::size_t i = 1; i < seen.size(); ++i)
        EXPECT_GE(seen[i].done, seen[i - 1].done);
    EXPECT_EQ(seen[3].done, 2) << "the first batch of two is written";
    EXPECT_GE(seen[3].eta_s, 0);
    EXPECT_EQ(seen.back().done, 7);
    EXPECT_EQ(seen.back().current, "");
    EXPECT_EQ(seen.back().eta_s, 0);

    seen.clear();
    index.update(photos_.string(), model, [&](const IndexProgress& p) { seen.push_back(p); });
    ASSERT_EQ(seen.size(), 1u) << "nothing to do: only the end";
    EXPECT_EQ(seen[0].done, 7);
}

TEST_F(ImageIndexTest, TwoModelsAndTheirFoldersAreKeptApart) {
    makePhotos(4);
    writeBytes(dir_ / "other" / "x.png", photo(40));
    LibraryDb lib(db());
    ImageIndex index(lib);
    HistogramEmbedder a("histogram-8", 8), b("histogram-16", 16);
    index.update(photos_.string(), a);
    index.update((dir_ / "other").string(), a);
    const IndexReport with_b = index.update(photos_.string(), b);
    EXPECT_EQ(with_b.added, 4) << "another model's vectors are not this one's";
    EXPECT_EQ(b.embedded, 4);
    EXPECT_EQ(index.count("histogram-8"), 5);
    EXPECT_EQ(index.count("histogram-16"), 4);

    const auto folders_a = index.folders("histogram-8");
    ASSERT_EQ(folders_a.size(), 2u);
    EXPECT_EQ(folders_a[0].path, (dir_ / "other").string());
    EXPECT_EQ(folders_a[0].images, 1);
    EXPECT_EQ(folders_a[1].images, 4);
    EXPECT_GT(folders_a[1].indexed_at, 0);
    EXPECT_EQ(index.folders().size(), 3u);

    // Each search sees its model's vectors only.
    EXPECT_EQ(index.search("histogram-16", b.ofFile(photo_path(0)), 0).size(), 4u);
    EXPECT_EQ(index.search("histogram-8", a.ofFile(photo_path(0)), 0).size(), 5u);
    EXPECT_THROW(index.search("histogram-16", a.ofFile(photo_path(0)), 5), Error);
    // Folders limit the search.
    const auto in_other = index.search("histogram-8", a.ofFile(photo_path(0)), 0, "", {(dir_ / "other").string()});
    ASSERT_EQ(in_other.size(), 1u);
    EXPECT_EQ(in_other[0].path, (dir_ / "other" / "x.png").string());

    // A changed file is stale for both models: the first run to see the change drops every
    // model's vector of the old content, the other model embeds it again too.
    writeBytes(photo_path(0), photo(60));
    b.embedded = 0;
    EXPECT_EQ(index.update(photos_.string(), a).changed, 1);
    EXPECT_EQ(index.count("histogram-16"), 3);
    EXPECT_EQ(index.update(photos_.string(), b).added, 1);
    EXPECT_EQ(b.embedded, 1);

    // Forgetting a folder for one model leaves the other's.
    EXPECT_EQ(index.removeFolder(photos_.string(), "histogram-8"), 4);
    EXPECT_EQ(index.count("histogram-8"), 1);
    EXPECT_EQ(index.count("histogram-16"), 4);
    EXPECT_EQ(index.folders("histogram-8").size(), 1u);
    EXPECT_EQ(index.removeFolder(photos_.string()), 4);
    EXPECT_EQ(index.count("histogram-16"), 0);
}

TEST_F(ImageIndexTest, NestedFoldersShareVectorsAndForgettingOneKeepsTheOther) {
    makePhotos(6);  // two in photos/sub
    LibraryDb lib(db());
    ImageIndex index(lib);
    HistogramEmbedder model;
    index.update(photos_.string(), model);
    EXPECT_EQ(index.update((photos_ / "sub").string(), model).unchanged, 2);
    EXPECT_EQ(model.embedded, 6);
    EXPECT_EQ(index.removeFolder((photos_ / "sub").string(), "histogram-8"), 0) << "photos still covers them";
    EXPECT_EQ(index.removeFolder(photos_.string(), "histogram-8"), 6);
}

TEST_F(ImageIndexTest, SearchRanksAsBruteForceDoes) {
    makePhotos(14);
    LibraryDb lib(db());
    ImageIndex index(lib);
    HistogramEmbedder model;
    index.update(photos_.string(), model);

    // Brute force: every file's vector made here, scored in double precision, sorted.
    std::vector<std::pair<double, std::string>> expected;
    std::vector<float> query(24);
    for (int i = 0; i < 24; ++i)
        query[static_cast<std::size_t>(i)] = static_cast<float>(std::sin(i * 1.7) + 1.2);
    double qn = 0;
    for (float v : query)
        qn += static_cast<double>(v) * v;
    for (int i = 0; i < 14; ++i) {
        const auto v = model.ofFile(photo_path(i));
        double dot = 0;
        for (std::size_t k = 0; k < v.size(); ++k)
            dot += static_cast<double>(v[k]) * query[k] / std::sqrt(qn);
        expected.emplace_back(dot, photo_path(i).string());
    }
    std::sort(expected.begin(), expected.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    for (std::size_t i = 1; i < expected.size(); ++i)
        ASSERT_GT(expected[i - 1].first - expected[i].first, 1e-5) << "the test's images must not tie";

    const auto top5 = index.search("histogram-8", query, 5);
    ASSERT_EQ(top5.size(), 5u);
    for (std::size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(top5[i].path, expected[i].second) << i;
        EXPECT_NEAR(top5[i].score, expected[i].first, 1e-6) << i;
        EXPECT_EQ(top5[i].width, 24);
        EXPECT_EQ(top5[i].height, 16);
    }
    const auto all = index.search("histogram-8", query, 100);
    ASSERT_EQ(all.size(), 14u) << "top larger than the index: everything";
    for (std::size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(all[i].path, expected[i].second) << i;
        EXPECT_NEAR(all[i].score, expected[i].first, 1e-6) << i;
    }
    // A query's length does not matter: it is normalized.
    std::vector<float> longer = query;
    for (float& v : longer)
        v *= 7;
    EXPECT_EQ(paths(index.search("histogram-8", longer, 14)), paths(all));
    // Left out: the excluded file.
    const auto without = index.search("histogram-8", query, 3, expected[0].second);
    ASSERT_EQ(without.size(), 3u);
    EXPECT_EQ(without[0].path, expected[1].second);
    // Only under a folder: the ranking restricted to it.
    const auto sub = index.search("histogram-8", query, 0, "", {(photos_ / "sub").string() + "/"});
    std::vector<std::string> expected_sub;
    for (const auto& e : expected)
        if (e.second.find("/sub/") != std::string::npos)
            expected_sub.push_back(e.second);
    EXPECT_EQ(paths(sub), expected_sub);
    EXPECT_TRUE(index.search("histogram-8", query, 5, "", {(dir_ / "elsewhere").string()}).empty());
}

TEST_F(ImageIndexTest, AnEmptyIndexAndAQueryOfTheWrongLength) {
    LibraryDb lib(db());
    ImageIndex index(lib);
    EXPECT_EQ(index.count("histogram-8"), 0);
    EXPECT_TRUE(index.search("histogram-8", std::vector<float>(24, 1.0f), 10).empty());
    EXPECT_TRUE(index.folders().empty());

    makePhotos(2);
    HistogramEmbedder model;
    const IndexReport r = index.update(photos_.string(), model);
    ASSERT_EQ(r.added, 2);
    try {
        index.search("histogram-8", std::vector<float>(512, 1.0f), 10);
        FAIL() << "a query of another length was taken";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("512 numbers"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("have 24"), std::string::npos) << e.what();
    }
    EXPECT_THROW(index.search("histogram-8", std::vector<float>(24, 0.0f), 10), Error);

    // An empty folder: nothing to do, nothing found.
    fs::create_directories(dir_ / "empty");
    const IndexReport empty = index.update((dir_ / "empty").string(), model);
    EXPECT_EQ(empty.files, 0);
    EXPECT_FALSE(empty.cancelled);
    // Missing, or a file.
    try {
        index.update((dir_ / "missing").string(), model);
        FAIL() << "a missing folder was indexed";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("missing does not exist"), std::string::npos) << e.what();
    }
    EXPECT_THROW(index.update(photo_path(0).string(), model), Error);
}

TEST_F(ImageIndexTest, SimilarImagesByAStoredVectorOrAnOutsideFile) {
    makePhotos(5);
    LibraryDb lib(db());
    ImageIndex index(lib);
    HistogramEmbedder model;
    index.update(photos_.string(), model);
    model.embedded = 0;

    const auto like = index.similar(photo_path(2).string(), model, 10);
    EXPECT_EQ(model.embedded, 0) << "an indexed, unchanged image: its stored vector";
    ASSERT_EQ(like.size(), 4u) << "itself left out";
    for (const auto& m : like)
        EXPECT_NE(m.path, photo_path(2).string());

    writeBytes(dir_ / "outside.png", photo(3));  // photo_path(2)'s content, elsewhere
    const auto outside = index.similar((dir_ / "outside.png").string(), model, 2);
    EXPECT_EQ(model.embedded, 1);
    ASSERT_EQ(outside.size(), 2u);
    EXPECT_EQ(outside[0].path, photo_path(2).string());
    EXPECT_NEAR(outside[0].score, 1.0f, 1e-5);

    // Changed since it was indexed: embedded as it is now.
    writeBytes(photo_path(2), photo(90, 20, 20));
    EXPECT_FALSE(index.storedVector("histogram-8", photo_path(2).string()));
    index.imageVector(photo_path(2).string(), model);
    EXPECT_EQ(model.embedded, 2);
    EXPECT_THROW(index.imageVector((dir_ / "nope.png").string(), model), Error);
}

TEST_F(ImageIndexTest, SearchSeesChangesMadeThroughTheLibraryAndOtherConnections) {
    makePhotos(3);
    LibraryDb lib(db());
    ImageIndex index(lib);
    HistogramEmbedder model;
    index.update(photos_.string(), model);
    const auto q = model.ofFile(photo_path(0));
    ASSERT_EQ(index.search("histogram-8", q, 0).size(), 3u);

    // Another process indexes more (its own connection).
    writeBytes(photos_ / "new.png", photo(30));
    {
        LibraryDb other(db());
        ImageIndex other_index(other);
        other_index.update(photos_.string(), model);
    }
    EXPECT_EQ(index.search("histogram-8", q, 0).size(), 4u) << "the loaded vectors were refreshed";

    // The captioner learns that a file's content changed: its vectors are stale.
    auto record = lib.image(photo_path(0).string());
    ASSERT_TRUE(record);
    record->sha256 = "another content";
    lib.upsertImage(*record);
    const auto after = paths(index.search("histogram-8", q, 0));
    EXPECT_EQ(after.size(), 3u);
    EXPECT_EQ(std::find(after.begin(), after.end(), photo_path(0).string()), after.end());
}

TEST_F(ImageIndexTest, RemovedFilesKeepTheImageRecordsTheLibraryStillUses) {
    makePhotos(3);
    LibraryDb lib(db());
    ImageIndex index(lib);
    HistogramEmbedder model;
    index.update(photos_.string(), model);
    const auto captioned = lib.image(photo_path(0).string());
    ASSERT_TRUE(captioned);
    lib.putCaption(captioned->id, "some captioner", "Describe it.", "a striped test card");
    const auto talked = lib.image(photo_path(1).string());
    ASSERT_TRUE(talked);
    const auto conversation = lib.addConversation(talked->id, "about p01", "some model");

    for (int i = 0; i < 3; ++i)
        fs::remove(photo_path(i));
    const IndexReport r = index.update(photos_.string(), model);
    EXPECT_EQ(r.removed, 3);
    EXPECT_EQ(index.count("histogram-8"), 0);
    EXPECT_TRUE(lib.image(photo_path(0).string())) << "its caption still refers to it";
    EXPECT_EQ(lib.captionsOf(captioned->id).size(), 1u);
    EXPECT_TRUE(lib.image(photo_path(1).string())) << "a conversation still refers to it";
    EXPECT_EQ(lib.conversation(conversation)->image_path, photo_path(1).string());
    EXPECT_FALSE(lib.image(photo_path(2).string())) << "nothing else used it";
}

TEST_F(ImageIndexTest, MigratesTheSecondSchemaKeepingEverything) {
    LibraryDb::createAtVersion(db(), 2);
    {
        sqlite3* raw = nullptr;
        ASSERT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(raw,
                               "INSERT INTO images (path, size, mtime_ns, sha256, added_at) VALUES ('/old.jpg', 1, 1, 'h', 0);"
                               "INSERT INTO captions (image_id, model, prompt, text, created_at) VALUES (1, 'm', 'p', "
                               "'a lighthouse at dusk', 0);"
                               "INSERT INTO conversations (image_id, title, model, created_at, updated_at) VALUES "
                               "(1, 'the lighthouse', 'm', 0, 0);",
                               nullptr, nullptr, nullptr),
                  SQLITE_OK);
        sqlite3_close(raw);
    }
    LibraryDb lib(db());
    EXPECT_NE(lib.notice().find("schema 2 to " + std::to_string(LibraryDb::kSchemaVersion)), std::string::npos) << lib.notice();
    ASSERT_EQ(lib.captions("m", "p").size(), 1u);
    EXPECT_EQ(lib.search("lighthouse").size(), 1u);
    ASSERT_EQ(lib.conversations().size(), 1u);
    EXPECT_EQ(lib.conversations()[0].image_path, "/old.jpg");

    library::EmbeddingStore store(lib);
    EXPECT_EQ(store.version("m"), 0);
    library::VectorBatch batch;
    auto old = lib.image("/old.jpg");
    ASSERT_TRUE(old);
    batch.entries.push_back({*old, {0.6f, 0.8f}});
    store.write("m", 2, batch);
    EXPECT_EQ(store.count("m"), 1);
    EXPECT_GT(store.version("m"), 0);
    const auto m = store.load("m");
    ASSERT_EQ(m.rows(), 1u);
    EXPECT_EQ(m.dim, 2);
    EXPECT_EQ(m.data, (std::vector<float>{0.6f, 0.8f}));
    EXPECT_EQ(lib.captions("m", "p").size(), 1u) << "the same content keeps its captions";
    EXPECT_THROW(store.write("m", 3, batch), Error) << "a vector of the wrong length";
}

TEST(PathRange, CoversExactlyThePathsUnderAFolder) {
    const auto [first, last] = library::pathRangeUnder("/a/b");
    auto under = [&](const std::string& p) { return p >= first && p < last; };
    EXPECT_TRUE(under("/a/b/x.png"));
    EXPECT_TRUE(under("/a/b/c/d.png"));
    EXPECT_FALSE(under("/a/b"));
    EXPECT_FALSE(under("/a/b.png"));
    EXPECT_FALSE(under("/a/bc/x.png"));
    EXPECT_FALSE(under("/a/b0/x.png"));
    EXPECT_EQ(library::pathRangeUnder("/").first, "/");
    EXPECT_EQ(normalPath("/a/b/../c/"), "/a/c");
}

} // namespace
