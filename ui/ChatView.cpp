#include "ui/ChatView.h"

#include <QAbstractTextDocumentLayout>

#include <QDesktopServices>
#include <QScrollBar>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocumentFragment>
#include <QTextFrame>
#include <QTextList>
#include <QUrlQuery>

#include <algorithm>
#include <cmath>

#include "ui/PictureBadge.h"

namespace vqa::ui {
namespace {

// Raw characters that Markdown never shows: link destinations, fence lines (with their info
// string), table delimiter rows. Aligning skips them, so that text after a link is not matched
// to letters of its address.
std::vector<bool> hiddenSyntax(const QString& raw) {
    std::vector<bool> hidden(size_t(raw.size()), false);
    for (int i = 0; i + 1 < raw.size(); ++i) {
        if (raw.at(i) != ']' || raw.at(i + 1) != '(')
            continue;
        int depth = 0, j = i + 1;
        for (; j < raw.size() && raw.at(j) != '\n'; ++j) {
            depth += raw.at(j) == '(' ? 1 : raw.at(j) == ')' ? -1 : 0;
            if (depth == 0)
                break;
        }
        if (j < raw.size() && depth == 0)
            std::fill(hidden.begin() + i + 1, hidden.begin() + j + 1, true);
    }
    for (int line = 0; line < raw.size();) {
        int end = int(raw.indexOf(QLatin1Char('\n'), line));
        if (end < 0)
            end = int(raw.size());
        const QString text = raw.mid(line, end - line).trimmed();
        const bool fence = text.startsWith(QLatin1String("```")) || text.startsWith(QLatin1String("~~~"));
        const bool delimiter_row = text.contains(QLatin1Char('-')) && text.contains(QLatin1Char('|')) &&
                                   std::all_of(text.begin(), text.end(), [](QChar c) {
                                       return c == '|' || c == '-' || c == ':' || c == ' ';
                                   });
        if (fence || delimiter_row)
            std::fill(hidden.begin() + line, hidden.begin() + end, true);
        line = end + 1;
    }
    return hidden;
}

// rendered[i] -> index in raw, or -1: Markdown drops syntax characters but keeps the text in
// order, so a greedy forward match aligns the two. Text may follow long dropped syntax, so
// characters are looked for far ahead; white space and line breaks only near. A tab in a code
// block renders as several spaces: they all stand for the tab (JSON as Qwen2.5-VL writes it is
// indented with tabs), rather than for white space further on.
std::vector<int> alignRendered(const QString& raw, const QString& rendered) {
    constexpr int kNear = 24, kFar = 1024;
    const std::vector<bool> hidden = hiddenSyntax(raw);
    std::vector<int> map(size_t(rendered.size()), -1);
    int p = 0;
    int tab = -1;  // the raw tab the rendered space before stood for
    for (int i = 0; i < rendered.size(); ++i) {
        QChar c = rendered.at(i);
        if (c == ' ' && tab >= 0 && (p >= raw.size() || !raw.at(p).isSpace())) {
            map[size_t(i)] = tab;
            continue;
        }
        tab = -1;
        const bool newline = c == QChar::ParagraphSeparator || c == QChar::LineSeparator || c == '\n';
        const int window = newline || c.isSpace() ? kNear : kFar;
        for (int q = p; q < raw.size() && q < p + window; ++q) {
            if (hidden[size_t(q)])
                continue;
            const QChar r = raw.at(q);
            // A soft line break renders as a space; a space may stand for any white space.
            if (r == c || (newline && r == '\n') || (c.isSpace() && !newline && r.isSpace())) {
                map[size_t(i)] = q;
                p = q + 1;
                if (r == '\t' && c == ' ')
                    tab = q;
                break;
            }
        }
    }
    return map;
}

// Where code fences open or close: ``` or ~~~ at a line start (after up to 3 spaces).
std::vector<int> fencesOf(const QString& text) {
    std::vector<int> at;
    for (int i = 0; i + 2 < text.size(); ++i) {
        if (i > 0 && text.at(i - 1) != '\n')
            continue;
        int j = i;
        while (j < text.size() && j - i < 3 && text.at(j) == ' ')
            ++j;
        if (j + 2 < text.size() && (text.at(j) == '`' || text.at(j) == '~') && text.at(j + 1) == text.at(j) &&
            text.at(j + 2) == text.at(j))
            at.push_back(j);
    }
    return at;
}

bool insideFence(const std::vector<int>& fences, int pos) {
    return std::count_if(fences.begin(), fences.end(), [pos](int f) { return f < pos; }) % 2 == 1;
}

// Whether a line starting here could continue or open something other than a plain
// paragraph (a list item, quote, heading, table, fence, indented text).
bool startsStructure(const QString& text, int i) {
    if (i >= text.size())
        return true;
    const QChar c = text.at(i);
    return c.isSpace() || c.isDigit() || QStringLiteral("-*+>#|`~=<[").contains(c);
}

// The last place at or after `from` where a finished block of a streaming answer ends and a
// new one starts: after a blank line, outside code fences, where what follows cannot belong
// to the block before (so rendering the two apart gives what rendering them together does).
// Returns `from` when there is none.
int blockBoundary(const QString& text, int from, const std::vector<int>& fences) {
    for (int i = int(text.size()) - 2; i >= from; --i) {
        if (text.at(i) != '\n' || text.at(i + 1) != '\n' || insideFence(fences, i))
            continue;
        int end = i + 2;
        while (end < text.size() && text.at(end) == '\n')
            ++end;
        if (end < text.size() && !startsStructure(text, end))
            return end;
    }
    return from;
}

// In a long plain paragraph [block, end of text) that is still streaming, a space well before
// the end after which the text can be rendered on its own, continuing the same paragraph: no
// inline span (code, emphasis, link) is open there. Returns `from` when there is none. Only a
// look while the answer streams: the finished answer renders the paragraph whole.
int paragraphSplit(const QString& text, int block, int from) {
    constexpr int kLongTail = 600, kKeep = 200;
    if (text.size() - from <= kLongTail || startsStructure(text, block))
        return from;
    for (int i = block; i < text.size(); ++i)  // lines that open a list, a quote, ...
        if (text.at(i) == '\n' && i + 1 < text.size() && text.at(i + 1) != ' ' && startsStructure(text, i + 1))
            return from;
    int ticks = 0, stars = 0, unders = 0, brackets = 0, parens = 0, best = from;
    for (int i = block; i < int(text.size()) - kKeep; ++i) {
        const QChar c = text.at(i);
        ticks += c == '`';
        stars += c == '*';
        unders += c == '_';
        brackets += c == '[' ? 1 : c == ']' ? -1 : 0;
        parens += c == '(' ? 1 : c == ')' ? -1 : 0;
        if (i > from && c == ' ' && !text.at(i - 1).isSpace() && !text.at(i + 1).isSpace() && ticks % 2 == 0 &&
            stars % 2 == 0 && unders % 2 == 0 && brackets == 0 && parens == 0 && text.at(i - 1) != '\\')
            best = i;  // the space starts the continuation
    }
    return best;
}

QString tokenHref(int message, int token) { return QStringLiteral("tok:%1/%2").arg(message).arg(token); }

bool parseTokenHref(const QUrl& url, int* message, int* token) {
    if (url.scheme() != QLatin1String("tok"))
        return false;
    const QStringList parts = url.path().split('/');
    if (parts.size() != 2)
        return false;
    bool ok1 = false, ok2 = false;
    *message = parts[0].toInt(&ok1);
    *token = parts[1].toInt(&ok2);
    return ok1 && ok2;
}

QColor mix(const QColor& a, const QColor& b, double t) {
    return QColor::fromRgbF(float(a.redF() * (1 - t) + b.redF() * t), float(a.greenF() * (1 - t) + b.greenF() * t),
                            float(a.blueF() * (1 - t) + b.blueF() * t));
}

}  // namespace

ChatView::ChatView(QWidget* parent) : QTextBrowser(parent) {
    setAccessibleName(tr("Conversation"));
    setAccessibleDescription(tr("Questions and answers. Hover or click a word of an answer to see where "
                                "the model looked."));
    setOpenLinks(false);
    setOpenExternalLinks(false);
    setMouseTracking(true);
    setFrameShape(QFrame::NoFrame);
    document()->setDocumentMargin(10);
    setPlaceholderText(tr("Press Describe (Ctrl+D) or type a question below.\n\n"
                          "Then hover or click any word of the answer to see where the model looked."));
    refresh_timer_.setSingleShot(true);
    refresh_timer_.setInterval(30);
    connect(&refresh_timer_, &QTimer::timeout, this, &ChatView::onRefreshTimer);
    connect(this, qOverload<const QUrl&>(&QTextBrowser::highlighted), this, &ChatView::onHighlighted);
    connect(this, &QTextBrowser::anchorClicked, this, &ChatView::onAnchorClicked);
}

void ChatView::setMessages(const std::vector<ChatMessage>* messages) {
    messages_ = messages;
    hl_message_ = -1;
    shown_reasoning_.clear();
    refresh();
}

void ChatView::setAssistantName(const QString& name) {
    if (name == assistant_name_)
        return;
    assistant_name_ = name;
    full_pending_ = true;
    scheduleRefresh();
}

void ChatView::setReasoningShown(int message, bool shown) {
    if (shown == reasoningShown(message))
        return;
    if (shown)
        shown_reasoning_.insert(message);
    else
        shown_reasoning_.erase(message);
    if (stream_.message == message)
        stream_ = {};  // rendered again whole: the reasoning shifts the answer
    refreshMessage(message);
}

void ChatView::setHighlight(int message, int begin, int end) {
    if (message == hl_message_ && begin == hl_begin_ && end == hl_end_)
        return;
    hl_message_ = message;
    hl_begin_ = begin;
    hl_end_ = end;
    updateHighlight();
}

// The highlighted word is an extra selection over the document, not a change to it: moving
// the pointer over a long answer costs nothing like rendering it again.
QTextCursor ChatView::wordCursor(int message, int begin, int end) const {
    if (message < 0 || message >= int(token_pos_.size()) || !inSync())
        return {};
    const auto& pos = token_pos_[size_t(message)];
    int start = -1, stop = -1;
    for (int t = std::max(0, begin); t < end && t < int(pos.size()); ++t) {
        if (pos[size_t(t)].first < 0)
            continue;
        start = start < 0 ? pos[size_t(t)].first : std::min(start, pos[size_t(t)].first);
        stop = std::max(stop, pos[size_t(t)].second);
    }
    if (start < 0)
        return {};
    const int base = document()->rootFrame()->childFrames().at(message)->firstPosition();
    QTextCursor c(document());
    c.setPosition(base + start);
    c.setPosition(base + stop, QTextCursor::KeepAnchor);
    // Trim the white space a word's first token carries.
    const QString selected = c.selectedText();
    int lead = 0, trail = 0;
    while (lead < selected.size() && selected.at(lead).isSpace())
        ++lead;
    while (trail < selected.size() - lead && selected.at(selected.size() - 1 - trail).isSpace())
        ++trail;
    c.setPosition(base + start + lead);
    c.setPosition(base + stop - trail, QTextCursor::KeepAnchor);
    return c;
}

void ChatView::updateHighlight() {
    QList<QTextEdit::ExtraSelection> selections;
    // A bar under each word of an answer a check scored (ChatMessage::bars): orange where the
    // word relied on what the check took away, blue where it gained, stronger for more.
    for (int mi = 0; messages_ && mi < int(messages_->size()) && inSync(); ++mi) {
        const ChatMessage& m = (*messages_)[size_t(mi)];
        if (m.bars.empty())
            continue;
        const auto words = m.words();
        float most = 0;
        for (const auto& w : words)
            most = std::max(most, std::abs(m.bars.word(w)));
        for (const auto& w : words) {
            const float v = m.bars.word(w);
            QTextCursor c = wordCursor(mi, w.first, w.second);
            if (c.isNull() || !std::isfinite(v) || most <= 0)
                continue;
            QColor colour = v >= 0 ? QColor(230, 120, 30) : QColor(40, 110, 200);
            colour.setAlphaF(0.25 + 0.75 * std::min(1.0f, std::abs(v) / most));
            QTextEdit::ExtraSelection sel;
            sel.cursor = c;
            sel.format.setUnderlineStyle(QTextCharFormat::SingleUnderline);
            sel.format.setUnderlineColor(colour);
            sel.format.setToolTip(tr("%1: %2 nats").arg(m.bars.label).arg(double(v), 0, 'f', 2));
            selections << sel;
        }
    }
    if (hl_message_ >= 0) {
        QTextCursor c = wordCursor(hl_message_, hl_begin_, hl_end_);
        if (!c.isNull()) {
            QTextEdit::ExtraSelection sel;
            sel.cursor = c;
            sel.format.setBackground(style().word_bg);
            selections << sel;
        }
    }
    setExtraSelections(selections);
}

void ChatView::scheduleRefresh() {
    if (!refresh_timer_.isActive())
        refresh_timer_.start();
}

void ChatView::onRefreshTimer() {
    if (full_pending_ || !inSync() || !messages_ || messages_->empty())
        refresh();
    else if (stream_.message == int(messages_->size()) - 1 && messages_->back().streaming)
        refreshStreamingTail(stream_.message);
    else
        refreshMessage(int(messages_->size()) - 1);  // the streaming answer
}

void ChatView::refreshStreamingTail(int mi) {
    refresh_timer_.stop();
    const ChatMessage& m = (*messages_)[size_t(mi)];
    if (!inSync() || mi >= int(built_count_) || stream_.raw_end > int(m.text.size())) {
        stream_ = {};
        refreshMessage(mi);
        return;
    }
    // A paragraph shown in parts while it streamed is rendered whole once it is finished (a
    // new block follows) or the answer is.
    if (!stream_.new_block &&
        (!m.streaming || blockBoundary(m.text, stream_.raw_end, fencesOf(m.text)) > stream_.raw_end)) {
        stream_.raw_end = stream_.block_raw;
        stream_.doc_end = stream_.block_doc;
        stream_.new_block = true;
    }
    QScrollBar* bar = verticalScrollBar();
    const bool at_bottom = bar->value() >= bar->maximum() - 4;
    const int old_value = bar->value();
    QTextFrame* frame = document()->rootFrame()->childFrames().at(mi);
    const int frame_start = frame->firstPosition();
    QTextCursor cursor(document());
    cursor.beginEditBlock();
    cursor.setPosition(frame_start + stream_.doc_end);
    cursor.setPosition(frame->lastPosition(), QTextCursor::KeepAnchor);
    cursor.removeSelectedText();
    // Tokens of the tail are placed again below.
    auto& pos = token_pos_[size_t(mi)];
    pos.resize(m.tokens.size(), {-1, -1});
    for (auto& p : pos) {
        if (p.first >= stream_.doc_end)
            p = {-1, -1};
        else if (p.second > stream_.doc_end)
            p.second = stream_.doc_end;
    }
    insertStreamingTail(cursor, mi, frame_start);
    insertNotes(cursor, size_t(mi), style());
    cursor.endEditBlock();
    bar->setValue(at_bottom ? bar->maximum() : old_value);
    updateHighlight();
}

// Renders the answer from stream_.raw_end on: finished blocks once and for good, then the
// unfinished rest; moves stream_ past what will not change.
void ChatView::insertStreamingTail(QTextCursor& cursor, int mi, int frame_start) {
    const ChatMessage& m = (*messages_)[size_t(mi)];
    if (m.streaming) {
        const int block = blockBoundary(m.text, stream_.raw_end, fencesOf(m.text));
        if (block > stream_.raw_end) {
            insertMarkdown(cursor, size_t(mi), stream_.raw_end, block, stream_.new_block, frame_start);
            stream_.raw_end = stream_.block_raw = block;
            stream_.doc_end = stream_.block_doc = cursor.position() - frame_start;
            stream_.new_block = true;
        }
        const int split = paragraphSplit(m.text, stream_.block_raw, stream_.raw_end);
        if (split > stream_.raw_end) {
            insertMarkdown(cursor, size_t(mi), stream_.raw_end, split, stream_.new_block, frame_start);
            stream_.raw_end = split;
            stream_.doc_end = cursor.position() - frame_start;
            stream_.new_block = false;
        }
    }
    insertMarkdown(cursor, size_t(mi), stream_.raw_end, int(m.text.size()), stream_.new_block, frame_start);
    if (m.streaming)
        return;
    // The blocks were split where Markdown allows it, as far as a cheap look can tell; where
    // the finished answer proves that look wrong, it is rendered again whole.
    const int answer_start = frame_start + stream_.answer_doc;
    const int answer_raw = stream_.answer_raw;
    stream_ = {};
    if (!matchesFullRender(size_t(mi), answer_raw, answer_start, cursor.position())) {
        cursor.setPosition(answer_start);
        cursor.setPosition(document()->rootFrame()->childFrames().at(mi)->lastPosition(), QTextCursor::KeepAnchor);
        cursor.removeSelectedText();
        auto& pos = token_pos_[size_t(mi)];
        for (auto& p : pos)  // the answer's tokens are placed again; the shown reasoning's stay
            if (p.first >= answer_start - frame_start)
                p = {-1, -1};
        insertMarkdown(cursor, size_t(mi), answer_raw, int(m.text.size()), true, frame_start);
    }
}

// Whether document positions [begin, end) hold what rendering the whole answer at once gives:
// the same characters (paragraph and cell breaks included) and the same kinds of blocks.
bool ChatView::matchesFullRender(size_t mi, int raw_begin, int begin, int end) const {
    QTextDocument full;
    full.setDefaultFont(font());
    full.setMarkdown((*messages_)[mi].text.mid(raw_begin), QTextDocument::MarkdownDialectGitHub);
    const int count = full.characterCount() - 1;
    const int first = begin + 1;  // after the separator that starts the answer's first block
    if (end - first != count)
        return false;
    const QTextDocument* doc = document();
    for (int i = 0; i < count; ++i)
        if (doc->characterAt(first + i) != full.characterAt(i))
            return false;
    QTextBlock a = doc->findBlock(first);
    for (QTextBlock b = full.begin(); b.isValid() && a.isValid(); b = b.next(), a = a.next()) {
        const QTextBlockFormat fa = a.blockFormat(), fb = b.blockFormat();
        const QTextList *la = a.textList(), *lb = b.textList();
        if (fa.headingLevel() != fb.headingLevel() || fa.nonBreakableLines() != fb.nonBreakableLines() ||
            fa.indent() != fb.indent() || fa.hasProperty(QTextFormat::BlockQuoteLevel) != fb.hasProperty(QTextFormat::BlockQuoteLevel) ||
            (la == nullptr) != (lb == nullptr) || (la && la->format().style() != lb->format().style()))
            return false;
    }
    return true;
}

void ChatView::changeEvent(QEvent* event) {
    QTextBrowser::changeEvent(event);
    if (event->type() == QEvent::PaletteChange || event->type() == QEvent::FontChange) {
        full_pending_ = true;
        scheduleRefresh();
    }
}

bool ChatView::inSync() const {
    return messages_ && built_count_ == messages_->size() &&
           document()->rootFrame()->childFrames().size() == qsizetype(built_count_);
}

ChatView::Style ChatView::style() const {
    const QPalette pal = palette();
    Style st;
    st.dark = pal.color(QPalette::Base).lightness() < 128;
    const QColor base = pal.color(QPalette::Base);
    const QColor accent = pal.color(QPalette::Highlight);
    st.user_bg = mix(base, accent, st.dark ? 0.28 : 0.12);
    st.answer_bg = mix(base, pal.color(QPalette::Text), st.dark ? 0.06 : 0.035);
    st.muted = mix(pal.color(QPalette::Text), base, 0.45);
    st.word_bg = accent;
    st.word_bg.setAlpha(st.dark ? 140 : 90);
    return st;
}

void ChatView::refresh() {
    refresh_timer_.stop();
    full_pending_ = false;
    QScrollBar* bar = verticalScrollBar();
    const bool at_bottom = bar->value() >= bar->maximum() - 4;
    const int old_value = bar->value();

    QTextDocument* doc = document();
    doc->clear();
    badges_.clear();
    token_pos_.clear();
    stream_ = {};
    built_count_ = 0;
    if (!messages_ || messages_->empty()) {
        updateHighlight();
        return;
    }
    token_pos_.resize(messages_->size());
    const Style st = style();
    QTextCursor cursor(doc);
    for (size_t mi = 0; mi < messages_->size(); ++mi) {
        const bool user = (*messages_)[mi].role == Role::User;
        QTextFrameFormat frame;
        frame.setBackground(user ? st.user_bg : st.answer_bg);
        frame.setPadding(10);
        frame.setBorder(0);
        frame.setTopMargin(mi == 0 ? 0 : 10);
        frame.setLeftMargin(user ? 48 : 0);
        frame.setRightMargin(user ? 0 : 24);
        cursor.insertFrame(frame);
        insertMessage(cursor, mi, st);
        cursor = doc->rootFrame()->lastCursorPosition();
    }
    built_count_ = messages_->size();
    bar->setValue(at_bottom ? bar->maximum() : old_value);
    updateHighlight();
}

void ChatView::refreshMessage(int mi) {
    if (stream_.message == mi && mi >= 0 && inSync() && mi < int(built_count_)) {
        refreshStreamingTail(mi);  // a streamed answer: only what changed since
        return;
    }
    refresh_timer_.stop();
    if (!inSync() || mi < 0 || mi >= int(built_count_)) {
        refresh();
        return;
    }
    QScrollBar* bar = verticalScrollBar();
    const bool at_bottom = bar->value() >= bar->maximum() - 4;
    const int old_value = bar->value();
    QTextFrame* frame = document()->rootFrame()->childFrames().at(mi);
    QTextCursor cursor = frame->firstCursorPosition();
    cursor.beginEditBlock();
    cursor.setPosition(frame->lastPosition(), QTextCursor::KeepAnchor);
    cursor.removeSelectedText();
    cursor.setBlockFormat(QTextBlockFormat());
    insertMessage(cursor, size_t(mi), style());
    cursor.endEditBlock();
    bar->setValue(at_bottom ? bar->maximum() : old_value);
    updateHighlight();
}

// Fills the frame the cursor is in with message `mi`; token positions are kept relative to
// the frame's start, so re-rendering one message does not invalidate the others.
void ChatView::insertMessage(QTextCursor& cursor, size_t mi, const Style& st) {
    const ChatMessage& m = (*messages_)[mi];
    const bool user = m.role == Role::User;
    const int frame_start = cursor.position();
    auto& pos = token_pos_[mi];
    pos.assign(m.tokens.size(), {-1, -1});

    QTextCharFormat header;
    header.setFontWeight(QFont::DemiBold);
    header.setForeground(st.muted);
    header.setFontPointSize(font().pointSizeF() * 0.9);
    const QString who = user ? tr("You") : (assistant_name_.isEmpty() ? tr("Assistant") : assistant_name_);
    cursor.insertText(who, header);

    // A thinking model's answer: the line for its reasoning first; what it says follows, once
    // its reasoning has ended.
    int start = 0;
    if (!user && m.reasons_first && !m.text.isEmpty()) {
        insertReasoning(cursor, mi, st, frame_start);
        start = m.answerStart();
    }
    if (user || m.text.isEmpty()) {
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat());
        cursor.insertText(m.text, QTextCharFormat());
        if (user && pictures_shown_ && !m.pictures.empty())
            insertPictures(cursor, m);
        if (stream_.message == int(mi) && !m.streaming)
            stream_ = {};
    } else if (start < 0) {
        // Still reasoning: rendered whole on each refresh (the line, or the reasoning shown).
        if (stream_.message == int(mi))
            stream_ = {};
    } else if (m.streaming) {
        const int here = cursor.position() - frame_start;
        stream_ = {int(mi), here, start, here, start, here, true, start};
        insertStreamingTail(cursor, int(mi), frame_start);
    } else {
        insertMarkdown(cursor, mi, start, int(m.text.size()), true, frame_start);
        if (stream_.message == int(mi))
            stream_ = {};
    }
    insertNotes(cursor, mi, st);
}

