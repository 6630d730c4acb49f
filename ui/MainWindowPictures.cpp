// The window's wiring of a conversation's several pictures: the thumbnails of each question's
// pictures in the chat (with the shown word's share of attention on each), the picture on the
// canvas (the one clicked, else the one the word looked at most), the video's player strip with
// its timeline of the frames the model saw, files added to the conversation (Ctrl or Shift held
// while dropping, File ▸ Add Image or Video to Conversation…) and shown above the question box
// until they are asked about.
#include <QMimeData>

#include <algorithm>
#include <cmath>
#include <map>

#include "ui/ChatPanel.h"
#include "ui/ChatView.h"
#include "ui/ConversationController.h"
#include "ui/ExplanationController.h"
#include "ui/ImagePanel.h"
#include "ui/ImageSet.h"
#include "ui/MainWindow.h"
#include "ui/PendingPictures.h"
#include "ui/VideoStrip.h"

namespace vqa::ui {

void MainWindow::connectPictures() {
    VideoStrip* strip = image_panel_->videoStrip();
    // The pictures that go with the next question, above the question box.
    const auto showPending = [this] {
        const std::shared_ptr<ImageSession> s = images_->current();
        chat_panel_->pending()->setPictures(s ? s->nextPictures() : std::vector<MessagePicture>{},
                                            s ? s->pictureCount() : 0, s && !s->messages.empty());
    };
    connect(images_, &ImageSet::picturesAdded, this, showPending);
    connect(images_, &ImageSet::currentChanged, this, showPending);
    connect(conversation_, &ConversationController::answerStarted, this, showPending);
    connect(conversation_, &ConversationController::cleared, this, showPending);
    connect(chat_panel_->pending(), &PendingPictures::pictureClicked, explanation_,
            [this](int picture) { explanation_->choosePicture(picture); });
    connect(images_, &ImageSet::picturesAdded, this, [this](int index) {
        if (index != images_->currentIndex())
            return;
        chatView()->setPicturesShown(true);
        updateModelLabels();  // "about a.png and 2 more"
        explanation_->update();  // the canvas shows what came
        updateActions();
    });
    connect(images_, &ImageSet::currentChanged, this, [this] {
        const std::shared_ptr<ImageSession> s = images_->current();
        chatView()->setPicturesShown(s && (s->pictureCount() > 1 || s->videoCount() > 0));
        seeked_session_ = nullptr;
        if (s)
            showPictures(explanation_->view());
    });
    connect(explanation_, &ExplanationController::viewChanged, this, &MainWindow::showPictures);
    connect(chatView(), &ChatView::pictureClicked, this, [this](int picture) {
        const std::shared_ptr<ImageSession> s = images_->current();
        if (!s)
            return;
        // The chosen picture clicked again: the shown word chooses again.
        explanation_->choosePicture(s->chosen_by_user && s->chosen == picture ? -1 : picture);
    });
    connect(strip, &VideoStrip::timeClicked, this, [this](double seconds) {
        // The frame the model saw nearest the time clicked.
        const HeatmapView& view = explanation_->view();
        const PictureShare* best = nullptr;
        for (const PictureShare& share : view.shares)
            if (share.picture == view.picture && share.frame >= 0 &&
                (!best || std::abs(share.time_s - seconds) < std::abs(best->time_s - seconds)))
                best = &share;
        if (best)
            explanation_->choosePicture(view.picture, best->frame);
    });
}

void MainWindow::showPictures(const HeatmapView& view) {
    const std::shared_ptr<ImageSession> s = images_->current();
    if (!s)
        return;
    const LoadedImage& picture = s->picture(view.picture);
    if (image_panel_->shownKey() != picture.key) {  // another picture takes the canvas
        image_panel_->showPicture(picture);
        image_panel_->showHeatmap(view);
    }

    // The chat's thumbnails: the word's share per picture (a video's frames summed).
    std::map<int, float> per_picture;
    for (const PictureShare& share : view.shares)
        per_picture[share.picture] += share.share;
    chatView()->setPictureShares(per_picture, s->pictureCount() > 1 ? view.picture : -1);

    if (!picture.video || !picture.missing.isEmpty())
        return;
    // The timeline: the frames the model saw (the latest answer about this video says which),
    // as tall as the word's share on each.
    std::vector<TimelineBar::Mark> marks;
    for (const PictureShare& share : view.shares)
        if (share.picture == view.picture && share.frame >= 0)
            marks.push_back({share.time_s, share.share});
    if (marks.empty()) {
        for (int m = int(s->messages.size()) - 1; m >= 0 && marks.empty(); --m) {
            const ChatMessage& answer = s->messages[size_t(m)];
            if (answer.role != Role::Assistant || answer.video_frames.empty())
                continue;
            std::vector<int> videos;
            for (const MessagePicture& p : picturesInOrder(s->messages, size_t(m), true))
                if (p.video)
                    videos.push_back(p.picture);
            for (const VideoFrames& frames : answer.video_frames)
                if (frames.video >= 0 && frames.video < int(videos.size()) && videos[size_t(frames.video)] == view.picture)
                    for (double t : frames.times_s)
                        marks.push_back({t, 0.0f});
        }
    }
    image_panel_->videoStrip()->setMarks(marks);
    // The frame the overlay lies on: the strip goes there (once per frame chosen, so playing on
    // is not pulled back at every update).
    if (view.frame >= 0 && (seeked_session_ != s.get() || seeked_picture_ != view.picture || seeked_frame_ != view.frame)) {
        seeked_session_ = s.get();
        seeked_picture_ = view.picture;
        seeked_frame_ = view.frame;
        image_panel_->videoStrip()->setPlaying(false);
        image_panel_->videoStrip()->seekTime(view.frame_time_s);
    }
}

void MainWindow::dropPictures(const QMimeData* mime, Qt::KeyboardModifiers modifiers) {
    if (modifiers & (Qt::ControlModifier | Qt::ShiftModifier))
        images_->addFromMime(mime);  // into the conversation on screen
    else
        images_->openFromMime(mime);
}

}  // namespace vqa::ui
