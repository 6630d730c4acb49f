// Grounding: the boxes an answer names (Qwen2.5-VL's bbox_2d JSON, Qwen2-VL's <|box_start|>
// boxes), mapped onto the original image; and their drawing into the CLI's answer.png.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "engine/explain/Grounding.h"
#include "engine/text/StreamingDetokenizer.h"
#include "engine/text/Tokenizer.h"

using namespace vqa;

namespace {

// A 1000x500 image that a Qwen2.5-VL processor resized to 500x252 (its box space).
ImageLayout qwen25Layout() {
    ImageLayout l;
    l.image_width = 1000;
    l.image_height = 500;
    l.box_space_width = 500;
    l.box_space_height = 250;
    return l;
}

// A 640x480 image of a family without a box space of its own (Qwen2-VL: 0-1000 boxes only).
ImageLayout plainLayout() {
    ImageLayout l;
    l.image_width = 640;
    l.image_height = 480;
    return l;
}

std::string named(const std::string& text, const GroundingBox& b) {
    return text.substr(static_cast<std::size_t>(b.text_begin),
                       static_cast<std::size_t>(b.text_end - b.text_begin));
}

const std::string kTwoBoxes = "Here they are:\n```json\n[\n"
                              "\t{\"bbox_2d\": [50, 25, 150, 125], \"label\": \"dog\"},\n"
                              "\t{\"bbox_2d\": [300, 100, 450, 240], \"label\": \"cat\"}\n"
                              "]\n```\nBoth are on the sofa.";

} // namespace

TEST(Grounding, Qwen25JsonBoxesMapFromTheResizedImageToTheOriginal) {
    const auto boxes = parseGroundingBoxes(kTwoBoxes, qwen25Layout(), 0);
    ASSERT_EQ(boxes.size(), 2u);
    EXPECT_EQ(boxes[0].label, "dog");
    EXPECT_DOUBLE_EQ(boxes[0].x1, 100);
    EXPECT_DOUBLE_EQ(boxes[0].y1, 50);
    EXPECT_DOUBLE_EQ(boxes[0].x2, 300);
    EXPECT_DOUBLE_EQ(boxes[0].y2, 250);
    EXPECT_FALSE(boxes[0].clipped);
    EXPECT_FALSE(boxes[0].point);
    EXPECT_EQ(boxes[1].label, "cat");
    EXPECT_DOUBLE_EQ(boxes[1].x1, 600);
    EXPECT_DOUBLE_EQ(boxes[1].y2, 480);
    // Each box keeps the text that named it: its object.
    EXPECT_EQ(named(kTwoBoxes, boxes[0]), "{\"bbox_2d\": [50, 25, 150, 125], \"label\": \"dog\"}");
    EXPECT_EQ(named(kTwoBoxes, boxes[1]),
              "{\"bbox_2d\": [300, 100, 450, 240], \"label\": \"cat\"}");
    EXPECT_EQ(boxes[1].image, 0);
    EXPECT_EQ(parseGroundingBoxes(kTwoBoxes, qwen25Layout(), 3)[0].image, 3);
}

TEST(Grounding, OneObjectExtraKeysPointsAndNestedLists) {
    const auto one = parseGroundingBoxes(
        R"({"label": "mug", "bbox_2d": [10.5, 20, 30, 40.25], "confidence": "high", "attrs": {"color": "red"}})",
        qwen25Layout());
    ASSERT_EQ(one.size(), 1u);
    EXPECT_EQ(one[0].label, "mug");
    EXPECT_DOUBLE_EQ(one[0].x1, 21);
    EXPECT_DOUBLE_EQ(one[0].y2, 80.5);

    const auto point =
        parseGroundingBoxes(R"([{"point_2d": [250, 125], "label": "nose"}])", qwen25Layout());
    ASSERT_EQ(point.size(), 1u);
    EXPECT_TRUE(point[0].point);
    EXPECT_DOUBLE_EQ(point[0].x1, 500);
    EXPECT_DOUBLE_EQ(point[0].x2, 500);
    EXPECT_DOUBLE_EQ(point[0].y1, 250);
    EXPECT_DOUBLE_EQ(point[0].y2, 250);

    // An object that is not a box is looked into; coordinates written as strings count.
    const auto nested = parseGroundingBoxes(
        R"({"objects": [{"bbox_2d": ["1", "2", "3", "4"], "label": "a"}, {"bbox_2d": [5, 6, 7, 8]}], "count": 2})",
        qwen25Layout());
    ASSERT_EQ(nested.size(), 2u);
    EXPECT_EQ(nested[0].label, "a");
    EXPECT_DOUBLE_EQ(nested[0].x1, 2);
    EXPECT_EQ(nested[1].label, "");
    EXPECT_DOUBLE_EQ(nested[1].y2, 16);
}

