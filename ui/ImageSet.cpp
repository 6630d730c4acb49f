#include "ui/ImageSet.h"

#include <QClipboard>
#include <QFileInfo>
#include <QGuiApplication>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QSettings>

#include <algorithm>

namespace vqa::ui {

int ImageSession::imageCount() const {
    int n = 0;
    for (int i = 0; i < pictureCount(); ++i)
        n += picture(i).video ? 0 : 1;
    return n;
}

int ImageSession::videoCount() const { return pictureCount() - imageCount(); }

std::vector<MessagePicture> ImageSession::unsentPictures() const {
    std::vector<MessagePicture> out;
    for (int i : unsent) {
        const LoadedImage& p = picture(i);
        out.push_back({i, p.video, p.name, p.thumbnail});
    }
    return out;
}

std::vector<MessagePicture> ImageSession::nextPictures() const {
    const std::vector<MessagePicture> before = picturesInOrder(messages, messages.size(), true);
    std::vector<MessagePicture> out;
    for (const MessagePicture& p : unsentPictures())
        if (std::none_of(before.begin(), before.end(), [&](const MessagePicture& b) { return b.picture == p.picture; }))
            out.push_back(p);
    return out;
}

const LoadedImage* ImageSession::missingPicture() const {
    for (int i = 0; i < pictureCount(); ++i)
        if (!picture(i).missing.isEmpty())
            return &picture(i);
    return nullptr;
}

ImageSet::ImageSet(QObject* parent) : QObject(parent), loader_(new ImageLoader(this)) {
    connect(loader_, &ImageLoader::loaded, this, &ImageSet::onLoaded);
    connect(loader_, &ImageLoader::failedInGroup, this,
            [this](quint64 group, int slot, const QString&, const QString& message) {
                groupItemDone(group, slot, std::nullopt, message);
            });
    connect(loader_, &ImageLoader::failed, this, [this](const QString&, const QString& message) {
        emit error(tr("Could not open the image"), message);
        emit failed(message);
    });
}

std::shared_ptr<ImageSession> ImageSet::at(int index) const {
    return index >= 0 && index < count() ? sessions_[size_t(index)] : nullptr;
}

std::shared_ptr<ImageSession> ImageSet::find(const ImageSession* session) const {
    for (const auto& s : sessions_)
        if (s.get() == session)
            return s;
    return nullptr;
}

void ImageSet::open(const QString& path) {
    ImageSource source;
    source.path = path;
    source.name = QFileInfo(path).fileName();
    emit status(tr("Opening %1…").arg(source.name));
    loader_->load(source);
}

void ImageSet::add(const QImage& image, const QString& name) {
    ImageSource source;
    source.image = image;
    source.name = name;
    loader_->load(source);
}

bool ImageSet::openFromMime(const QMimeData* mime) {
    QString problem;
    const std::vector<ImageSource> sources = ImageLoader::sourcesFromMime(mime, &problem);
    if (sources.empty()) {
        const QList<QUrl> web = ImageLoader::webImageUrls(mime);
        for (const QUrl& url : web)
            fetch(url);
        if (!web.isEmpty())
            return true;
        emit error(tr("No image there"), problem);
        emit failed(problem);
        return false;
    }
    if (sources.size() > 1) {  // several files: one conversation about them all
        loadGroup(sources, nullptr);
        return true;
    }
    for (const ImageSource& s : sources) {
        emit status(tr("Opening %1…").arg(s.name));
        loader_->load(s);
    }
    return true;
}

namespace {

std::vector<ImageSource> fileSources(const QStringList& paths) {
    std::vector<ImageSource> out;
    for (const QString& path : paths) {
        ImageSource s;
        s.path = path;
        s.name = QFileInfo(path).fileName();
        out.push_back(s);
    }
    return out;
}

}  // namespace

void ImageSet::openMany(const QStringList& paths) {
    if (paths.size() == 1)
        open(paths.first());
    else if (!paths.isEmpty())
        loadGroup(fileSources(paths), nullptr);
}

void ImageSet::addToCurrent(const QStringList& paths) {
    if (paths.isEmpty())
        return;
    if (!current())
        openMany(paths);
    else
        loadGroup(fileSources(paths), current());
}

bool ImageSet::addFromMime(const QMimeData* mime) {
    if (!current())
        return openFromMime(mime);
    QString problem;
    const std::vector<ImageSource> sources = ImageLoader::sourcesFromMime(mime, &problem);
    if (sources.empty()) {
        emit error(tr("No image there"), problem);
        emit failed(problem);
        return false;
    }
    loadGroup(sources, current());
    return true;
}

void ImageSet::loadGroup(std::vector<ImageSource> sources, const std::shared_ptr<ImageSession>& target) {
    const quint64 id = ++next_group_;
    Group& g = groups_[id];
    g.add = target != nullptr;
    g.target = target;
    g.items.resize(sources.size());
    g.left = int(sources.size());
    emit status(sources.size() == 1 ? tr("Opening %1…").arg(sources.front().name)
                                    : tr("Opening %1 files…").arg(sources.size()));
    for (size_t i = 0; i < sources.size(); ++i) {
        sources[i].group = id;
        sources[i].slot = int(i);
        loader_->load(sources[i]);
    }
}

void ImageSet::groupItemDone(quint64 group, int slot, std::optional<LoadedImage> image, const QString& error) {
    auto it = groups_.find(group);
    if (it == groups_.end() || slot < 0 || slot >= int(it->second.items.size()))
        return;
    if (image)
        it->second.items[size_t(slot)] = std::move(image);
    else
        it->second.errors << error;
    if (--it->second.left == 0)
        finishGroup(group);
}

void ImageSet::finishGroup(quint64 id) {
    Group g = std::move(groups_[id]);
    groups_.erase(id);
    std::shared_ptr<ImageSession> target = g.add ? g.target.lock() : nullptr;
    if (g.add && !target) {  // its conversation was closed meanwhile
        emit status(tr("The conversation those files were for was closed."));
        return;
    }
    int images = target ? target->imageCount() : 0, videos = target ? target->videoCount() : 0;
    std::vector<LoadedImage> accepted;
    QStringList left_out;
    for (auto& item : g.items) {
        if (!item)
            continue;
        int& n = item->video ? videos : images;
        if (n >= (item->video ? kMaxVideos : kMaxImages)) {
            left_out << item->name;
            continue;
        }
        ++n;
        accepted.push_back(std::move(*item));
    }
    QStringList notes;
    if (!left_out.isEmpty())
        notes << tr("Left out %1: a conversation holds at most %2 images and %3 videos.")
                     .arg(left_out.join(QStringLiteral(", ")))
                     .arg(kMaxImages)
                     .arg(kMaxVideos);
    if (!g.errors.isEmpty())
        notes << tr("Could not open: %1").arg(g.errors.join(QStringLiteral("; ")));
    if (accepted.empty()) {
        const QString problem = notes.join(QLatin1Char(' '));
        emit status(problem);
        if (!g.errors.isEmpty())
            emit error(tr("Could not open the image"), problem);
        emit failed(problem);
        return;
    }
    const int count_accepted = int(accepted.size());
    if (target) {
        const int index = int(std::find(sessions_.begin(), sessions_.end(), target) - sessions_.begin());
        for (LoadedImage& image : accepted) {
            target->attachments.push_back(std::move(image));
            target->unsent.push_back(target->pictureCount() - 1);
        }
        target->chosen = target->pictureCount() - 1;  // the canvas shows what just came
        target->chosen_frame = -1;
        target->chosen_by_user = true;
        QStringList names;
        for (int i = target->pictureCount() - count_accepted; i < target->pictureCount(); ++i)
            names << target->picture(i).name;
        notes.prepend((count_accepted == 1 ? tr("Added %1: it goes with your next question.")
                                           : tr("Added %1: they go with your next question."))
                          .arg(names.join(QStringLiteral(", "))));
        emit status(notes.join(QLatin1Char(' ')));
        emit picturesAdded(index);
        return;
    }
    auto session = std::make_shared<ImageSession>();
    session->image = std::move(accepted.front());
    for (size_t i = 1; i < accepted.size(); ++i)
        session->attachments.push_back(std::move(accepted[i]));
    session->unsent.clear();
    for (int i = 0; i < session->pictureCount(); ++i)
        session->unsent.push_back(i);
    notes.prepend(tr("Opened %1 pictures in one conversation: ask about them together.").arg(count_accepted));
    insertSession(session);
    emit status(notes.join(QLatin1Char(' ')));
    emit added(count() - 1);
}

int ImageSet::insert(const std::shared_ptr<ImageSession>& session) {
    insertSession(session);
    emit added(count() - 1);
    return count() - 1;
}

void ImageSet::insertSession(const std::shared_ptr<ImageSession>& session) {
    sessions_.push_back(session);
    const int index = count() - 1;
    emit inserted(index);
    if (!session->image.path.isEmpty() && session->image.missing.isEmpty()) {
        addRecent(session->image.path);
        QSettings().setValue("images/lastDir", QFileInfo(session->image.path).absolutePath());
    }
    setCurrent(index);
}

// The browser had the image but gave only its address: fetch it (asynchronously, bounded in
// size and time), then decode it like dropped bytes.
void ImageSet::fetch(const QUrl& url) {
    constexpr qint64 kMaxBytes = 200ll << 20;
    if (!network_)
        network_ = new QNetworkAccessManager(this);
    QNetworkRequest request(url);
    request.setTransferTimeout(30000);
    request.setHeader(QNetworkRequest::UserAgentHeader, QStringLiteral("VQA Studio"));
    QNetworkReply* reply = network_->get(request);
    emit status(tr("Fetching %1…").arg(url.toDisplayString()));
    connect(reply, &QNetworkReply::downloadProgress, reply, [reply](qint64 received, qint64) {
        if (received > kMaxBytes)
            reply->abort();
    });
    connect(reply, &QNetworkReply::finished, this, [this, reply, url] {
        reply->deleteLater();
        const int code = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        if (reply->error() != QNetworkReply::NoError || reply->bytesAvailable() > kMaxBytes) {
            const QString why =
                reply->bytesAvailable() > kMaxBytes || reply->error() == QNetworkReply::OperationCanceledError
                    ? tr("it is larger than %1 MB").arg(kMaxBytes >> 20)
                : code > 0 ? tr("the server answered %1 %2")
                                 .arg(code)
                                 .arg(reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString())
                           : reply->errorString();
            const QString problem = tr("Could not fetch the image at %1: %2. Save it from the browser and drop "
                                       "the file, or copy the image and paste it here with Ctrl+V.")
                                        .arg(url.toDisplayString(), why);
            emit status(problem);
            emit error(tr("Could not fetch the image"), problem);
            emit failed(problem);
            return;
        }
        ImageSource source;
        source.bytes = reply->readAll();
        source.name = QFileInfo(url.path()).fileName();
        if (source.name.isEmpty())
            source.name = url.host();
        emit status(tr("Opening %1…").arg(source.name));
        loader_->load(source);
    });
}

void ImageSet::paste() { openFromMime(QGuiApplication::clipboard()->mimeData()); }

void ImageSet::onLoaded(const LoadedImage& image) {
    if (image.group != 0) {
        groupItemDone(image.group, image.slot, image, {});
        return;
    }
    // The same pixels again: switch to them instead of opening a second copy.
    for (size_t i = 0; i < sessions_.size(); ++i) {
        if (sessions_[i]->image.key == image.key) {
            setCurrent(int(i));
            emit status(tr("%1 is already open.").arg(image.name));
            emit added(int(i));
            return;
        }
    }
    auto session = std::make_shared<ImageSession>();
    session->image = image;
    insertSession(session);
    const int index = count() - 1;
    emit status(tr("Opened %1 (%2 × %3).")
                    .arg(image.name)
                    .arg(image.original_size.width())
                    .arg(image.original_size.height()));
    emit added(index);
}

void ImageSet::setCurrent(int index) {
    if (index < 0 || index >= count())
        return;
    current_ = index;
    emit currentChanged(index);
}

void ImageSet::close(int index) {
    if (index < 0 || index >= count())
        return;
    // Alive until everyone told below has let go of it (the chat view reads its messages until
    // the current image changes).
    const std::shared_ptr<ImageSession> closing = sessions_[size_t(index)];
    sessions_.erase(sessions_.begin() + index);
    // Told while current_ still names the closed image: a thumbnail strip that moves its own
    // selection meanwhile is not asking for another image.
    emit removed(index);
    current_ = -1;
    if (sessions_.empty())
        emit currentChanged(-1);
    else
        setCurrent(std::min(index, count() - 1));
}

QStringList ImageSet::recent() const { return QSettings().value("images/recent").toStringList(); }

void ImageSet::clearRecent() { QSettings().remove("images/recent"); }

QString ImageSet::lastDir() const { return QSettings().value("images/lastDir").toString(); }

void ImageSet::addRecent(const QString& path) {
    QStringList list = recent();
    const QString abs = QFileInfo(path).absoluteFilePath();
    list.removeAll(abs);
    list.prepend(abs);
    while (list.size() > kMaxRecent)
        list.removeLast();
    QSettings().setValue("images/recent", list);
}

}  // namespace vqa::ui
