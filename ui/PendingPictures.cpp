#include "ui/PendingPictures.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QToolButton>

#include "ui/PictureBadge.h"

namespace vqa::ui {

PendingPictures::PendingPictures(QWidget* parent) : QWidget(parent), caption_(new QLabel), row_(new QHBoxLayout) {
    caption_->setText(tr("With your next question:"));
    caption_->setEnabled(false);  // muted, as the chat's notes
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    layout->addWidget(caption_);
    row_->setContentsMargins(0, 0, 0, 0);
    row_->setSpacing(4);
    row_->addStretch(1);
    layout->addLayout(row_);
    setAccessibleName(tr("Pictures for the next question"));
    hide();
}

void PendingPictures::setPictures(const std::vector<MessagePicture>& pictures, int picture_count, bool asked) {
    std::vector<MessagePicture> shown = asked || picture_count > 1 ? pictures : std::vector<MessagePicture>{};
    auto same = [&] {
        if (shown.size() != pictures_.size())
            return false;
        for (size_t i = 0; i < shown.size(); ++i)
            if (shown[i].picture != pictures_[i].picture || shown[i].thumbnail.cacheKey() != pictures_[i].thumbnail.cacheKey())
                return false;
        return true;
    };
    if (same())
        return;
    pictures_ = std::move(shown);
    while (row_->count() > 1)  // all but the stretch at the end
        delete row_->takeAt(0)->widget();
    for (size_t i = 0; i < pictures_.size(); ++i) {
        const MessagePicture& p = pictures_[i];
        auto* button = new QToolButton;
        const QImage badge = pictureBadge(p, -1.0f, false, 48);
        button->setIcon(QIcon(QPixmap::fromImage(badge)));
        button->setIconSize(badge.size());
        button->setAutoRaise(true);
        button->setToolTip(p.video ? tr("%1 (video): goes with your next question; click to show it").arg(p.name)
                                   : tr("%1: goes with your next question; click to show it").arg(p.name));
        button->setAccessibleName(p.name);
        const int picture = p.picture;
        connect(button, &QToolButton::clicked, this, [this, picture] { emit pictureClicked(picture); });
        row_->insertWidget(int(i), button);
    }
    setVisible(!pictures_.empty());
}

std::vector<int> PendingPictures::shown() const {
    std::vector<int> out;
    for (const MessagePicture& p : pictures_)
        out.push_back(p.picture);
    return out;
}

}  // namespace vqa::ui