void ChatView::insertMarkdown(QTextCursor& cursor, size_t mi, int begin, int end, bool new_block, int frame_start) {
    const ChatMessage& m = (*messages_)[mi];
    auto& pos = token_pos_[mi];
    pos.resize(m.tokens.size(), {-1, -1});
    auto tokenAt = [&](int raw) {
        for (int t = 0; t < int(m.tokens.size()); ++t)
            if (m.tokens[size_t(t)].start <= raw && raw < m.tokens[size_t(t)].end)
                return t;
        return -1;
    };
    // Where a token's characters land; a token split between two parts spans both.
    auto place = [&](int t, int first, int second) {
        if (pos[size_t(t)].first < 0 || pos[size_t(t)].first >= first)
            pos[size_t(t)] = {first, second};
        else
            pos[size_t(t)].second = second;
    };
    // A paragraph's continuation starts with the space Markdown would drop at a block start.
    if (!new_block && begin < end && m.text.at(begin) == ' ') {
        const int t = tokenAt(begin);
        QTextCharFormat f;
        if (t >= 0) {
            f.setAnchor(true);
            f.setAnchorHref(tokenHref(int(mi), t));
            const int at = cursor.position() - frame_start;
            place(t, at, at + 1);
        }
        cursor.insertText(QStringLiteral(" "), f);
        ++begin;
    }
    if (end <= begin)
        return;
    const QString raw = m.text.mid(begin, end - begin);
    // Render this part alone, tag each token's characters, then splice it in.
    QTextDocument part;
    part.setDefaultFont(font());
    part.setMarkdown(raw, QTextDocument::MarkdownDialectGitHub);
    QString rendered;
    const int count = part.characterCount() - 1;
    rendered.reserve(count);
    for (int i = 0; i < count; ++i)
        rendered.append(part.characterAt(i));
    const std::vector<int> map = alignRendered(raw, rendered);
    std::vector<int> token_of_raw(size_t(raw.size()), -1);
    for (int t = 0; t < int(m.tokens.size()); ++t) {
        if (m.tokens[size_t(t)].end <= begin || m.tokens[size_t(t)].start >= end)
            continue;
        for (int k = std::max(m.tokens[size_t(t)].start, begin); k < m.tokens[size_t(t)].end && k < end; ++k)
            token_of_raw[size_t(k - begin)] = t;
    }
    std::vector<std::pair<int, int>> local(m.tokens.size(), {-1, -1});
    QTextCursor c(&part);
    int i = 0;
    while (i < count) {
        const int r = map[size_t(i)];
        const int t = r >= 0 ? token_of_raw[size_t(r)] : -1;
        int j = i + 1;
        while (j < count && rendered.at(i) != QChar::ParagraphSeparator) {
            const int r2 = map[size_t(j)];
            if ((r2 >= 0 ? token_of_raw[size_t(r2)] : -1) != t || rendered.at(j) == QChar::ParagraphSeparator)
                break;
            ++j;
        }
        if (t >= 0 && rendered.at(i) != QChar::ParagraphSeparator) {
            c.setPosition(i);
            c.setPosition(j, QTextCursor::KeepAnchor);
            if (!c.charFormat().isAnchor()) {  // keep the answer's real links
                QTextCharFormat f;
                f.setAnchor(true);
                f.setAnchorHref(tokenHref(int(mi), t));
                c.mergeCharFormat(f);
            }
            if (local[size_t(t)].first < 0)
                local[size_t(t)].first = i;
            local[size_t(t)].second = j;
        }
        i = j;
    }
    int offset = cursor.position() - frame_start;
    if (new_block) {
        // The first block of an inserted fragment merges into the block at the cursor and
        // loses its own format (a list item, a code block); an empty block before it keeps
        // that format, and its separator starts the new block.
        QTextCursor head(&part);
        head.insertBlock();
        head.movePosition(QTextCursor::PreviousBlock);
        head.setBlockFormat(QTextBlockFormat());
        ++offset;
    }
    cursor.insertFragment(QTextDocumentFragment(&part));
    for (size_t t = 0; t < local.size(); ++t)
        if (local[t].first >= 0)
            place(int(t), offset + local[t].first, offset + local[t].second);
}