TEST(Grounding, TruncatedJsonGivesTheBoxesCompleteBeforeTheCut) {
    // Every prefix of the answer: never more boxes than objects closed, the ones before the cut.
    for (std::size_t cut = 0; cut <= kTwoBoxes.size(); ++cut) {
        const std::string prefix = kTwoBoxes.substr(0, cut);
        const auto boxes = parseGroundingBoxes(prefix, qwen25Layout());
        const std::size_t first_end = kTwoBoxes.find('}') + 1;
        const std::size_t second_end = kTwoBoxes.find('}', first_end) + 1;
        const std::size_t expected = cut >= second_end ? 2 : cut >= first_end ? 1 : 0;
        ASSERT_EQ(boxes.size(), expected) << "cut at " << cut << ": " << prefix;
        if (expected > 0) {
            EXPECT_EQ(boxes[0].label, "dog");
        }
    }
    // Cut inside a string, a number, a key.
    EXPECT_EQ(
        parseGroundingBoxes(
            R"([{"bbox_2d": [1, 2, 3, 4], "label": "a"}, {"bbox_2d": [5, 6, 7, 8], "label": "b)",
            qwen25Layout())
            .size(),
        1u);
    EXPECT_EQ(
        parseGroundingBoxes(R"([{"bbox_2d": [1, 2, 3, 4], "label": "a"}, {"bbox_2d": [5, 6, 7)",
                            qwen25Layout())
            .size(),
        1u);
    EXPECT_EQ(parseGroundingBoxes(R"({"objects": [{"bbox_2d": [1, 2, 3, 4], "label": "a"}, {"bbo)",
                                  qwen25Layout())
                  .size(),
              1u);
}

TEST(Grounding, JsonThatNeverClosesStillGivesItsCompleteObjects) {
    const std::string text =
        "```json\n[\n  {\"bbox_2d\": [10, 20, 30, 40], \"label\": \"cat\"},\n"
        "  {\"bbox_2d\": [50, 60, 70, 80], \"label\": \"dog\"},\n  {\"bbox_2d\": [";
    const auto boxes = parseGroundingBoxes(text, qwen25Layout());
    ASSERT_EQ(boxes.size(), 2u);
    EXPECT_EQ(boxes[1].label, "dog");
    EXPECT_DOUBLE_EQ(boxes[1].x2, 140);
    // An opening brace that never closes, before the boxes, does not hide them.
    const auto after_stray = parseGroundingBoxes("{ oops " + text, qwen25Layout());
    EXPECT_EQ(after_stray.size(), 2u);
}

