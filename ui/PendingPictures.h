// Above the question box: the pictures that go with the next question (ImageSession::unsent),
// added to a conversation but not yet asked about, as thumbnails (a video with its play mark);
// a click shows one on the canvas. Hidden when there are none, and for a lone picture no one
// has asked about yet (the canvas and the header show it already).
#pragma once

#include <QWidget>

#include <vector>

#include "ui/ChatMessage.h"

class QHBoxLayout;
class QLabel;

namespace vqa::ui {

class PendingPictures : public QWidget {
    Q_OBJECT
public:
    explicit PendingPictures(QWidget* parent = nullptr);

    // `pictures` go with the next question of a conversation holding `picture_count` pictures
    // and `asked` questions so far.
    void setPictures(const std::vector<MessagePicture>& pictures, int picture_count, bool asked);
    // The pictures shown (for tests): the session's picture index of each, in order.
    std::vector<int> shown() const;

signals:
    void pictureClicked(int picture);

private:
    QLabel* caption_;
    QHBoxLayout* row_;
    std::vector<MessagePicture> pictures_;
};

}  // namespace vqa::ui
