#include "ui/ImageLoader.h"

#include <QRegularExpression>

#include <QBuffer>
#include <QCryptographicHash>
#include <QFileInfo>
#include <QMimeData>
#include <QPainter>
#include <QPointer>
#include <QRunnable>
#include <QUrl>

#include <cstring>
#include <exception>
#include <stdexcept>

#include "engine/vision/ImageIO.h"
#include "engine/vision/VideoFile.h"

namespace vqa::ui {
namespace {

// The rows of `src` (8-bit samples, `channels` a pixel, as the engine packs them) without
// the padding QImage keeps at their ends.
template <class Packed>
Packed packedPixels(const QImage& src, int channels) {
    Packed out;
    out.width = src.width();
    out.height = src.height();
    const size_t row = size_t(out.width) * size_t(channels);
    out.pixels.resize(row * size_t(out.height));
    for (int y = 0; y < out.height; ++y)
        std::memcpy(out.pixels.data() + row * y, src.constScanLine(y), row);
    return out;
}

}  // namespace

ImageLoader::ImageLoader(QObject* parent) : QObject(parent) { pool_.setMaxThreadCount(2); }

ImageLoader::~ImageLoader() { pool_.waitForDone(); }

void ImageLoader::load(const ImageSource& source) {
    ++pending_;
    // The pool is ours and waited for in the destructor, so `this` outlives the job.
    pool_.start([this, source] {
        QString error;
        LoadedImage result = decode(source, &error);
        QMetaObject::invokeMethod(
            this,
            [this, result = std::move(result), error, name = source.name, group = source.group,
             slot = source.slot] {
                --pending_;
                if (error.isEmpty())
                    emit loaded(result);
                else if (group != 0)
                    emit failedInGroup(group, slot, name, error);
                else
                    emit failed(name, error);
            },
            Qt::QueuedConnection);
    });
}

std::vector<ImageSource> ImageLoader::sourcesFromMime(const QMimeData* mime, QString* problem) {
    std::vector<ImageSource> out;
    if (!mime)
        return out;
    QStringList remote;
    if (mime->hasUrls()) {
        for (const QUrl& url : mime->urls()) {
            if (url.isLocalFile()) {
                ImageSource s;
                s.path = url.toLocalFile();
                s.name = QFileInfo(s.path).fileName();
                out.push_back(s);
            } else if (url.scheme() == QLatin1String("data")) {
                // data:image/png;base64,…  (browsers use these for inline images)
                const QString spec = url.toString(QUrl::FullyEncoded);
                const int comma = int(spec.indexOf(','));
                if (comma > 0 && spec.left(comma).contains(QLatin1String(";base64"))) {
                    ImageSource s;
                    s.bytes = QByteArray::fromBase64(QUrl::fromPercentEncoding(spec.mid(comma + 1).toLatin1()).toLatin1());
                    s.name = QObject::tr("dropped image");
                    out.push_back(s);
                }
            } else if (url.isValid()) {
                remote << url.toString();
            }
        }
    }
    if (!out.empty())
        return out;
    // Browsers hand over the pixels (application/x-qt-image) or the encoded file.
    if (mime->hasImage()) {
        QImage image = qvariant_cast<QImage>(mime->imageData());
        if (!image.isNull()) {
            ImageSource s;
            s.image = image;
            s.name = remote.isEmpty() ? QObject::tr("pasted image") : QFileInfo(QUrl(remote.first()).path()).fileName();
            if (s.name.isEmpty())
                s.name = QObject::tr("dropped image");
            out.push_back(s);
            return out;
        }
    }
    for (const QString& format : mime->formats()) {
        if (format.startsWith("image/")) {
            ImageSource s;
            s.bytes = mime->data(format);
            s.name = QObject::tr("dropped image");
            if (!s.bytes.isEmpty()) {
                out.push_back(s);
                return out;
            }
        }
    }
    if (problem) {
        if (!remote.isEmpty())
            *problem = QObject::tr("only an address VQA Studio cannot fetch was dropped (%1): save the "
                                   "image first, or copy it and paste it here with Ctrl+V.").arg(remote.first());
        else
            *problem = QObject::tr("the dropped or pasted data holds no image (formats: %1)")
                           .arg(mime->formats().join(", "));
    }
    return out;
}

QList<QUrl> ImageLoader::webImageUrls(const QMimeData* mime) {
    QList<QUrl> out;
    if (!mime)
        return out;
    auto web = [](const QUrl& u) { return u.isValid() && (u.scheme() == "http" || u.scheme() == "https"); };
    for (const QUrl& url : mime->urls())
        if (web(url))
            out << url;
    if (out.isEmpty() && mime->hasHtml()) {
        static const QRegularExpression img(QStringLiteral("<img\\b[^>]*\\bsrc\\s*=\\s*[\"']([^\"']+)[\"']"),
                                            QRegularExpression::CaseInsensitiveOption);
        const QRegularExpressionMatch m = img.match(mime->html());
        if (m.hasMatch()) {
            const QUrl url(m.captured(1).replace(QLatin1String("&amp;"), QLatin1String("&")));
            if (web(url))
                out << url;
        }
    }
    return out;
}

RgbImage ImageLoader::toRgb(const QImage& image) {
    if (image.isNull())
        return {};
    QImage src;
    if (image.hasAlphaChannel()) {
        src = QImage(image.size(), QImage::Format_RGB888);
        src.fill(Qt::white);
        QPainter painter(&src);
        painter.drawImage(0, 0, image);
    } else {
        src = image.convertToFormat(QImage::Format_RGB888);
    }
    return packedPixels<RgbImage>(src, 3);
}

RgbaImage ImageLoader::toRgba(const QImage& image) {
    if (image.isNull())
        return {};
    return packedPixels<RgbaImage>(image.convertToFormat(QImage::Format_RGBA8888), 4);
}

QImage ImageLoader::fromRgba(const RgbaImage& rgba) {
    if (rgba.empty())
        return {};
    QImage image(rgba.width, rgba.height, QImage::Format_RGBA8888);
    const size_t row = size_t(rgba.width) * 4;
    for (int y = 0; y < rgba.height; ++y)
        std::memcpy(image.scanLine(y), rgba.pixels.data() + row * y, row);
    return image.convertToFormat(QImage::Format_ARGB32);
}

QImage ImageLoader::fromRgb(const RgbImage& rgb) {
    if (rgb.empty())
        return {};
    QImage image(rgb.width, rgb.height, QImage::Format_RGB32);
    for (int y = 0; y < rgb.height; ++y) {
        const std::uint8_t* p = rgb.pixels.data() + size_t(y) * rgb.width * 3;
        auto* line = reinterpret_cast<QRgb*>(image.scanLine(y));
        for (int x = 0; x < rgb.width; ++x, p += 3)
            line[x] = qRgb(p[0], p[1], p[2]);
    }
    return image;
}

LoadedImage ImageLoader::decode(const ImageSource& source, QString* error) {
    LoadedImage out;
    out.name = source.name;
    out.path = source.path;
    out.group = source.group;
    out.slot = source.slot;
    QImage image = source.image;
    std::shared_ptr<RgbImage> rgb;
    if (image.isNull() && !source.path.isEmpty() && looksLikeVideoFile(source.path.toStdString())) {
        // A video: its first frame is its picture (the engine reads the file when asked).
        const std::string name = (source.name.isEmpty() ? source.path : source.name).toStdString();
        try {
            VideoFile file = VideoFile::open(source.path.toStdString(), name);
            const VideoInfo& info = file.info();
            std::vector<RgbImage> first = file.frames({0});
            if (first.empty())
                throw std::runtime_error(name + ": no frame could be read");
            rgb = std::make_shared<RgbImage>(std::move(first.front()));
            out.video = true;
            out.fps = info.fps;
            out.frame_count = info.frame_count;
            out.duration_s = info.duration_s;
        } catch (const std::exception& e) {
            *error = QString::fromStdString(e.what());
            return out;
        }
        image = fromRgb(*rgb);
    } else if (image.isNull()) {
        // Files and encoded bytes: the engine's decoder, as the CLI reads them (EXIF
        // orientation, alpha over white, GIF, the pixel limit checked from the header).
        const std::string name = (source.name.isEmpty() ? source.path : source.name).toStdString();
        try {
            rgb = std::make_shared<RgbImage>(
                !source.path.isEmpty()
                    ? decodeImageFile(source.path.toStdString(), name)
                    : decodeImageBytes(reinterpret_cast<const std::uint8_t*>(source.bytes.constData()),
                                       size_t(source.bytes.size()), name));
        } catch (const std::exception& e) {
            *error = QString::fromStdString(e.what());
            return out;
        }
        image = fromRgb(*rgb);
    } else {
        rgb = std::make_shared<RgbImage>(toRgb(image));  // pixels from the clipboard
    }
    out.original_size = image.size();
    QCryptographicHash hash(QCryptographicHash::Sha1);
    hash.addData(QByteArrayView(reinterpret_cast<const char*>(rgb->pixels.data()), qsizetype(rgb->pixels.size())));
    hash.addData(QByteArray::number(rgb->width) + "x" + QByteArray::number(rgb->height));
    if (out.video) {  // the first frame does not name a video: its length and file do too
        const QFileInfo file(source.path);
        hash.addData(QByteArray::number(out.frame_count) + "/" + QByteArray::number(file.size()) + "/" +
                     file.absoluteFilePath().toUtf8());
    }
    out.key = QString::fromLatin1(hash.result().toHex().left(16));
    out.rgb = std::move(rgb);
    const QSize limit(kMaxDisplaySide, kMaxDisplaySide);
    out.display = (image.width() > kMaxDisplaySide || image.height() > kMaxDisplaySide)
                      ? image.scaled(limit, Qt::KeepAspectRatio, Qt::SmoothTransformation)
                      : image;
    out.display = out.display.convertToFormat(out.display.hasAlphaChannel() ? QImage::Format_ARGB32_Premultiplied
                                                                            : QImage::Format_RGB32);
    out.thumbnail = out.display.scaled(kThumbnailSide * 2, kThumbnailSide * 2, Qt::KeepAspectRatio,
                                       Qt::SmoothTransformation);
    return out;
}

}  // namespace vqa::ui