void ChatView::insertReasoning(QTextCursor& cursor, size_t mi, const Style& st, int frame_start) {
    const ChatMessage& m = (*messages_)[mi];
    const int end = m.reasoningEnd();
    int words = 0;
    for (int i = 0; i < end; ++i)
        words += !m.text.at(i).isSpace() && (i == 0 || m.text.at(i - 1).isSpace());
    const bool shown = reasoningShown(int(mi));
    const bool ongoing = m.answerStart() < 0 && m.streaming;
    QTextCharFormat link;
    link.setAnchor(true);
    link.setAnchorHref(QStringLiteral("reasoning:%1").arg(mi));
    link.setForeground(st.muted);
    link.setFontPointSize(font().pointSizeF() * 0.9);
    const QString count = words == 1 ? tr("1 word") : tr("%1 words").arg(words);
    const QString what = ongoing ? tr("Reasoning… (%1 so far)").arg(count) : tr("Reasoning (%1)").arg(count);
    cursor.insertBlock(QTextBlockFormat(), QTextCharFormat());
    cursor.insertText((shown ? QStringLiteral("▾ ") : QStringLiteral("▸ ")) + what +
                          (shown ? tr(" — hide") : tr(" — show")),
                      link);
    if (shown && end > 0)
        insertMarkdown(cursor, mi, 0, end, true, frame_start);
}