TEST(Grounding, CoordinatesOutsideTheImageAreClampedAndFlaggedAndCornersPutInOrder) {
    const auto boxes = parseGroundingBoxes(
        R"([{"bbox_2d": [-10, 20, 600, 100], "label": "wide"}, {"bbox_2d": [300, 200, 100, 50], "label": "reversed"},
            {"bbox_2d": [900, 900, 1000, 1000], "label": "beyond"}])",
        qwen25Layout());
    ASSERT_EQ(boxes.size(), 3u);
    EXPECT_TRUE(boxes[0].clipped);
    EXPECT_DOUBLE_EQ(boxes[0].x1, 0);
    EXPECT_DOUBLE_EQ(boxes[0].x2, 1000);
    EXPECT_DOUBLE_EQ(boxes[0].y1, 40);
    EXPECT_FALSE(boxes[1].clipped);
    EXPECT_DOUBLE_EQ(boxes[1].x1, 200);
    EXPECT_DOUBLE_EQ(boxes[1].y1, 100);
    EXPECT_DOUBLE_EQ(boxes[1].x2, 600);
    EXPECT_DOUBLE_EQ(boxes[1].y2, 400);
    EXPECT_TRUE(boxes[2].clipped);
    EXPECT_DOUBLE_EQ(boxes[2].x1, 1000);
    EXPECT_DOUBLE_EQ(boxes[2].y1, 500);
    for (const auto& b : boxes) {
        EXPECT_LE(b.x1, b.x2);
        EXPECT_LE(b.y1, b.y2);
    }
    const auto thousandths =
        parseGroundingBoxes("<|box_start|>(-5,990),(1200,1001)<|box_end|>", plainLayout());
    ASSERT_EQ(thousandths.size(), 1u);
    EXPECT_TRUE(thousandths[0].clipped);
    EXPECT_DOUBLE_EQ(thousandths[0].x1, 0);
    EXPECT_DOUBLE_EQ(thousandths[0].x2, 640);
    EXPECT_DOUBLE_EQ(thousandths[0].y1, 0.99 * 480);
    EXPECT_DOUBLE_EQ(thousandths[0].y2, 480);
}

TEST(Grounding, Qwen2VlBoxTokensOnTheThousandScale) {
    const std::string text =
        "The <|object_ref_start|>red car<|object_ref_end|><|box_start|>(100,250),(500,750)"
        "<|box_end|> is parked next to <|box_start|>(0, 0), (1000, 1000)<|box_end|>.";
    const auto boxes = parseGroundingBoxes(text, plainLayout());
    ASSERT_EQ(boxes.size(), 2u);
    EXPECT_EQ(boxes[0].label, "red car");
    EXPECT_DOUBLE_EQ(boxes[0].x1, 64);
    EXPECT_DOUBLE_EQ(boxes[0].y1, 120);
    EXPECT_DOUBLE_EQ(boxes[0].x2, 320);
    EXPECT_DOUBLE_EQ(boxes[0].y2, 360);
    EXPECT_EQ(
        named(text, boxes[0]),
        "<|object_ref_start|>red car<|object_ref_end|><|box_start|>(100,250),(500,750)<|box_end|>");
    // A box without a reference: no label, its own text.
    EXPECT_EQ(boxes[1].label, "");
    EXPECT_EQ(named(text, boxes[1]), "<|box_start|>(0, 0), (1000, 1000)<|box_end|>");
    EXPECT_DOUBLE_EQ(boxes[1].x2, 640);
    EXPECT_DOUBLE_EQ(boxes[1].y2, 480);
    EXPECT_FALSE(boxes[1].clipped);

    // One reference, two boxes; text between a reference and a box breaks the link.
    const auto two = parseGroundingBoxes(
        "<|object_ref_start|>cups<|object_ref_end|><|box_start|>(1,2),(3,4)<|box_end|> "
        "<|box_start|>(5,6),(7,8)<|box_end|> and then <|box_start|>(9,9),(10,10)<|box_end|>",
        plainLayout());
    ASSERT_EQ(two.size(), 3u);
    EXPECT_EQ(two[0].label, "cups");
    EXPECT_EQ(two[1].label, "cups");
    EXPECT_EQ(two[2].label, "");
    EXPECT_EQ(two[1].text_begin, 0);

    // The answer stopped inside a box or a reference: the complete ones only.
    EXPECT_EQ(parseGroundingBoxes(
                  "<|box_start|>(1,2),(3,4)<|box_end|><|object_ref_start|>a<|object_ref_end|>"
                  "<|box_start|>(5,6),(7",
                  plainLayout())
                  .size(),
              1u);
    EXPECT_TRUE(parseGroundingBoxes("<|object_ref_start|>a dog that", plainLayout()).empty());
    // A box of the wrong arity is no box.
    EXPECT_TRUE(parseGroundingBoxes("<|box_start|>(1,2),(3)<|box_end|>", plainLayout()).empty());
}

