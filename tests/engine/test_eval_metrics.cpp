// `vqa eval`'s metrics against the reference implementations, on the sets
// tests/reference/make_eval.py writes: pycocoevalcap 1.2 (BLEU-1..4, ROUGE-L, CIDEr-D, after its
// Stanford PTB tokenization) within 1e-9 per metric and per image, and the VQAv2 evaluation's
// normalisation and accuracy exactly. Then the set loaders' messages for bad files, and the
// report and its comparison.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/eval/CaptionMetrics.h"
#include "engine/eval/CocoTokenizer.h"
#include "engine/eval/EvalReport.h"
#include "engine/eval/EvalSet.h"
#include "engine/eval/VqaAccuracy.h"
#include "models/base/Error.h"
#include "tests/common/TestPaths.h"

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace vqa::eval;

constexpr double kCaptionTolerance = 1e-9;

json readJson(const fs::path& p) {
    std::ifstream in(p);
    return json::parse(in);
}

// The reference's folder for one fixture, or a skip saying why it is not there.
#define REFERENCE_OR_SKIP(var, sub)                                                                     \
    const fs::path var = vqa::test::referenceDir("eval") / (sub);                                       \
    VQA_SKIP_UNLESS_EXISTS(vqa::test::referenceDir("eval") / "COMPLETE", "run tests/reference/make_eval.py"); \
    if (fs::exists(var / "SKIPPED")) {                                                                  \
        std::ifstream why(var / "SKIPPED");                                                             \
        GTEST_SKIP() << std::string(std::istreambuf_iterator<char>(why), {});                          \
    }

// A folder with an empty file for each name: the loaders only look for the files.
struct ImageFolder {
    fs::path dir;
    explicit ImageFolder(const std::vector<std::string>& names) {
        dir = fs::temp_directory_path() / ("vqa-eval-images-" + std::to_string(::getpid()) + "-" +
                                           ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir);
        fs::create_directories(dir);
        for (const auto& n : names)
            std::ofstream(dir / n).put('x');
    }
    ~ImageFolder() { fs::remove_all(dir); }
};

void expectScores(const CaptionScores& got, const json& want, const std::string& where) {
    for (std::size_t k = 0; k < kCaptionMetricNames.size(); ++k)
        EXPECT_NEAR(captionMetric(got, k), want.at(kCaptionMetricNames[k]).get<double>(), kCaptionTolerance)
            << where << " " << kCaptionMetricNames[k];
}

class CaptionReference : public ::testing::TestWithParam<const char*> {};

// The metrics alone, on the reference's own tokenization.
TEST_P(CaptionReference, MetricsOnTheReferenceTokensAreItsScores) {
    REFERENCE_OR_SKIP(dir, GetParam());
    const json ref = readJson(dir / "scores.json");
    std::vector<CaptionCase> cases;
    std::vector<std::string> ids;
    for (const auto& [id, t] : ref.at("tokenized").items()) {
        ids.push_back(id);
        cases.push_back({t.at("refs").get<std::vector<std::string>>(), t.at("pred").get<std::string>()});
    }
    ASSERT_FALSE(cases.empty());
    const CaptionEvaluation e = scoreCaptions(cases);
    // The corpus scores depend on the order only through sums: the reference's order is its dict's.
    expectScores(e.corpus, ref.at("corpus"), "corpus");
    for (std::size_t i = 0; i < ids.size(); ++i)
        expectScores(e.per_item[i], ref.at("per_image").at(ids[i]), "image " + ids[i]);
}

// The whole way: the annotation file and the predictions as written, through our tokenizer.
TEST_P(CaptionReference, RawCaptionsScoreAsTheReferenceScoresThem) {
    REFERENCE_OR_SKIP(dir, GetParam());
    const json annotations = readJson(dir / "annotations.json");
    std::vector<std::string> files;
    for (const auto& image : annotations.at("images"))
        files.push_back(image.at("file_name").get<std::string>());
    ImageFolder folder(files);
    EvalSetOptions options;
    options.images = folder.dir.string();
    const EvalSet set = loadCocoCaptions((dir / "annotations.json").string(), options);
    std::map<std::string, Prediction> predictions;
    for (const auto& p : readJson(dir / "predictions.json"))
        predictions[std::to_string(p.at("image_id").get<long long>())] = {p.at("caption").get<std::string>(), 0};
    const EvalMetrics m = scorePredictions(set, predictions);
    const json ref = readJson(dir / "scores.json");
    ASSERT_EQ(m.items.size(), ref.at("per_image").size());
    for (const ScoredItem& s : m.items) {
        const json& want = ref.at("per_image").at(s.item->id);
        for (const char* name : kCaptionMetricNames)
            EXPECT_NEAR(s.scores.at(name), want.at(name).get<double>(), kCaptionTolerance) << s.item->id << " " << name;
        // Tokenization first: a difference there explains any above.
        const json& tokens = ref.at("tokenized").at(s.item->id);
        EXPECT_EQ(cocoTokenize(s.prediction), tokens.at("pred").get<std::string>()) << s.item->id;
    }
    for (const char* name : kCaptionMetricNames)
        EXPECT_NEAR(m.overall.at(name), ref.at("corpus").at(name).get<double>(), kCaptionTolerance) << name;
}

