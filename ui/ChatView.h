// The conversation: user questions and rendered-Markdown answers in bubbles. Every token
// of an answer is an anchor, so hovering or clicking a word can show its heatmap. A thinking
// model's reasoning is shown collapsed to one line ("Reasoning (N words) — show") that
// opens and closes it.
#pragma once

#include <QTextBrowser>
#include <QTimer>

#include <map>
#include <set>
#include <vector>

#include "ui/ChatMessage.h"

namespace vqa::ui {

class ChatView : public QTextBrowser {
    Q_OBJECT
public:
    explicit ChatView(QWidget* parent = nullptr);

    // The view reads the messages on refresh; the owner keeps them alive and calls
    // setMessages(nullptr) before they go.
    void setMessages(const std::vector<ChatMessage>* messages);
    void setAssistantName(const QString& name);
    // Highlights tokens [begin, end) of a message (a word), or nothing with message -1.
    void setHighlight(int message, int begin, int end);
    // Thumbnails of the pictures each user message brought (ChatMessage::pictures), shown in a
    // conversation with several pictures; a click on one emits pictureClicked. Over each, a bar
    // for the shown word's share of attention on it (picture -> share; empty: no bars), and a
    // frame around the picture on the canvas.
    void setPicturesShown(bool shown);
    bool picturesShown() const { return pictures_shown_; }
    void setPictureShares(const std::map<int, float>& shares, int chosen);
    const std::map<int, float>& pictureShares() const { return picture_shares_; }
    // Where picture `picture`'s thumbnail is drawn, in viewport coordinates; empty if it is not.
    QRect pictureRect(int picture) const;
    // Draws the answers' bars (ChatMessage::bars) again, after a check scored one.
    void updateBars() { updateHighlight(); }
    // Opens or closes the reasoning of answer `message` (what clicking its line does).
    void setReasoningShown(int message, bool shown);
    bool reasoningShown(int message) const { return shown_reasoning_.count(message) > 0; }
    // Rebuilds everything at once; renders one message again; or, soon, the last message
    // (coalesces the many updates while tokens stream in).
    void refresh();
    void refreshMessage(int message);
    void scheduleRefresh();

    // Where a token is drawn, in viewport coordinates (for tests and tooltips); empty if
    // the token is not in the document.
    QRect tokenRect(int message, int token) const;

signals:
    void tokenHovered(int message, int token);
    void tokenClicked(int message, int token);
    void pictureClicked(int picture);
    void hoverLeft();

protected:
    void leaveEvent(QEvent* event) override;
    void changeEvent(QEvent* event) override;

private:
    struct Style {
        bool dark = false;
        QColor user_bg, answer_bg, muted, word_bg;
    };
    Style style() const;
    bool inSync() const;  // the document holds one frame per message
    void insertMessage(QTextCursor& cursor, size_t message, const Style& style);
    // Renders raw answer text [begin, end) of `message` as Markdown at the cursor (in a new
    // block, or continuing the current one) and records where its tokens went.
    void insertMarkdown(QTextCursor& cursor, size_t message, int begin, int end, bool new_block, int frame_start);
    void insertNotes(QTextCursor& cursor, size_t message, const Style& style);
    // The line that stands for a thinking model's reasoning, and the reasoning when shown.
    void insertReasoning(QTextCursor& cursor, size_t message, const Style& style, int frame_start);
    // While an answer streams, only its unfinished tail is rendered again on each refresh;
    // the paragraphs before it were rendered once (what keeps long answers cheap).
    void refreshStreamingTail(int message);
    void insertStreamingTail(QTextCursor& cursor, int message, int frame_start);
    // Whether document positions [begin, end) hold the full render of the answer's raw text
    // from `raw_begin` on.
    bool matchesFullRender(size_t message, int raw_begin, int begin, int end) const;
    void onRefreshTimer();
    // Tokens [begin, end) of a message selected in the document, without the white space at
    // their ends; null when they are not there.
    QTextCursor wordCursor(int message, int begin, int end) const;
    void updateHighlight();
    void onHighlighted(const QUrl& url);
    void onAnchorClicked(const QUrl& url);

    void insertPictures(QTextCursor& cursor, const ChatMessage& m);
    void updatePictureBadges();

    bool pictures_shown_ = false;
    std::map<int, float> picture_shares_;
    int chosen_picture_ = -1;
    std::map<int, MessagePicture> badges_;  // the pictures in the document
    const std::vector<ChatMessage>* messages_ = nullptr;
    QString assistant_name_;
    std::set<int> shown_reasoning_;  // answers whose reasoning is open
    int hl_message_ = -1, hl_begin_ = 0, hl_end_ = 0;
    QTimer refresh_timer_;
    bool full_pending_ = false;
    size_t built_count_ = 0;
    // Token positions relative to their message's frame: token_pos_[message][token] = {start, end}
    std::vector<std::vector<std::pair<int, int>>> token_pos_;
    // Where the streaming answer's rendering stands (document positions relative to its frame).
    struct Stream {
        int message = -1;
        int answer_doc = 0;                // where the answer starts (after its header)
        int block_raw = 0, block_doc = 0;  // the last finished block ends here: the final look before it
        int raw_end = 0, doc_end = 0;      // text before this is rendered (may end inside a paragraph)
        bool new_block = true;             // whether the text at raw_end starts a new block
        int answer_raw = 0;                // where the rendered answer starts in the raw text
    } stream_;
};

}  // namespace vqa::ui
