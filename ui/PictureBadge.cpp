#include "ui/PictureBadge.h"

#include <QPainter>
#include <QPainterPath>

#include <algorithm>

namespace vqa::ui {

QImage pictureBadge(const MessagePicture& picture, float share, bool chosen, int side) {
    constexpr int kBar = 7;
    QImage thumb = picture.thumbnail.isNull() ? QImage(side, side, QImage::Format_RGB32)
                                              : picture.thumbnail.scaled(side, side, Qt::KeepAspectRatio,
                                                                         Qt::SmoothTransformation);
    if (picture.thumbnail.isNull())
        thumb.fill(QColor(128, 128, 128));
    QImage out(thumb.width() + 4, thumb.height() + 4 + kBar + 2, QImage::Format_ARGB32_Premultiplied);
    out.fill(Qt::transparent);
    QPainter p(&out);
    p.setRenderHint(QPainter::Antialiasing);
    p.drawImage(2, 2, thumb);
    if (chosen) {
        p.setPen(QPen(QColor(40, 120, 230), 2));
        p.setBrush(Qt::NoBrush);
        p.drawRect(QRectF(1, 1, thumb.width() + 2, thumb.height() + 2));
    }
    if (picture.video) {  // a play mark in the corner
        QPainterPath tri;
        const QPointF o(8, 8);
        tri.moveTo(o);
        tri.lineTo(o + QPointF(0, 12));
        tri.lineTo(o + QPointF(10, 6));
        tri.closeSubpath();
        p.setPen(QPen(QColor(0, 0, 0, 160), 1));
        p.setBrush(QColor(255, 255, 255, 230));
        p.drawPath(tri);
    }
    if (share >= 0) {  // the word's share of attention on this picture
        const QRectF track(2, thumb.height() + 5, thumb.width(), kBar);
        p.setPen(Qt::NoPen);
        p.setBrush(QColor(128, 128, 128, 90));
        p.drawRoundedRect(track, 2, 2);
        p.setBrush(QColor(235, 120, 30));
        p.drawRoundedRect(QRectF(track.left(), track.top(), track.width() * std::clamp(share, 0.0f, 1.0f),
                                 track.height()),
                          2, 2);
    }
    return out;
}

}  // namespace vqa::ui
