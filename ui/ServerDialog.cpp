#include "ui/ServerDialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QThread>
#include <QVBoxLayout>

#include <memory>

#include "engine/remote/OpenAiClient.h"
#include "ui/ModelController.h"

namespace vqa::ui {
namespace {

// The key typed this session: asked once, kept in memory only.
QString& sessionKey() {
    static QString key;
    return key;
}

}  // namespace

ServerDialog::ServerDialog(QWidget* parent)
    : QDialog(parent), url_(new QLineEdit(this)), key_(new QLineEdit(this)), model_(new QComboBox(this)),
      test_(new QPushButton(tr("&Test Connection"), this)), connect_(nullptr), verdict_(new QLabel(this)) {
    setWindowTitle(tr("Connect to a Server"));
    auto* layout = new QVBoxLayout(this);
    auto* intro = new QLabel(
        tr("Answer with a model on a server that speaks the OpenAI chat API: vLLM "
           "(http://host:8000), llama-server (http://host:8080), Ollama (http://host:11434), LM Studio "
           "(http://host:1234) or another VQA Studio (vqa serve). A third-party server sends no attention, so "
           "heatmaps need a local model."),
        this);
    intro->setWordWrap(true);
    layout->addWidget(intro);

    auto* form = new QFormLayout;
    url_->setPlaceholderText(QStringLiteral("http://localhost:8000"));
    url_->setAccessibleName(tr("Server address"));
    key_->setEchoMode(QLineEdit::Password);
    key_->setPlaceholderText(tr("none"));
    key_->setAccessibleName(tr("API key"));
    key_->setToolTip(tr("Sent as a bearer token. Kept only while VQA Studio runs; never saved."));
    model_->setEditable(true);
    model_->setAccessibleName(tr("Model"));
    model_->setToolTip(tr("Test Connection lists the server's models; empty: the server's only one"));
    form->addRow(tr("&Address:"), url_);
    form->addRow(tr("API &key:"), key_);
    form->addRow(tr("&Model:"), model_);
    layout->addLayout(form);

    auto* test_row = new QHBoxLayout;
    test_row->addWidget(test_);
    verdict_->setWordWrap(true);
    verdict_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    test_row->addWidget(verdict_, 1);
    layout->addLayout(test_row);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel, this);
    connect_ = buttons->addButton(tr("&Connect"), QDialogButtonBox::AcceptRole);
    connect_->setDefault(true);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, [this] {
        sessionKey() = key_->text();
        accept();
    });
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(test_, &QPushButton::clicked, this, &ServerDialog::testConnection);
    auto update = [this] {
        const bool has_url = !url_->text().trimmed().isEmpty();
        test_->setEnabled(has_url);
        connect_->setEnabled(has_url);
    };
    connect(url_, &QLineEdit::textChanged, this, update);

    setServer(ModelController::lastServer(), sessionKey(), ModelController::lastServerModel());
    update();
    resize(520, sizeHint().height());
}

void ServerDialog::setServer(const QString& url, const QString& api_key, const QString& model) {
    url_->setText(url);
    key_->setText(api_key);
    model_->setCurrentText(model);
}

RemoteServer ServerDialog::server() const {
    RemoteServer s;
    s.base_url = url_->text().trimmed().toStdString();
    s.api_key = key_->text().toStdString();
    s.model = model_->currentText().trimmed().toStdString();
    return s;
}

QString ServerDialog::verdict() const { return verdict_->text(); }
QStringList ServerDialog::models() const { return models_; }

void ServerDialog::testConnection() {
    const unsigned test = ++tests_;
    verdict_->setText(tr("Asking the server for its models…"));
    verdict_->setStyleSheet({});
    struct Outcome {
        bool ok = false;
        QStringList models;
        QString error;
    };
    auto outcome = std::make_shared<Outcome>();
    // The network, off the GUI thread; if the dialog is gone when it answers, the connection
    // went with it.
    QThread* thread = QThread::create([outcome, server = server()] {
        try {
            for (const auto& id : remote::listModels(server))
                outcome->models << QString::fromStdString(id);
            outcome->ok = true;
        } catch (const std::exception& e) {
            outcome->error = QString::fromStdString(e.what());
        }
    });
    connect(thread, &QThread::finished, this, [this, outcome, test] {
        if (test == tests_)
            showModels(outcome->ok, outcome->models, outcome->error);
    });
    connect(thread, &QThread::finished, thread, &QObject::deleteLater);
    thread->start();
}

void ServerDialog::showModels(bool ok, const QStringList& models, const QString& error) {
    if (!ok) {
        verdict_->setText(tr("No connection: %1").arg(error));
        verdict_->setStyleSheet(QStringLiteral("color: #b00020"));
        emit tested(false);
        return;
    }
    models_ = models;
    const QString chosen = model_->currentText();
    model_->clear();
    model_->addItems(models);
    model_->setCurrentText(chosen.isEmpty() || !models.contains(chosen) ? (models.isEmpty() ? QString() : models.first())
                                                                         : chosen);
    verdict_->setText(models.isEmpty() ? tr("Connected, but the server lists no models.")
                                       : tr("Connected: the server offers %n model(s).", nullptr, int(models.size())));
    verdict_->setStyleSheet(QStringLiteral("color: #1b7f3b"));
    emit tested(true);
}

}  // namespace vqa::ui