INSTANTIATE_TEST_SUITE_P(Eval, CaptionReference, ::testing::Values("captions", "captions_one", "captions_two"));

TEST(CocoTokenizer, EveryReferenceCaseTokenizesAsTheStanfordTokenizer) {
    REFERENCE_OR_SKIP(dir, "ptb");
    const json cases = readJson(dir / "cases.json");
    int wrong = 0;
    for (const auto& c : cases) {
        const std::string text = c.at("text").get<std::string>();
        const std::string got = cocoTokenize(text);
        if (got != c.at("coco").get<std::string>() && ++wrong <= 20)
            ADD_FAILURE() << "\"" << text << "\"\n  ours: \"" << got << "\"\n  Stanford: \"" << c.at("coco").get<std::string>() << "\"";
    }
    EXPECT_EQ(wrong, 0) << "of " << cases.size();
}

TEST(VqaAccuracy, EveryQuestionScoresAsTheOfficialEvaluation) {
    REFERENCE_OR_SKIP(dir, "vqa");
    const json ref = readJson(dir / "scores.json");
    std::set<long long> image_ids;
    const json questions = readJson(dir / "questions.json");
    for (const auto& q : questions.at("questions"))
        image_ids.insert(q.at("image_id").get<long long>());
    std::vector<std::string> files;
    for (long long id : image_ids) {
        char name[64];
        std::snprintf(name, sizeof name, "COCO_val2014_%012lld.jpg", id);
        files.push_back(name);
    }
    ImageFolder folder(files);
    EvalSetOptions options;
    options.images = folder.dir.string();
    const EvalSet set = loadVqaV2((dir / "questions.json").string(), (dir / "annotations.json").string(), options);
    std::map<std::string, Prediction> predictions;
    for (const auto& p : readJson(dir / "predictions.json"))
        predictions[std::to_string(p.at("question_id").get<long long>())] = {p.at("answer").get<std::string>(), 0};
    const EvalMetrics m = scorePredictions(set, predictions);
    ASSERT_EQ(m.items.size(), ref.at("per_question").size());
    for (const ScoredItem& s : m.items) {
        const std::string& id = s.item->id;
        const VqaScore score = scoreVqaAnswer(s.prediction, s.item->references);
        const json& norm = ref.at("normalized").at(id);
        EXPECT_EQ(score.prediction, norm.at("prediction").get<std::string>()) << "question " << id;
        EXPECT_EQ(score.answers, norm.at("answers").get<std::vector<std::string>>()) << "question " << id;
        EXPECT_DOUBLE_EQ(score.accuracy, ref.at("per_question").at(id).get<double>()) << "question " << id;
        EXPECT_DOUBLE_EQ(s.scores.at("accuracy"), 100.0 * ref.at("per_question").at(id).get<double>());
    }
    EXPECT_NEAR(m.overall.at("accuracy"), 100.0 * ref.at("overall").get<double>(), 1e-12);
    for (const auto& [type, v] : ref.at("per_answer_type").items())
        EXPECT_NEAR(m.by_answer_type.at(type).at("accuracy"), 100.0 * v.get<double>(), 1e-12) << type;
    for (const auto& [type, v] : ref.at("per_question_type").items())
        EXPECT_NEAR(m.by_question_type.at(type).at("accuracy"), 100.0 * v.get<double>(), 1e-12) << type;
}

