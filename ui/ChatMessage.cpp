#include "ui/ChatMessage.h"

namespace vqa::ui {

bool ChatMessage::hasAttention() const {
    for (const auto& t : tokens)
        if (!t.attention.empty())
            return true;
    return false;
}

std::vector<std::pair<int, int>> ChatMessage::words() const {
    std::vector<std::pair<int, int>> out;
    const int n = int(tokens.size());
    int begin = 0;
    for (int i = 1; i <= n; ++i) {
        bool split = i == n;
        if (!split) {
            const auto& prev = tokens[i - 1];
            const auto& cur = tokens[i];
            const bool prev_ends_space = prev.end > prev.start && text.at(prev.end - 1).isSpace();
            const bool cur_starts_space = cur.end > cur.start && text.at(cur.start).isSpace();
            const bool cur_punct = cur.end > cur.start && text.at(cur.start).isPunct() && cur.end - cur.start == 1;
            split = prev_ends_space || cur_starts_space || cur_punct;
        }
        if (split) {
            out.emplace_back(begin, i);
            begin = i;
        }
    }
    return out;
}

std::pair<int, int> ChatMessage::wordOfToken(int token) const {
    for (const auto& w : words())
        if (token >= w.first && token < w.second)
            return w;
    return {token, token + 1};
}

Conversation toConversation(const std::vector<ChatMessage>& messages, size_t end, bool with_image) {
    Conversation conversation;
    bool image_placed = !with_image;
    for (size_t i = 0; i < end && i < messages.size(); ++i) {
        const ChatMessage& m = messages[i];
        if (m.role == Role::Assistant && (!m.error.isEmpty() || m.text.isEmpty()))
            continue;
        Turn turn;
        turn.role = m.role;
        if (m.role == Role::User && !image_placed) {
            turn.content.push_back({ContentPart::Kind::Image, {}});
            image_placed = true;
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

}  // namespace vqa::ui
