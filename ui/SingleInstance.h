// One window per user for images opened from outside: `vqa-studio photo.jpg` while a window
// runs hands the paths to that window (over a local socket only this user can reach) and
// exits; otherwise the new process becomes the running instance.
#pragma once

#include <QObject>
#include <QString>
#include <QStringList>

class QLocalServer;

namespace vqa::ui {

class SingleInstance : public QObject {
    Q_OBJECT
public:
    // `key`: a socket name or path; empty: $VQA_INSTANCE_KEY, else a socket in the user's
    // runtime folder (per user by construction).
    explicit SingleInstance(const QString& key = {}, QObject* parent = nullptr);
    ~SingleInstance() override;
    QString key() const { return key_; }

    // Hands `paths` (made absolute) to the running instance; true once it confirmed.
    bool sendToRunning(const QStringList& paths, int timeout_ms = 2000) const;
    // Becomes the running instance (replacing a socket a crashed one left behind).
    bool listen();
    bool isListening() const;

signals:
    // Another start asked this instance to open these (absolute) paths; may be empty
    // (a start without images: bring the window forward).
    void filesReceived(const QStringList& paths);

private:
    void onConnection();

    QString key_;
    QLocalServer* server_ = nullptr;
};

}  // namespace vqa::ui
