// What the chat shows and keeps: messages with, for answers, their tokens (character range
// in the answer text, attention grids), grouped into words for the heatmap.
#pragma once

#include <QImage>
#include <QString>

#include <optional>
#include <utility>
#include <vector>

#include "engine/Types.h"

namespace vqa::ui {

struct TokenRecord {
    int start = 0;  // character range in ChatMessage::text (QString indices)
    int end = 0;
    std::int32_t id = 0;
    std::vector<HeatmapGrid> attention;
    std::vector<HeatmapGrid> relevancy;  // computed on request (a clicked word)
    std::vector<HeatmapGrid> rollout;    // the word's rollout, on its first token (a clicked word)
};

// A value per token from a counterfactual check of an answer (engine/explain/ImageReliance),
// drawn as a bar under each word: how much the word relied on the image, or how much it fell
// when a region was hidden. A word's value is the sum of its tokens' (log-probabilities add).
struct WordBars {
    QString label;              // what the values are, for tooltips and the status line
    std::vector<float> tokens;  // nats, one per token of the answer
    bool empty() const { return tokens.empty(); }
    float word(std::pair<int, int> span) const;
};

// A picture a user message brought into the conversation: an image or a video of its session
// (ImageSession::picture), in the order they go before the question's text.
struct MessagePicture {
    int picture = 0;  // index into the session's pictures (0: its main image)
    bool video = false;
    QString name;
    QImage thumbnail;  // for the chat
};

struct ChatMessage {
    Role role = Role::User;
    QString text;
    // User messages: the pictures this turn added. The first user message of a conversation
    // with none holds the session's main image (what a conversation about one image has always
    // done).
    std::vector<MessagePicture> pictures;
    std::vector<TokenRecord> tokens;  // assistant answers only
    std::vector<GroundingBox> boxes;  // the boxes the answer names (GenerationResult::boxes)
    // Answers about videos: per video of the request, the frames the model saw.
    std::vector<VideoFrames> video_frames;
    bool streaming = false;
    // A thinking model's answer: its reasoning comes first and ends at "</think>" (the window
    // shows it collapsed).
    bool reasons_first = false;
    QString error;
    std::optional<Timings> timings;
    WordBars bars;  // the last check scored on this answer; empty: none
    // The answer's occlusion map (one grid over the whole image) and what it shows.
    std::vector<HeatmapGrid> occlusion_map;
    QString occlusion_caption;
    StopReason stop = StopReason::EndOfTurn;

    bool hasAttention() const;
    // For an answer that reasons first: the end of its reasoning (where "</think>" starts, or
    // the end of the text while it is still reasoning) and where what it says starts (after
    // "</think>" and the line breaks that follow; -1 while it is still reasoning). Otherwise
    // no reasoning: 0 and 0.
    int reasoningEnd() const;
    int answerStart() const;
    // Words as [first token, last token + 1), by the engine's splitter (vqa::wordSpans, the
    // one the CLI names its word heatmaps by): a word starts at a token that begins with
    // white space, follows one that ends with it, or is one punctuation character; tokens of
    // white space alone are in no word.
    std::vector<std::pair<int, int>> words() const;
    // The word holding `token`; a token in no word stands alone.
    std::pair<int, int> wordOfToken(int token) const;
};

// The engine's conversation for `messages`, up to (excluding) `end`; each user turn starts with
// its pictures (an Image or Video part each), the first one with the main image when it names
// none (`with_image`). Failed or empty answers are left out.
Conversation toConversation(const std::vector<ChatMessage>& messages, size_t end, bool with_image);

// The pictures of that conversation in the order its Image and Video parts come: the request's
// images are those that are not videos, in this order, and its videos those that are
// (HeatmapGrid::image and ::video index them).
std::vector<MessagePicture> picturesInOrder(const std::vector<ChatMessage>& messages, size_t end, bool with_image);

}  // namespace vqa::ui