TEST(Grounding, JsonCountsOnlyWhereTheLayoutHasABoxSpace) {
    EXPECT_TRUE(parseGroundingBoxes(kTwoBoxes, plainLayout()).empty());
    const auto mixed =
        parseGroundingBoxes(kTwoBoxes + " <|box_start|>(0,0),(500,500)<|box_end|>", plainLayout());
    ASSERT_EQ(mixed.size(), 1u);
    EXPECT_DOUBLE_EQ(mixed[0].x2, 320);
    // Both syntaxes in one answer come out in the order of the text.
    const auto both =
        parseGroundingBoxes("<|box_start|>(0,0),(500,500)<|box_end|> " + kTwoBoxes, qwen25Layout());
    ASSERT_EQ(both.size(), 3u);
    EXPECT_EQ(both[0].label, "");
    EXPECT_EQ(both[1].label, "dog");
    ImageLayout no_image = qwen25Layout();
    no_image.image_width = 0;
    EXPECT_TRUE(parseGroundingBoxes(kTwoBoxes, no_image).empty());
}

TEST(Grounding, GarbageGivesNoBoxes) {
    const std::vector<std::string> garbage = {
        "",
        "{",
        "}}}{{{",
        "{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{",
        "no boxes here, just a description of a dog.",
        R"({"bbox_2d": "big", "label": "x"})",
        R"({"bbox_2d": [1, 2, 3], "label": "x"})",
        R"({"bbox_2d": [1, 2, 3, 4, 5]})",
        R"({"bbox_2d": [1, null, 3, 4]})",
        R"({"bbox_2d": [1e999, 2, 3, 4]})",
        R"({"bbox_2d": ["1x", 2, 3, 4]})",
        R"({"point_2d": [1]})",
        R"([1, 2, 3, 4])",
        "{\"label\": \"\xff\xfe\", \"bbox_2d\": [1, 2, 3, 4]}",
        R"({"bbox_2d": [1, 2, 3, 4], "label": "a" "b"})",
        "<|box_start|><|box_end|>",
        "<|box_start|>(a,b),(c,d)<|box_end|>",
        "<|box_end|>(1,2),(3,4)<|box_start|>",
        std::string("\0{\"bbox_2d\"\0: [1,2,3,4]}", 24),
    };
    for (const auto& g : garbage)
        EXPECT_TRUE(parseGroundingBoxes(g, qwen25Layout()).empty()) << g;
}

TEST(Grounding, UnicodeLabels) {
    const std::string text =
        "```json\n[{\"bbox_2d\": [0, 0, 10, 10], \"label\": \"狗\"}, "
        "{\"bbox_2d\": [0, 0, 10, 10], \"label\": \"\\u732b \\ud83d\\ude00\"}]\n```";
    const auto boxes = parseGroundingBoxes(text, qwen25Layout());
    ASSERT_EQ(boxes.size(), 2u);
    EXPECT_EQ(boxes[0].label, "狗");
    EXPECT_EQ(boxes[1].label, "猫 😀");
    const auto ref = parseGroundingBoxes(
        "<|object_ref_start|> 一只狗 <|object_ref_end|><|box_start|>(1,2),(3,4)<|box_end|>",
        plainLayout());
    ASSERT_EQ(ref.size(), 1u);
    EXPECT_EQ(ref[0].label, "一只狗");
    // Bytes that are no UTF-8 become U+FFFD: labels are always valid text.
    const auto bad = parseGroundingBoxes(
        "<|object_ref_start|>a\xff<|object_ref_end|><|box_start|>(1,2),(3,4)<|box_end|>",
        plainLayout());
    ASSERT_EQ(bad.size(), 1u);
    EXPECT_EQ(bad[0].label, "a\xEF\xBF\xBD");
}