void ChatView::insertNotes(QTextCursor& cursor, size_t mi, const Style& st) {
    const ChatMessage& m = (*messages_)[mi];
    const bool user = m.role == Role::User;
    QTextCharFormat note;
    note.setForeground(st.muted);
    note.setFontPointSize(font().pointSizeF() * 0.85);
    if (m.streaming)
        cursor.insertText(m.text.isEmpty() ? tr("Thinking…") : QStringLiteral(" ▍"), note);
    if (!m.error.isEmpty()) {
        if (!m.text.isEmpty())
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat());
        QTextCharFormat err;
        err.setForeground(st.dark ? QColor(255, 130, 120) : QColor(190, 30, 30));
        cursor.insertText(m.error, err);
    }
    if (!user && !m.streaming && m.timings) {
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat());
        QStringList bits;
        bits << (m.timings->new_tokens == 1 ? tr("1 token") : tr("%1 tokens").arg(m.timings->new_tokens));
        if (m.timings->first_token_ms > 0)
            bits << tr("first token %1 ms").arg(m.timings->first_token_ms, 0, 'f', 0);
        if (m.timings->tokensPerSecond() > 0)
            bits << tr("%1 tokens/s").arg(m.timings->tokensPerSecond(), 0, 'f', 1);
        if (m.stop == StopReason::Cancelled)
            bits << tr("stopped");
        else if (m.stop == StopReason::MaxTokens)
            bits << tr("reached the token limit");
        if (m.hasAttention())
            bits << tr("hover a word to see where the model looked");
        cursor.insertText(bits.join(QStringLiteral("  ·  ")), note);
    }
}

