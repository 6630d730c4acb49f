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

ImageSet::ImageSet(QObject* parent) : QObject(parent), loader_(new ImageLoader(this)) {
    connect(loader_, &ImageLoader::loaded, this, &ImageSet::onLoaded);
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
    for (const ImageSource& s : sources) {
        emit status(tr("Opening %1…").arg(s.name));
        loader_->load(s);
    }
    return true;
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
    sessions_.push_back(session);
    const int index = count() - 1;
    emit inserted(index);
    if (!image.path.isEmpty()) {
        addRecent(image.path);
        QSettings().setValue("images/lastDir", QFileInfo(image.path).absolutePath());
    }
    setCurrent(index);
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
