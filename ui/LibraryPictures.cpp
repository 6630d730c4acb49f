#include "ui/LibraryPictures.h"

#include <QFileInfo>
#include <QMetaObject>
#include <QPainter>

#include <optional>

namespace vqa::ui {

LoadedImage missingPicture(const library::PictureRecord& kept, const QString& why, bool changed) {
    LoadedImage out;
    out.name = QString::fromStdString(kept.name);
    out.path = QString::fromStdString(kept.path);
    out.key = QString::fromStdString(kept.key);
    out.video = kept.video;
    out.missing = why;
    QImage image(480, 360, QImage::Format_RGB32);
    image.fill(QColor(96, 96, 100));
    {
        QPainter p(&image);
        p.setPen(QPen(QColor(200, 200, 205), 4, Qt::DashLine));
        p.drawRect(image.rect().adjusted(8, 8, -9, -9));
        QFont font = p.font();
        font.setPixelSize(28);
        p.setFont(font);
        p.setPen(Qt::white);
        p.drawText(image.rect().adjusted(24, 24, -24, -24), Qt::AlignCenter | Qt::TextWordWrap,
                   changed ? QObject::tr("%1\n%2 has changed since").arg(out.name, kept.video ? QObject::tr("This video")
                                                                                               : QObject::tr("This image"))
                           : QObject::tr("%1\n%2 is missing").arg(out.name, kept.video ? QObject::tr("This video")
                                                                                     : QObject::tr("This image")));
    }
    out.display = image;
    out.original_size = image.size();
    out.thumbnail = image.scaled(ImageLoader::kThumbnailSide * 2, ImageLoader::kThumbnailSide * 2, Qt::KeepAspectRatio,
                                 Qt::SmoothTransformation);
    return out;
}

LibraryPictures::LibraryPictures(QObject* parent) : QObject(parent) { pool_.setMaxThreadCount(1); }

LibraryPictures::~LibraryPictures() { pool_.waitForDone(); }

void LibraryPictures::load(quint64 request, const std::vector<library::PictureRecord>& pictures) {
    pool_.start([this, request, pictures] {
        // Decoded here; the placeholders (painted text) are made on the GUI thread.
        std::vector<std::optional<LoadedImage>> decoded;
        QStringList errors;
        std::vector<bool> changed;
        for (const library::PictureRecord& kept : pictures) {
            const QString path = QString::fromStdString(kept.path);
            QString error;
            changed.push_back(false);
            if (!QFileInfo::exists(path)) {
                decoded.emplace_back();
                errors << tr("it is no longer at %1").arg(path);
                continue;
            }
            ImageSource source;
            source.path = path;
            source.name = QString::fromStdString(kept.name);
            LoadedImage image = ImageLoader::decode(source, &error);
            if (!error.isEmpty() || (kept.video && !image.video)) {
                decoded.emplace_back();
                errors << (error.isEmpty() ? tr("%1 is no longer a video").arg(path) : error);
                continue;
            }
            // Kept before the content key was (schema 3): nothing to compare with.
            if (!kept.key.empty() && image.key.toStdString() != kept.key) {
                decoded.emplace_back();
                changed.back() = true;
                errors << tr("%1 holds other pixels than the ones asked about").arg(path);
                continue;
            }
            decoded.emplace_back(std::move(image));
            errors << QString();
        }
        QMetaObject::invokeMethod(
            this,
            [this, request, pictures, decoded = std::move(decoded), errors, changed] {
                std::vector<LoadedImage> out;
                for (size_t i = 0; i < pictures.size(); ++i)
                    out.push_back(decoded[i] ? *decoded[i] : missingPicture(pictures[i], errors[int(i)], changed[i]));
                emit loaded(request, out);
            },
            Qt::QueuedConnection);
    });
}

}  // namespace vqa::ui
