#include "ui/LibraryStore.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QImageReader>
#include <QMetaObject>
#include <QSaveFile>

#include <filesystem>

#include "engine/hub/Checksum.h"
#include "models/base/Error.h"

namespace vqa::ui {

namespace {

// A conversation's first title: its first question, on one line, not too long.
QString titleFrom(const std::vector<library::Message>& messages) {
    for (const auto& m : messages)
        if (m.role == "user") {
            QString t = QString::fromStdString(m.text).simplified();
            if (t.size() > 60)
                t = t.left(57) + QStringLiteral("…");
            return t.isEmpty() ? QObject::tr("Conversation") : t;
        }
    return QObject::tr("Conversation");
}

}  // namespace

LibraryStore::LibraryStore(const QString& path, QObject* parent)
    : QObject(parent), path_(path.isEmpty() ? QString::fromStdString(library::defaultLibraryPath()) : path) {
    qRegisterMetaType<std::vector<vqa::library::ConversationRecord>>();
    qRegisterMetaType<std::vector<vqa::library::SearchHit>>();
    qRegisterMetaType<std::vector<vqa::library::Message>>();
    pool_.setMaxThreadCount(1);  // one at a time, in order
    pool_.setExpiryTimeout(-1);  // and always the same thread
}

LibraryStore::~LibraryStore() {
    pool_.waitForDone();
    db_.reset();
}

void LibraryStore::waitForIdle() {
    pool_.waitForDone();
}

void LibraryStore::run(std::function<void(library::LibraryDb&)> work) {
    pool_.start([this, work = std::move(work)] {
        try {
            if (!db_) {
                db_ = std::make_unique<library::LibraryDb>(path_.toStdString());
                if (!db_->notice().empty()) {
                    const QString notice = QString::fromStdString(db_->notice());
                    QMetaObject::invokeMethod(this, [this, notice] { emit problem(notice); }, Qt::QueuedConnection);
                }
            }
            work(*db_);
        } catch (const std::exception& e) {
            const QString message = tr("The library could not be written: %1").arg(QString::fromUtf8(e.what()));
            QMetaObject::invokeMethod(this, [this, message] { emit problem(message); }, Qt::QueuedConnection);
        }
    });
}

quint64 LibraryStore::newConversation() {
    return ++next_token_;
}

void LibraryStore::adopt(quint64 token, qint64 conversation_id) {
    run([this, token, conversation_id](library::LibraryDb&) { conversations_.insert(token, conversation_id); });
}

QString LibraryStore::keptPath(const LibraryImage& image) const {
    if (!image.path.isEmpty())
        return QFileInfo(image.path).absoluteFilePath();
    // Pasted or dropped: the library keeps the pixels.
    const QString dir = QFileInfo(path_).absolutePath() + QStringLiteral("/images");
    QDir().mkpath(dir);
    const QString path = dir + QLatin1Char('/') + image.key + QStringLiteral(".png");
    if (!QFileInfo::exists(path)) {
        QSaveFile file(path);
        if (!file.open(QIODevice::WriteOnly) || !image.pixels.save(&file, "PNG") || !file.commit())
            throw Error("cannot keep a copy of " + image.name.toStdString() + " in " + dir.toStdString());
    }
    return path;
}

library::ImageRecord LibraryStore::imageRecord(library::LibraryDb& db, const LibraryImage& image) {
    const QString path = keptPath(image);  // absolute
    const std::string p = path.toStdString();
    const QFileInfo info(path);
    const qint64 mtime_ns = info.lastModified().toMSecsSinceEpoch() * 1'000'000;
    if (auto known = db.image(p); known && known->size == info.size())
        return *known;
    library::ImageRecord r;
    r.path = p;
    r.size = info.size();
    r.mtime_ns = mtime_ns;
    r.sha256 = hub::sha256File(p);
    const QSize size = QImageReader(path).size();
    r.width = size.width();
    r.height = size.height();
    return db.upsertImage(r);
}

void LibraryStore::recordTurn(quint64 token, const LibraryImage& image, const QString& model, int first,
                              const std::vector<LibraryMessage>& turn) {
    run([this, token, image, model, first, turn](library::LibraryDb& db) {
        std::vector<library::Message> messages;
        for (const LibraryMessage& m : turn) {
            library::Message kept{m.role, m.text};
            for (const LibraryImage& p : m.pictures)
                kept.pictures.push_back({p.picture, keptPath(p).toStdString(), p.video, p.key.toStdString(),
                                         p.name.toStdString()});
            messages.push_back(std::move(kept));
        }
        qint64 id = conversations_.value(token, 0);
        if (id == 0) {
            // The conversation and its first turn in one transaction: all of it or nothing.
            const library::ImageRecord record = imageRecord(db, image);
            id = db.addConversation(record.id, titleFrom(messages).toStdString(), model.toStdString(), messages);
            conversations_.insert(token, id);
        } else {
            db.replaceMessagesFrom(id, first, messages);
        }
        QMetaObject::invokeMethod(this, [this, token, id] { emit recorded(token, id); }, Qt::QueuedConnection);
    });
}

void LibraryStore::refreshHistory() {
    run([this](library::LibraryDb& db) {
        auto list = db.conversations();
        QMetaObject::invokeMethod(this, [this, list] { emit historyChanged(list); }, Qt::QueuedConnection);
    });
}

void LibraryStore::search(const QString& text) {
    run([this, text](library::LibraryDb& db) {
        auto hits = db.search(text.toStdString(), 100);
        QMetaObject::invokeMethod(this, [this, text, hits] { emit searched(text, hits); }, Qt::QueuedConnection);
    });
}

void LibraryStore::loadConversation(qint64 id) {
    run([this, id](library::LibraryDb& db) {
        const auto c = db.conversation(id);
        if (!c)
            throw Error("that conversation is no longer in the library");
        auto messages = db.messages(id);
        const QString image = QString::fromStdString(c->image_path), title = QString::fromStdString(c->title);
        QMetaObject::invokeMethod(
            this, [this, id, image, title, messages] { emit conversationLoaded(id, image, title, messages); },
            Qt::QueuedConnection);
    });
}

void LibraryStore::rename(qint64 id, const QString& title) {
    run([id, title](library::LibraryDb& db) { db.renameConversation(id, title.toStdString()); });
    refreshHistory();
}

void LibraryStore::remove(qint64 id) {
    run([this, id](library::LibraryDb& db) {
        db.deleteConversation(id);
        for (auto it = conversations_.begin(); it != conversations_.end();)
            it = it.value() == id ? conversations_.erase(it) : std::next(it);
    });
    refreshHistory();
}

}  // namespace vqa::ui