namespace {
QUrl pictureUrl(int picture) { return QUrl(QStringLiteral("picture:%1").arg(picture)); }
}  // namespace

void ChatView::insertPictures(QTextCursor& cursor, const ChatMessage& m) {
    cursor.insertBlock(QTextBlockFormat(), QTextCharFormat());
    for (const MessagePicture& p : m.pictures) {
        badges_[p.picture] = p;
        const auto share = picture_shares_.find(p.picture);
        document()->addResource(QTextDocument::ImageResource, pictureUrl(p.picture),
                                pictureBadge(p, share == picture_shares_.end() ? -1.0f : share->second,
                                             p.picture == chosen_picture_));
        QTextImageFormat image;
        image.setName(pictureUrl(p.picture).toString());
        image.setAnchor(true);
        image.setAnchorHref(pictureUrl(p.picture).toString());
        image.setToolTip(p.video ? tr("%1 (video): click to show it").arg(p.name)
                                 : tr("%1: click to show it").arg(p.name));
        cursor.insertImage(image);
        cursor.insertText(QStringLiteral(" "), QTextCharFormat());
    }
}

void ChatView::setPicturesShown(bool shown) {
    if (shown == pictures_shown_)
        return;
    pictures_shown_ = shown;
    refresh();
}

void ChatView::setPictureShares(const std::map<int, float>& shares, int chosen) {
    if (shares == picture_shares_ && chosen == chosen_picture_)
        return;
    picture_shares_ = shares;
    chosen_picture_ = chosen;
    updatePictureBadges();
}