// Hand-checked cases of the rules, so the quirks stay even without the reference data.
TEST(VqaAccuracy, TheEvaluationsRulesByHand) {
    const std::vector<std::string> ten_twos(10, "2");
    EXPECT_DOUBLE_EQ(scoreVqaAnswer("2", ten_twos).accuracy, 1.0);
    // All ten agree: nothing is normalised, so "two" is not "2".
    EXPECT_DOUBLE_EQ(scoreVqaAnswer("two", ten_twos).accuracy, 0.0);
    std::vector<std::string> mixed = {"2", "2", "two", "3", "3", "3", "3", "3", "3", "3"};
    // Normalised: three people said 2; each leave-one-out subset has 3 (or 2) matches.
    EXPECT_DOUBLE_EQ(scoreVqaAnswer("Two.", mixed).accuracy, (7 * 1.0 + 3 * (2.0 / 3)) / 10);
    EXPECT_EQ(vqaProcessDigitArticle("The Dog"), "dog");
    EXPECT_EQ(vqaProcessDigitArticle("dont know"), "don't know");
    EXPECT_EQ(vqaProcessPunctuation("yes!"), "yes ");
    EXPECT_EQ(vqaProcessPunctuation("1,000"), "1000");
    EXPECT_EQ(vqaProcessPunctuation("2.5 m."), "2.5 m");
    EXPECT_EQ(scoreVqaAnswer("", mixed).accuracy, 0.0);
    EXPECT_EQ(scoreVqaAnswer("x", {}).accuracy, 0.0);
}

TEST(CaptionMetrics, IdenticalCaptionsAndNoOverlap) {
    std::vector<CaptionCase> cases = {{{"a dog runs on the grass", "a brown dog on grass"}, "a dog runs on the grass"},
                                      {{"a red car parked on a street"}, "completely unrelated words here"}};
    const CaptionEvaluation e = scoreCaptions(cases);
    EXPECT_NEAR(e.per_item[0].bleu[3], 1.0, 1e-6);
    EXPECT_NEAR(e.per_item[0].rouge_l, 1.0, 1e-12);
    EXPECT_LT(e.per_item[1].bleu[0], 1e-6);
    EXPECT_EQ(e.per_item[1].rouge_l, 0.0);
    EXPECT_EQ(e.per_item[1].cider_d, 0.0);
    EXPECT_THROW(scoreCaptions({{{}, "no references"}}), vqa::Error);
    EXPECT_TRUE(scoreCaptions({}).per_item.empty());
}

// --- Bad sets: a clear message naming the file and the entry --------------------------------

struct BadSet : ::testing::Test {
    fs::path dir = fs::temp_directory_path() / ("vqa-eval-bad-" + std::to_string(::getpid()));
    void SetUp() override {
        fs::remove_all(dir);
        fs::create_directories(dir);
        std::ofstream(dir / "a.jpg").put('x');
        std::ofstream(dir / "COCO_val2014_000000000007.jpg").put('x');
    }
    void TearDown() override { fs::remove_all(dir); }
    std::string write(const std::string& name, const std::string& text) {
        std::ofstream(dir / name) << text;
        return (dir / name).string();
    }
    // The message of the error loading `load` throws.
    template <class F>
    std::string error(F load) {
        try {
            load();
        } catch (const vqa::Error& e) {
            return e.what();
        }
        ADD_FAILURE() << "no error";
        return "";
    }
    EvalSetOptions options() const {
        EvalSetOptions o;
        o.images = dir.string();
        return o;
    }
};

