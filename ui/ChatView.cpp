#include "ui/ChatView.h"

#include <QDesktopServices>
#include <QScrollBar>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocumentFragment>
#include <QTextFrame>
#include <QUrlQuery>

#include <algorithm>

namespace vqa::ui {
namespace {

// rendered[i] -> index in raw, or -1: Markdown drops syntax characters but keeps the text in
// order, so a greedy forward match (within a small window) aligns the two.
std::vector<int> alignRendered(const QString& raw, const QString& rendered) {
    std::vector<int> map(size_t(rendered.size()), -1);
    int p = 0;
    for (int i = 0; i < rendered.size(); ++i) {
        QChar c = rendered.at(i);
        const bool newline = c == QChar::ParagraphSeparator || c == QChar::LineSeparator || c == '\n';
        for (int q = p; q < raw.size() && q < p + 24; ++q) {
            const QChar r = raw.at(q);
            if (r == c || (newline && r == '\n') || (c == QChar::Nbsp && r == ' ')) {
                map[size_t(i)] = q;
                p = q + 1;
                break;
            }
        }
    }
    return map;
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
    refresh();
}

void ChatView::setAssistantName(const QString& name) {
    if (name == assistant_name_)
        return;
    assistant_name_ = name;
    full_pending_ = true;
    scheduleRefresh();
}

void ChatView::setHighlight(int message, int begin, int end) {
    if (message == hl_message_ && begin == hl_begin_ && end == hl_end_)
        return;
    const int old = hl_message_;
    hl_message_ = message;
    hl_begin_ = begin;
    hl_end_ = end;
    if (!inSync()) {
        refresh();
        return;
    }
    // Only the answers whose highlight changed are rendered again.
    if (old >= 0)
        refreshMessage(old);
    if (message >= 0 && message != old)
        refreshMessage(message);
}

void ChatView::scheduleRefresh() {
    if (!refresh_timer_.isActive())
        refresh_timer_.start();
}

void ChatView::onRefreshTimer() {
    if (full_pending_ || !inSync() || !messages_ || messages_->empty())
        refresh();
    else
        refreshMessage(int(messages_->size()) - 1);  // the streaming answer
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
    token_pos_.clear();
    built_count_ = 0;
    if (!messages_ || messages_->empty())
        return;
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
}

void ChatView::refreshMessage(int mi) {
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
    cursor.insertBlock(QTextBlockFormat(), QTextCharFormat());

    if (user) {
        cursor.insertText(m.text, QTextCharFormat());
    } else if (!m.text.isEmpty()) {
        // Render this answer alone, tag each token's characters, then splice it in.
        QTextDocument part;
        part.setDefaultFont(font());
        part.setMarkdown(m.text, QTextDocument::MarkdownDialectGitHub);
        QString rendered;
        const int count = part.characterCount() - 1;
        rendered.reserve(count);
        for (int i = 0; i < count; ++i)
            rendered.append(part.characterAt(i));
        const std::vector<int> map = alignRendered(m.text, rendered);
        std::vector<int> token_of_raw(size_t(m.text.size()), -1);
        for (int t = 0; t < int(m.tokens.size()); ++t)
            for (int k = m.tokens[t].start; k < m.tokens[t].end && k < m.text.size(); ++k)
                token_of_raw[size_t(k)] = t;
        std::vector<std::pair<int, int>> local(m.tokens.size(), {-1, -1});
        const bool highlighted = int(mi) == hl_message_;
        QTextCursor c(&part);
        int i = 0;
        while (i < count) {
            const int raw = map[size_t(i)];
            const int t = raw >= 0 ? token_of_raw[size_t(raw)] : -1;
            int j = i + 1;
            while (j < count) {
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
                    if (highlighted && t >= hl_begin_ && t < hl_end_) {
                        int a = i, b = j;
                        while (a < b && rendered.at(a).isSpace())
                            ++a;
                        while (b > a && rendered.at(b - 1).isSpace())
                            --b;
                        if (a < b) {
                            c.setPosition(a);
                            c.setPosition(b, QTextCursor::KeepAnchor);
                            QTextCharFormat bg;
                            bg.setBackground(st.word_bg);
                            c.mergeCharFormat(bg);
                        }
                    }
                }
                if (local[size_t(t)].first < 0)
                    local[size_t(t)].first = i;
                local[size_t(t)].second = j;
            }
            i = j;
        }
        const int offset = cursor.position() - frame_start;
        cursor.insertFragment(QTextDocumentFragment(&part));
        for (size_t t = 0; t < local.size(); ++t)
            if (local[t].first >= 0)
                pos[t] = {offset + local[t].first, offset + local[t].second};
    }
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
    } else if (url.scheme() == QLatin1String("http") || url.scheme() == QLatin1String("https")) {
        QDesktopServices::openUrl(url);
    }
}

void ChatView::leaveEvent(QEvent* event) {
    QTextBrowser::leaveEvent(event);
    emit hoverLeft();
}

}  // namespace vqa::ui
