#include "ui/VideoFrameReader.h"

#include <QFileInfo>
#include <QMetaObject>

#include <atomic>
#include <exception>
#include <mutex>
#include <optional>

#include "engine/vision/VideoFile.h"
#include "ui/ImageLoader.h"

namespace vqa::ui {

// What the GUI thread and the decoding job share.
struct VideoFrameReader::Shared {
    std::mutex mutex;
    QString path, name;          // under mutex
    quint64 generation = 0;      // under mutex: a new video, a new generation
    qint64 wanted = -1;          // under mutex: the latest frame asked for, -1: none
    bool running = false;        // under mutex: a job is on the pool
    std::atomic<bool> cancel{false};
    // The job's own (one job at a time).
    std::optional<VideoFile> file;
    quint64 file_generation = 0;
};

VideoFrameReader::VideoFrameReader(QObject* parent) : QObject(parent), shared_(std::make_shared<Shared>()) {
    pool_.setMaxThreadCount(1);
}

VideoFrameReader::~VideoFrameReader() {
    shared_->cancel = true;
    {
        std::lock_guard lock(shared_->mutex);
        shared_->wanted = -1;
    }
    pool_.waitForDone();
}

void VideoFrameReader::setVideo(const QString& path, const QString& name) {
    if (path == path_)
        return;
    path_ = path;
    cache_.clear();
    order_.clear();
    std::lock_guard lock(shared_->mutex);
    shared_->path = path;
    shared_->name = name;
    ++shared_->generation;
    shared_->wanted = -1;
    shared_->cancel = true;  // the decode in flight is of the old video
}

bool VideoFrameReader::isDecoding() const {
    std::lock_guard lock(shared_->mutex);
    return shared_->running;
}

void VideoFrameReader::request(qint64 frame) {
    if (path_.isEmpty())
        return;
    frame = std::max<qint64>(0, frame);
    if (auto it = cache_.find(frame); it != cache_.end()) {
        order_.remove(frame);
        order_.push_back(frame);
        {
            std::lock_guard lock(shared_->mutex);
            shared_->wanted = -1;  // what was asked before is not wanted any more
        }
        emit frameReady(frame, it->second);
        return;
    }
    {
        std::lock_guard lock(shared_->mutex);
        shared_->wanted = frame;
        if (shared_->running)
            return;  // the job takes it when its frame is done
        shared_->running = true;
    }
    startJob();
}

void VideoFrameReader::startJob() {
    pool_.start([this, shared = shared_] {
        for (;;) {
            qint64 frame = -1;
            quint64 generation = 0;
            QString path, name;
            {
                std::lock_guard lock(shared->mutex);
                if (shared->wanted < 0) {
                    shared->running = false;
                    return;
                }
                frame = shared->wanted;
                shared->wanted = -1;
                generation = shared->generation;
                path = shared->path;
                name = shared->name;
                shared->cancel = false;
            }
            QImage image;
            QString error;
            try {
                if (!shared->file || shared->file_generation != generation) {
                    shared->file.reset();
                    shared->file = VideoFile::open(path.toStdString(), name.toStdString());
                    shared->file_generation = generation;
                }
                const qint64 last = std::max<qint64>(0, shared->file->info().frame_count - 1);
                frame = std::min(frame, last);
                std::vector<RgbImage> frames =
                    shared->file->frames({frame}, [&shared] { return shared->cancel.load(); });
                if (!frames.empty()) {
                    image = ImageLoader::fromRgb(frames.front());
                    if (image.width() > kMaxSide || image.height() > kMaxSide)
                        image = image.scaled(kMaxSide, kMaxSide, Qt::KeepAspectRatio, Qt::SmoothTransformation);
                }
            } catch (const std::exception& e) {
                error = QString::fromStdString(e.what());
                shared->file.reset();
            }
            if (image.isNull() && error.isEmpty())
                continue;  // cancelled
            // `this` outlives the job (the destructor waits); a call queued to a deleted
            // object is dropped.
            QMetaObject::invokeMethod(
                this, [this, generation, frame, image, error] { deliver(generation, frame, image, error); },
                Qt::QueuedConnection);
        }
    });
}

void VideoFrameReader::deliver(quint64 generation, qint64 frame, const QImage& image, const QString& error) {
    {
        std::lock_guard lock(shared_->mutex);
        if (generation != shared_->generation)
            return;  // of a video no longer shown
    }
    if (!error.isEmpty()) {
        emit failed(error);
        return;
    }
    cache_[frame] = image;
    order_.remove(frame);
    order_.push_back(frame);
    while (int(order_.size()) > kCacheFrames) {
        cache_.erase(order_.front());
        order_.pop_front();
    }
    emit frameReady(frame, image);
}

}  // namespace vqa::ui
