// Decodes images off the GUI thread (QThreadPool): files, encoded bytes dragged from a
// browser, or pixels from the clipboard; of a video file, its first frame. Files and bytes go through the engine's decoder
// (engine/vision/ImageIO, as the CLI reads them); the display copy shows those pixels (a
// transparent picture over white, as the model sees it). Produces what the window needs: a
// display copy, a thumbnail, and the RGB pixels plus a content key for the engine.
#pragma once

#include <QByteArray>
#include <QImage>
#include <QObject>
#include <QList>
#include <QString>
#include <QUrl>
#include <QThreadPool>

#include <memory>
#include <vector>

#include "engine/Types.h"
#include "engine/explain/Heatmap.h"

class QMimeData;

namespace vqa::ui {

// Where an image comes from; exactly one of path, bytes, image is set.
struct ImageSource {
    QString name;
    QString path;
    QByteArray bytes;
    QImage image;
    // Several files opened together (ImageSet's groups): which group and which place in it;
    // group 0 is a file on its own.
    quint64 group = 0;
    int slot = 0;
};

struct LoadedImage {
    QString name;
    QString path;                 // empty for pasted or dropped data
    QImage display;               // at most kMaxDisplaySide on the longer side
    QSize original_size;
    QImage thumbnail;
    std::shared_ptr<const RgbImage> rgb;
    QString key;                  // content hash: same pixels, same key
    // A video file (engine/vision/VideoFile.h, by its extension): `display`, `thumbnail` and
    // `rgb` are its first frame; the engine reads the file itself (Request::videos).
    bool video = false;
    double fps = 0;
    qint64 frame_count = 0;
    double duration_s = 0;
    quint64 group = 0;  // as ImageSource's
    int slot = 0;
    // Non-empty: a picture of a conversation reopened from the library whose file could not be
    // read back as it was (gone, no longer a picture, or other pixels since), and why.
    // `display` and `thumbnail` are then a placeholder that says so, `rgb` is null: the
    // conversation can be read, not continued.
    QString missing;
};

class ImageLoader : public QObject {
    Q_OBJECT
public:
    static constexpr int kMaxDisplaySide = 4096;
    static constexpr int kThumbnailSide = 96;

    explicit ImageLoader(QObject* parent = nullptr);
    ~ImageLoader() override;  // waits for running decodes

    void load(const ImageSource& source);
    int pending() const { return pending_; }

    // The image sources in dropped or pasted data; `problem` says why there are none.
    static std::vector<ImageSource> sourcesFromMime(const QMimeData* mime, QString* problem = nullptr);
    // The web addresses (http, https) of images in dropped data that holds no image itself:
    // a browser often hands over only the image's address, or HTML with an <img>.
    static QList<QUrl> webImageUrls(const QMimeData* mime);
    // Synchronous decode (runs in the pool); throws nothing, returns an error message instead.
    static LoadedImage decode(const ImageSource& source, QString* error);
    // 8-bit RGB for the engine; transparent pixels are composed over white.
    static RgbImage toRgb(const QImage& image);
    // The engine's RGB as a QImage (Format_RGB32).
    static QImage fromRgb(const RgbImage& rgb);
    // The engine's heatmap overlays (RGBA, not premultiplied) and Qt's (Format_ARGB32).
    static RgbaImage toRgba(const QImage& image);
    static QImage fromRgba(const RgbaImage& rgba);

signals:
    void loaded(const vqa::ui::LoadedImage& image);
    void failed(const QString& name, const QString& error);  // group 0 only
    // A file of a group (ImageSource::group) could not be read.
    void failedInGroup(quint64 group, int slot, const QString& name, const QString& error);

private:
    QThreadPool pool_;
    int pending_ = 0;
};

}  // namespace vqa::ui
