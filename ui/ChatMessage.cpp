#include "ui/ChatMessage.h"

#include <string>

#include "engine/explain/Heatmap.h"

namespace vqa::ui {

float WordBars::word(std::pair<int, int> span) const {
    double sum = 0;
    for (int t = std::max(span.first, 0); t < span.second && t < int(tokens.size()); ++t)
        sum += tokens[size_t(t)];
    return float(sum);
}

bool ChatMessage::hasAttention() const {
    for (const auto& t : tokens)
        if (!t.attention.empty())
            return true;
    return false;
}

std::vector<std::pair<int, int>> ChatMessage::words() const {
    std::vector<std::string> texts;
    texts.reserve(tokens.size());
    for (const auto& t : tokens)
        texts.push_back(text.mid(t.start, t.end - t.start).toStdString());
    return vqa::wordSpans(texts);
}

std::pair<int, int> ChatMessage::wordOfToken(int token) const {
    for (const auto& w : words())
        if (token >= w.first && token < w.second)
            return w;
    return {token, token + 1};
}

int ChatMessage::reasoningEnd() const {
    if (!reasons_first)
        return 0;
    const qsizetype end = text.indexOf(QLatin1String("</think>"));
    return int(end < 0 ? text.size() : end);
}

int ChatMessage::answerStart() const {
    if (!reasons_first)
        return 0;
    qsizetype end = text.indexOf(QLatin1String("</think>"));
    if (end < 0)
        return -1;
    end += 8;
    while (end < text.size() && text.at(end).isSpace())
        ++end;
    return int(end);
}

namespace {

// The pictures user message `i` brings (the main image for the first user message naming none).
std::vector<MessagePicture> turnPictures(const ChatMessage& m, bool first_user, bool with_image) {
    if (!m.pictures.empty())
        return m.pictures;
    if (first_user && with_image)
        return {MessagePicture{}};
    return {};
}

}  // namespace

Conversation toConversation(const std::vector<ChatMessage>& messages, size_t end, bool with_image) {
    Conversation conversation;
    bool first_user = true;
    for (size_t i = 0; i < end && i < messages.size(); ++i) {
        const ChatMessage& m = messages[i];
        if (m.role == Role::Assistant && (!m.error.isEmpty() || m.text.isEmpty()))
            continue;
        Turn turn;
        turn.role = m.role;
        if (m.role == Role::User) {
            for (const MessagePicture& p : turnPictures(m, first_user, with_image))
                turn.content.push_back({p.video ? ContentPart::Kind::Video : ContentPart::Kind::Image, {}});
            first_user = false;
        }
        turn.content.push_back({ContentPart::Kind::Text, m.text.toStdString()});
        // Two user turns in a row (the answer between failed): merge, the template expects
        // alternating roles.
        if (!conversation.empty() && conversation.back().role == turn.role) {
            auto& last = conversation.back().content;
            last.insert(last.end(), turn.content.begin(), turn.content.end());
        } else {
            conversation.push_back(std::move(turn));
        }
    }
    return conversation;
}

std::vector<MessagePicture> picturesInOrder(const std::vector<ChatMessage>& messages, size_t end, bool with_image) {
    std::vector<MessagePicture> out;
    bool first_user = true;
    for (size_t i = 0; i < end && i < messages.size(); ++i) {
        if (messages[i].role != Role::User)
            continue;
        for (const MessagePicture& p : turnPictures(messages[i], first_user, with_image))
            out.push_back(p);
        first_user = false;
    }
    return out;
}

}  // namespace vqa::ui
