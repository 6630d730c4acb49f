// Starts tests/hub/fake_hub_server.py on 127.0.0.1 for a UI test and points the Hub client
// at it (VQA_HUB_ENDPOINT) and at a scratch Hub cache (HF_HUB_CACHE).
#pragma once

#include <QDir>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

namespace vqa::test {

class FakeHub {
public:
    // `serve`: "org/name=folder" entries served as real repositories (beside the script's own).
    explicit FakeHub(const QStringList& serve = {}) {
        QStringList args{QStringLiteral(VQA_SOURCE_DIR "/tests/hub/fake_hub_server.py"), "--idle", "300", "--lifetime", "900"};
        for (const QString& s : serve)
            args << "--serve" << s;
        process_.setProgram(qEnvironmentVariable("VQA_TEST_PYTHON", QStringLiteral("python3")));
        process_.setArguments(args);
        process_.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        process_.start();
        if (!process_.waitForStarted(10000)) {
            problem_ = "could not start " + process_.program() + ": " + process_.errorString();
            return;
        }
        QByteArray line;
        for (int i = 0; i < 300 && !line.contains('\n'); ++i) {
            process_.waitForReadyRead(100);
            line += process_.readAll();
        }
        if (!line.startsWith("PORT ")) {
            problem_ = "the fake Hub server printed no port: " + QString::fromUtf8(line);
            return;
        }
        port_ = line.mid(5).trimmed().toInt();
        endpoint_ = QStringLiteral("http://127.0.0.1:%1").arg(port_);
        qputenv("VQA_HUB_ENDPOINT", endpoint_.toUtf8());
        qputenv("HF_HUB_CACHE", QDir(cache_.path()).absolutePath().toUtf8());
        qunsetenv("HF_HUB_OFFLINE");
        qunsetenv("HF_TOKEN");
    }
    ~FakeHub() {
        process_.terminate();
        if (!process_.waitForFinished(3000)) {
            process_.kill();
            process_.waitForFinished(3000);
        }
        qunsetenv("VQA_HUB_ENDPOINT");
        qunsetenv("HF_HUB_CACHE");
    }
    bool ok() const { return port_ > 0; }
    QString problem() const { return problem_; }
    QString endpoint() const { return endpoint_; }
    QString cacheDir() const { return cache_.path(); }

private:
    QProcess process_;
    QTemporaryDir cache_;
    QString endpoint_;
    QString problem_;
    int port_ = 0;
};

}  // namespace vqa::test