// The badges are resources of the document: drawn again in place, without a new layout.
void ChatView::updatePictureBadges() {
    if (badges_.empty())
        return;
    for (const auto& [picture, p] : badges_) {
        const auto share = picture_shares_.find(picture);
        document()->addResource(QTextDocument::ImageResource, pictureUrl(picture),
                                pictureBadge(p, share == picture_shares_.end() ? -1.0f : share->second,
                                             picture == chosen_picture_));
    }
    viewport()->update();
}

QRect ChatView::pictureRect(int picture) const {
    const QString name = pictureUrl(picture).toString();
    for (QTextBlock b = document()->begin(); b.isValid(); b = b.next()) {
        for (auto it = b.begin(); !it.atEnd(); ++it) {
            const QTextFragment f = it.fragment();
            if (!f.charFormat().isImageFormat() || f.charFormat().toImageFormat().name() != name)
                continue;
            QTextCursor c(document());
            c.setPosition(f.position());
            const QRect start = cursorRect(c);
            const QImage image = document()->resource(QTextDocument::ImageResource, QUrl(name)).value<QImage>();
            return QRect(start.left(), start.bottom() - image.height(), image.width(), image.height());
        }
    }
    return {};
}

QRect ChatView::tokenRect(int message, int token) const {
    if (message < 0 || message >= int(token_pos_.size()) || token < 0 || token >= int(token_pos_[message].size()))
        return {};
    auto [start, end] = token_pos_[message][token];
    if (start < 0 || !inSync())
        return {};
    const int base = document()->rootFrame()->childFrames().at(message)->firstPosition();
    start += base;
    end += base;
    QTextCursor c(document());
    // A word's token starts with its space, which may end the line above the word: measure
    // from the first character that is not white space.
    while (start < end - 1 && document()->characterAt(start).isSpace())
        ++start;
    c.setPosition(start);
    QRect first = cursorRect(c);
    c.setPosition(std::max(start, end - 1));
    c.movePosition(QTextCursor::NextCharacter);
    QRect last = cursorRect(c);
    if (last.top() != first.top())  // wrapped: use the first line's part
        last = QRect(first.right() + 6, first.top(), 1, first.height());
    return QRect(first.topLeft(), QPoint(last.left(), first.bottom()));
}

void ChatView::onHighlighted(const QUrl& url) {
    int m = 0, t = 0;
    if (parseTokenHref(url, &m, &t))
        emit tokenHovered(m, t);
    else
        emit hoverLeft();
}

void ChatView::onAnchorClicked(const QUrl& url) {
    int m = 0, t = 0;
    if (parseTokenHref(url, &m, &t)) {
        emit tokenClicked(m, t);
    } else if (url.scheme() == QLatin1String("picture")) {
        bool ok = false;
        const int picture = url.path().toInt(&ok);
        if (ok)
            emit pictureClicked(picture);
    } else if (url.scheme() == QLatin1String("reasoning")) {
        bool ok = false;
        const int message = url.path().toInt(&ok);
        if (ok && messages_ && message >= 0 && message < int(messages_->size()))
            setReasoningShown(message, !reasoningShown(message));
    } else if (url.scheme() == QLatin1String("http") || url.scheme() == QLatin1String("https")) {
        QDesktopServices::openUrl(url);
    }
}

void ChatView::leaveEvent(QEvent* event) {
    QTextBrowser::leaveEvent(event);
    emit hoverLeft();
}

}  // namespace vqa::ui
