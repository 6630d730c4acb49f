// A video's frames for the player strip, decoded off the GUI thread (one pool thread of its
// own; engine/vision/VideoFile, torch-free). The latest request wins: frames asked for while
// one decodes are skipped but the last, so dragging the scrubber never queues work. Decoded
// frames are kept in a small cache (kCacheFrames, least recently used out); a frame in it comes
// back at once. Closing (or another video) cancels the decode in flight.
#pragma once

#include <QImage>
#include <QObject>
#include <QString>
#include <QThreadPool>

#include <list>
#include <map>
#include <memory>

namespace vqa::ui {

class VideoFrameReader : public QObject {
    Q_OBJECT
public:
    static constexpr int kCacheFrames = 48;
    static constexpr int kMaxSide = 1280;  // frames are scaled down to this for the screen

    explicit VideoFrameReader(QObject* parent = nullptr);
    ~VideoFrameReader() override;  // cancels and waits for the decode in flight

    // The video to read (empty: none); `name` names it in messages.
    void setVideo(const QString& path, const QString& name);
    QString path() const { return path_; }
    // Frame `frame` (clamped to the video): frameReady follows, now from the cache or later.
    void request(qint64 frame);
    bool isDecoding() const;
    int cachedFrames() const { return int(cache_.size()); }

signals:
    void frameReady(qint64 frame, const QImage& image);
    void failed(const QString& message);

private:
    struct Shared;
    void startJob();
    void deliver(quint64 generation, qint64 frame, const QImage& image, const QString& error);

    QString path_;
    std::shared_ptr<Shared> shared_;
    QThreadPool pool_;
    std::map<qint64, QImage> cache_;
    std::list<qint64> order_;  // most recent last
};

}  // namespace vqa::ui
