#include "ui/SingleInstance.h"

#include <QDataStream>
#include <QDir>
#include <QFileInfo>
#include <QLocalServer>
#include <QLocalSocket>
#include <QStandardPaths>

namespace vqa::ui {
namespace {

constexpr quint32 kMagic = 0x56514131;  // "VQA1": a message from another start
const QByteArray kAck = QByteArrayLiteral("ok");

}  // namespace

SingleInstance::SingleInstance(const QString& key, QObject* parent) : QObject(parent), key_(key) {
    if (key_.isEmpty())
        key_ = qEnvironmentVariable("VQA_INSTANCE_KEY");
    if (key_.isEmpty()) {
        QString dir = QStandardPaths::writableLocation(QStandardPaths::RuntimeLocation);
        if (dir.isEmpty())
            dir = QDir::tempPath();
        const QString user = qEnvironmentVariable("USER", qEnvironmentVariable("USERNAME", QStringLiteral("user")));
        key_ = dir + QStringLiteral("/vqa-studio-%1.socket").arg(user);
    }
}

SingleInstance::~SingleInstance() {
    if (server_)
        server_->close();
}

bool SingleInstance::sendToRunning(const QStringList& paths, int timeout_ms) const {
    QLocalSocket socket;
    socket.connectToServer(key_);
    if (!socket.waitForConnected(timeout_ms))
        return false;
    QStringList absolute;
    for (const QString& p : paths)
        absolute << QFileInfo(p).absoluteFilePath();
    QByteArray payload;
    {
        QDataStream out(&payload, QIODevice::WriteOnly);
        out << kMagic << absolute;
    }
    QDataStream frame(&socket);
    frame << quint32(payload.size());
    socket.write(payload);
    if (!socket.waitForBytesWritten(timeout_ms))
        return false;
    // The running instance confirms, so a dying one does not swallow the images.
    QByteArray reply;
    while (reply.size() < kAck.size() && socket.waitForReadyRead(timeout_ms))
        reply += socket.readAll();
    return reply.startsWith(kAck);
}

bool SingleInstance::listen() {
    if (server_)
        return server_->isListening();
    // A live instance keeps its socket (listen() would replace the file and strand it).
    {
        QLocalSocket probe;
        probe.connectToServer(key_);
        if (probe.waitForConnected(500))
            return false;
    }
    server_ = new QLocalServer(this);
    server_->setSocketOptions(QLocalServer::UserAccessOption);
    if (!server_->listen(key_)) {
        // A socket left by a crashed instance answers nobody: remove it and try again.
        QLocalServer::removeServer(key_);
        if (!server_->listen(key_))
            return false;
    }
    connect(server_, &QLocalServer::newConnection, this, &SingleInstance::onConnection);
    return true;
}

bool SingleInstance::isListening() const { return server_ && server_->isListening(); }

void SingleInstance::onConnection() {
    while (QLocalSocket* socket = server_->nextPendingConnection()) {
        connect(socket, &QLocalSocket::disconnected, socket, &QObject::deleteLater);
        auto buffer = std::make_shared<QByteArray>();
        connect(socket, &QLocalSocket::readyRead, this, [this, socket, buffer] {
            *buffer += socket->readAll();
            if (buffer->size() < 4)
                return;
            quint32 size = 0;
            {
                QDataStream in(*buffer);
                in >> size;
            }
            if (size > (1u << 20)) {  // not one of ours
                socket->abort();
                return;
            }
            if (quint32(buffer->size()) < 4 + size)
                return;
            QDataStream in(buffer->mid(4, qsizetype(size)));
            quint32 magic = 0;
            QStringList paths;
            in >> magic >> paths;
            if (magic != kMagic || in.status() != QDataStream::Ok) {
                socket->abort();
                return;
            }
            socket->write(kAck);
            socket->flush();
            socket->disconnectFromServer();
            emit filesReceived(paths);
        });
    }
}

}  // namespace vqa::ui