namespace {

// A tokenizer of whole pieces, some special (as Qwen2's <|box_start|> and friends are).
class PieceTokenizer final : public Tokenizer {
  public:
    explicit PieceTokenizer(std::vector<std::pair<std::string, bool>> pieces)
        : pieces_(std::move(pieces)) {}
    std::vector<TokenId> encode(std::string_view, bool) const override { return {}; }
    std::string decode(const std::vector<TokenId>& ids, bool skip) const override {
        return decodeTokens(*this, ids, skip);
    }
    std::string idToPiece(TokenId id) const override {
        return pieces_.at(static_cast<std::size_t>(id)).first;
    }
    std::optional<TokenId> pieceToId(std::string_view piece) const override {
        for (std::size_t i = 0; i < pieces_.size(); ++i)
            if (pieces_[i].first == piece)
                return static_cast<TokenId>(i);
        return std::nullopt;
    }
    bool isSpecial(TokenId id) const override {
        return pieces_.at(static_cast<std::size_t>(id)).second;
    }
    std::size_t vocabSize() const override { return pieces_.size(); }
    std::string tokenBytes(TokenId id) const override { return idToPiece(id); }

    std::vector<std::int32_t> ids(const std::vector<std::string>& pieces) const {
        std::vector<std::int32_t> out;
        for (const auto& p : pieces)
            out.push_back(*pieceToId(p));
        return out;
    }

  private:
    std::vector<std::pair<std::string, bool>> pieces_;
};

PieceTokenizer qwenLikeTokenizer() {
    return PieceTokenizer({{"The", false},
                           {" dog", false},
                           {"<|object_ref_start|>", true},
                           {"<|object_ref_end|>", true},
                           {"<|box_start|>", true},
                           {"<|box_end|>", true},
                           {"dog", false},
                           {"(100,200),(300,400)", false},
                           {".", false},
                           {"```json\n[{\"bbox_2d\": ", false},
                           {"[50, 25, 150, 125], ", false},
                           {"\"label\": \"dog\"}", false},
                           {"]\n```", false},
                           {"<|im_end|>", true}});
}

} // namespace

TEST(Grounding, AnswerTokensKeepTheBoxMarkersForTheParserAndGiveRangesInTheCleanText) {
    const PieceTokenizer tok = qwenLikeTokenizer();
    const auto ids = tok.ids({"The", " dog", "<|object_ref_start|>", "dog", "<|object_ref_end|>",
                              "<|box_start|>", "(100,200),(300,400)", "<|box_end|>", "."});
    const std::string clean = tok.decode(ids, /*skip=*/true);
    ASSERT_EQ(clean, "The dogdog(100,200),(300,400).");
    const auto boxes = groundAnswer(tok, ids, plainLayout(), 0);
    ASSERT_EQ(boxes.size(), 1u);
    EXPECT_EQ(boxes[0].label, "dog");
    EXPECT_DOUBLE_EQ(boxes[0].x1, 64);
    EXPECT_DOUBLE_EQ(boxes[0].y2, 192);
    // From the reference's start to the box's end, as tokens and as the text the user reads.
    EXPECT_EQ(boxes[0].token_begin, 2);
    EXPECT_EQ(boxes[0].token_end, 8);
    EXPECT_EQ(named(clean, boxes[0]), "dog(100,200),(300,400)");
}

TEST(Grounding, AnswerTokensWithJsonBoxes) {
    const PieceTokenizer tok = qwenLikeTokenizer();
    const auto ids = tok.ids({"The", "```json\n[{\"bbox_2d\": ", "[50, 25, 150, 125], ",
                              "\"label\": \"dog\"}", "]\n```", "<|im_end|>"});
    const auto boxes = groundAnswer(tok, ids, qwen25Layout(), 1);
    ASSERT_EQ(boxes.size(), 1u);
    EXPECT_EQ(boxes[0].image, 1);
    EXPECT_DOUBLE_EQ(boxes[0].x2, 300);
    EXPECT_EQ(boxes[0].token_begin, 1);
    EXPECT_EQ(boxes[0].token_end, 4);
    const std::string clean = tok.decode(ids, true);
    EXPECT_EQ(named(clean, boxes[0]),
              "```json\n[{\"bbox_2d\": [50, 25, 150, 125], \"label\": \"dog\"}");
    EXPECT_TRUE(groundAnswer(tok, {}, qwen25Layout(), 0).empty());
}