TEST_F(BadSet, CaptionFilesThatAreNotCocoSayWhatIsWrongAndWhere) {
    const auto o = options();
    auto has = [](const std::string& message, std::initializer_list<const char*> parts) {
        for (const char* p : parts)
            EXPECT_NE(message.find(p), std::string::npos) << "\"" << p << "\" not in: " << message;
    };
    has(error([&] { loadCocoCaptions(write("c1.json", "{\"images\": [], \"annots\": []}"), o); }),
        {"c1.json", "not COCO caption annotations", "annotations"});
    has(error([&] { loadCocoCaptions(write("c2.json", "[1, 2"), o); }), {"c2.json", "not JSON"});
    has(error([&] { loadCocoCaptions((dir / "none.json").string(), o); }), {"none.json", "cannot be read"});
    has(error([&] {
            loadCocoCaptions(write("c3.json", R"({"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 1, "file_name": "a.jpg"}],
                                                 "annotations": []})"), o);
        }),
        {"c3.json", "images[1]", "image id 1 appears twice"});
    has(error([&] {
            loadCocoCaptions(write("c4.json", R"({"images": [{"id": 1, "file_name": "a.jpg"}],
                "annotations": [{"id": 5, "image_id": 1, "caption": "x"}, {"id": 5, "image_id": 1, "caption": "y"}]})"), o);
        }),
        {"c4.json", "annotations[1]", "annotation id 5 appears twice"});
    has(error([&] {
            loadCocoCaptions(write("c5.json", R"({"images": [{"id": 1, "file_name": "a.jpg"}],
                "annotations": [{"id": 5, "image_id": 2, "caption": "x"}]})"), o);
        }),
        {"c5.json", "annotations[0]", "image_id 2 is not among"});
    has(error([&] {
            loadCocoCaptions(write("c6.json", R"({"images": [{"id": 3, "file_name": "missing.jpg"}],
                "annotations": [{"id": 5, "image_id": 3, "caption": "x"}]})"), o);
        }),
        {"c6.json", "images[0]", "missing.jpg", "does not exist", "--skip-missing"});
    has(error([&] { loadCocoCaptions(write("c7.json", R"({"images": [], "annotations": []})"), o); }),
        {"c7.json", "empty"});
    has(error([&] {
            loadCocoCaptions(write("c8.json", R"({"images": [{"id": 1, "file_name": "a.jpg"}],
                "annotations": [{"id": 5, "image_id": 1, "caption": 7}]})"), o);
        }),
        {"c8.json", "annotations[0]", "\"caption\""});
    // With --skip-missing, the missing image is left out with a note; the rest is kept.
    EvalSetOptions skip = o;
    skip.skip_missing = true;
    const EvalSet set = loadCocoCaptions(write("c9.json", R"({"images": [{"id": 1, "file_name": "a.jpg"},
            {"id": 2, "file_name": "gone.jpg"}, {"id": 3, "file_name": "a.jpg"}],
        "annotations": [{"id": 5, "image_id": 1, "caption": "x"}, {"id": 6, "image_id": 2, "caption": "y"}]})"),
                                         skip);
    ASSERT_EQ(set.items.size(), 1u);
    ASSERT_EQ(set.notes.size(), 2u);
    has(set.notes[0], {"images[1]", "gone.jpg", "left out"});
    has(set.notes[1], {"images[2]", "no captions", "left out"});
}

TEST_F(BadSet, VqaFilesSayWhatIsWrongAndWhere) {
    const auto o = options();
    auto has = [](const std::string& message, std::initializer_list<const char*> parts) {
        for (const char* p : parts)
            EXPECT_NE(message.find(p), std::string::npos) << "\"" << p << "\" not in: " << message;
    };
    const std::string answers = write("a.json", R"({"annotations": [
        {"question_id": 70, "image_id": 7, "answer_type": "yes/no", "question_type": "is the",
         "answers": [{"answer": "yes", "answer_id": 1}, {"answer": "no", "answer_id": 2}]}]})");
    has(error([&] { loadVqaV2(write("q1.json", R"({"questions": [{"question_id": 70, "image_id": 8, "question": "?"}]})"), answers, o); }),
        {"q1.json", "questions[0]", "image 8", "says image 7"});
    has(error([&] { loadVqaV2(write("q2.json", R"({"questions": [{"question_id": 71, "image_id": 7, "question": "?"}]})"), answers, o); }),
        {"q2.json", "questions[0]", "question 71 has no entry in a.json"});
    has(error([&] {
            loadVqaV2(write("q3.json", R"({"questions": [{"question_id": 70, "image_id": 7, "question": "?"},
                {"question_id": 70, "image_id": 7, "question": "?"}]})"), answers, o);
        }),
        {"q3.json", "questions[1]", "question id 70 appears twice"});
    const std::string q_ok = write("q4.json", R"({"questions": [{"question_id": 70, "image_id": 7, "question": "?"}]})");
    has(error([&] { loadVqaV2(q_ok, write("a2.json", R"({"annotations": [{"question_id": 70}]})"), o); }),
        {"a2.json", "annotations[0]", "\"answers\""});
    has(error([&] { loadVqaV2(q_ok, write("a3.json", R"({"questions": []})"), o); }),
        {"a3.json", "not VQAv2 annotations"});
    has(error([&] {
            loadVqaV2(write("q5.json", R"({"questions": [{"question_id": 70, "image_id": 9, "question": "?"}]})"),
                      write("a4.json", R"({"annotations": [{"question_id": 70, "answers": [{"answer": "x"}]}]})"), o);
        }),
        {"q5.json", "questions[0]", "image 9 has no file"});
    const EvalSet v = loadVqaV2(q_ok, answers, o);
    ASSERT_EQ(v.items.size(), 1u);
    EXPECT_EQ(fs::path(v.items[0].image).filename(), "COCO_val2014_000000000007.jpg");
    EXPECT_EQ(v.items[0].answer_type, "yes/no");

    has(error([&] { loadVqaJsonl(write("s1.jsonl", "{\"image\": \"a.jpg\", \"question\": \"q\", \"answers\": [\"x\"]}\nnot json\n"), o); }),
        {"s1.jsonl", "line 2", "not JSON"});
    has(error([&] { loadVqaJsonl(write("s2.jsonl", "{\"image\": \"a.jpg\", \"question\": \"q\"}\n"), o); }),
        {"s2.jsonl", "line 1", "\"answers\""});
    has(error([&] {
            loadVqaJsonl(write("s3.jsonl", "{\"id\": 4, \"image\": \"a.jpg\", \"question\": \"q\", \"answers\": [\"x\"]}\n"
                                           "{\"id\": 4, \"image\": \"a.jpg\", \"question\": \"q\", \"answers\": [\"x\"]}\n"), o);
        }),
        {"s3.jsonl", "line 2", "id 4 appears twice"});
    has(error([&] { loadVqaJsonl(write("s4.jsonl", "\n\n"), o); }), {"s4.jsonl", "empty"});
    const EvalSet j = loadVqaJsonl(
        write("s5.jsonl", "\n{\"image\": \"a.jpg\", \"question\": \"q\", \"answers\": [\"x\", \"y\"]}\n"), o);
    ASSERT_EQ(j.items.size(), 1u);
    EXPECT_EQ(j.items[0].id, "2");  // its line
    EXPECT_EQ(j.items[0].answer_type, "unknown");
}

