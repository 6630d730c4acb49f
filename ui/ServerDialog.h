// Model ▸ Connect to a Server…: the address of an OpenAI-compatible server (vLLM, llama-server,
// Ollama, LM Studio, vqa serve), its API key, and one of the models it lists. "Test
// Connection" asks the server for its models off the GUI thread and says plainly whether it
// answered. The key is kept in memory while the program runs, never in the settings file.
#pragma once

#include <QDialog>
#include <QString>
#include <QStringList>

#include "engine/Types.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;

namespace vqa::ui {

class ServerDialog : public QDialog {
    Q_OBJECT
public:
    explicit ServerDialog(QWidget* parent = nullptr);

    RemoteServer server() const;  // what the fields say
    void setServer(const QString& url, const QString& api_key, const QString& model);
    QString verdict() const;      // the connection test's sentence ("" before one)
    QStringList models() const;   // the models the last test listed

public slots:
    void testConnection();

signals:
    void tested(bool ok);  // a connection test finished

private:
    void showModels(bool ok, const QStringList& models, const QString& error);

    QLineEdit* url_;
    QLineEdit* key_;
    QComboBox* model_;
    QPushButton* test_;
    QPushButton* connect_;
    QLabel* verdict_;
    QStringList models_;
    unsigned tests_ = 0;  // the latest test's number: an older one's answer is dropped
};

}  // namespace vqa::ui
