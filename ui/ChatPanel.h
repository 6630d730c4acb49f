// The window's right side once a model is there: a header naming the model and the image,
// the conversation (ChatView), the chat's buttons, the pictures that go with the next question
// (PendingPictures), and the question box with its send button (which stops the answer while
// one streams). The window connects its requests to the
// conversation and tells it what is possible now.
#pragma once

#include <QWidget>

class QLabel;
class QMimeData;
class QPushButton;

namespace vqa::ui {

class ChatView;
class PendingPictures;
class QuestionEdit;

class ChatPanel : public QWidget {
    Q_OBJECT
public:
    // What the buttons offer now.
    struct State {
        bool has_image = false;
        bool busy = false;  // an answer streams: send stops it
        bool can_ask = false;
        bool can_regenerate = false;
        bool can_clear = false;
        bool can_copy = false;
    };

    explicit ChatPanel(QWidget* parent = nullptr);

    ChatView* chat() const { return chat_; }
    QuestionEdit* question() const { return question_; }
    PendingPictures* pending() const { return pending_; }
    void setHeader(const QString& text, const QString& tooltip);
    void setState(const State& state);

signals:
    void sendRequested();  // Enter in the question box, or the send button
    void describeRequested();
    void regenerateRequested();
    void newRequested();
    void copyRequested();

private:
    QLabel* header_;
    ChatView* chat_;
    PendingPictures* pending_;
    QuestionEdit* question_;
    QPushButton* send_;
    QPushButton* describe_;
    QPushButton* regenerate_;
    QPushButton* new_;
    QPushButton* copy_;
};

}  // namespace vqa::ui