// --- The report -------------------------------------------------------------------------------

TEST_F(BadSet, TheReportHoldsTheScoresAndTwoReportsCompare) {
    const EvalSet set = loadVqaJsonl(write("s.jsonl",
                                           "{\"image\": \"a.jpg\", \"question\": \"What <b>?\", \"answers\": [\"cat\", \"cat\", \"cat\", \"cat\", \"dog\"], \"answer_type\": \"other\"}\n"
                                           "{\"image\": \"a.jpg\", \"question\": \"How many?\", \"answers\": [\"2\", \"2\", \"2\", \"2\"], \"answer_type\": \"number\"}\n"),
                                     options());
    const EvalMetrics a = scorePredictions(set, {{"1", {"cat", 0}}, {"2", {"3", 0}}});
    const EvalMetrics b = scorePredictions(set, {{"1", {"a dog", 0}}, {"2", {"2", 0}}});
    EXPECT_DOUBLE_EQ(a.overall.at("accuracy"), 50.0);
    EXPECT_DOUBLE_EQ(a.by_answer_type.at("other").at("accuracy"), 100.0);
    EXPECT_DOUBLE_EQ(b.by_answer_type.at("number").at("accuracy"), 100.0);
    ReportInfo info;
    info.model = "tiny float32";
    info.total = 2;
    writeReport((dir / "A").string(), a, info, exampleItems(a, 1));
    writeReport((dir / "B").string(), b, info, exampleItems(b, 1));
    const json metrics = readJson(dir / "A" / "metrics.json");
    EXPECT_EQ(metrics.at("task"), "vqa");
    EXPECT_DOUBLE_EQ(metrics.at("metrics").at("accuracy").get<double>(), 50.0);
    EXPECT_DOUBLE_EQ(metrics.at("by_answer_type").at("number").get<double>(), 0.0);
    std::ifstream html(dir / "A" / "index.html");
    const std::string page(std::istreambuf_iterator<char>(html), {});
    EXPECT_NE(page.find("What &lt;b&gt;?"), std::string::npos);  // escaped
    EXPECT_EQ(exampleItems(a, 1), (std::vector<std::size_t>{0, 1}));  // best, then worst
    const std::string compared = compareReports((dir / "A").string(), (dir / "B").string());
    EXPECT_NE(compared.find("accuracy"), std::string::npos) << compared;
    EXPECT_NE(compared.find("a dog"), std::string::npos) << compared;
    EXPECT_THROW(compareReports((dir / "A").string(), (dir / "nothing").string()), vqa::Error);
}

} // namespace