TEST(Grounding, ModelsWithoutABoxSpaceOrBoxTokensGetNoBoxes) {
    // SmolVLM, LLaVA: no box space, no <|box_start|> in the vocabulary.
    const PieceTokenizer tok({{"(0,0),(500,500)", false}, {"{\"bbox_2d\": [1, 2, 3, 4]}", false}});
    EXPECT_TRUE(groundAnswer(tok, {0, 1}, plainLayout(), 0).empty());
}

TEST(Grounding, CaptionsAndColoursAreSharedAndStable) {
    GroundingBox b;
    EXPECT_EQ(groundingBoxCaption(b, 2), "box 3");
    b.label = "狗";
    EXPECT_EQ(groundingBoxCaption(b, 2), "狗");
    EXPECT_NE(groundingBoxColor(0), groundingBoxColor(1));
    EXPECT_EQ(groundingBoxColor(0), groundingBoxColor(8));
    EXPECT_EQ(groundingBoxColor(-1), groundingBoxColor(7));
    // Yellow takes black writing; red white.
    EXPECT_EQ(groundingCaptionColor(7), (std::array<std::uint8_t, 3>{0, 0, 0}));
    EXPECT_EQ(groundingCaptionColor(0), (std::array<std::uint8_t, 3>{255, 255, 255}));
}

TEST(Grounding, DrawsOutlinesAndCaptionTagsAtTheBoxesPixels) {
    RgbImage image;
    image.width = 400;
    image.height = 200;
    image.pixels.assign(400 * 200 * 3, 128);
    auto at = [&](int x, int y) {
        const std::size_t i = (static_cast<std::size_t>(y) * 400 + static_cast<std::size_t>(x)) * 3;
        return std::array<std::uint8_t, 3>{image.pixels[i], image.pixels[i + 1],
                                           image.pixels[i + 2]};
    };
    GroundingBox dog;
    dog.label = "dog";
    dog.x1 = 40, dog.y1 = 60, dog.x2 = 240, dog.y2 = 160;
    GroundingBox top; // at the top edge: its tag goes inside
    top.label = "猫";
    top.x1 = 300, top.y1 = 0, top.x2 = 380, top.y2 = 100;
    drawGroundingBoxes(image, {dog, top});
    const std::array<std::uint8_t, 3> gray{128, 128, 128};
    // The outline on all four sides, in the box's colour; the inside untouched.
    EXPECT_EQ(at(140, 60), groundingBoxColor(0));
    EXPECT_EQ(at(140, 159), groundingBoxColor(0));
    EXPECT_EQ(at(40, 110), groundingBoxColor(0));
    EXPECT_EQ(at(239, 110), groundingBoxColor(0));
    EXPECT_EQ(at(140, 110), gray);
    EXPECT_EQ(at(20, 110), gray);
    // The tag above the top-left corner: filled with the colour, the caption written in it
    // (antialiased: pixels of neither the tag's colour nor the image's).
    EXPECT_EQ(at(41, 57), groundingBoxColor(0));
    int written = 0;
    for (int y = 40; y < 58; ++y)
        for (int x = 42; x < 80; ++x)
            written += at(x, y) != groundingBoxColor(0) && at(x, y) != gray;
    EXPECT_GT(written, 10);
    EXPECT_EQ(at(41, 40), gray);
    // The second box's tag inside, at the image's top; its colour on its left edge.
    EXPECT_EQ(at(301, 1), groundingBoxColor(1));
    EXPECT_EQ(at(300, 50), groundingBoxColor(1));
}
