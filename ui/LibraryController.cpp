#include "ui/LibraryController.h"

#include <QFileInfo>
#include <QLineEdit>

#include "ui/ConversationController.h"
#include "ui/ImageSet.h"
#include "ui/LibraryPanel.h"
#include "ui/LibraryStore.h"
#include "ui/ModelController.h"

namespace vqa::ui {

LibraryController::LibraryController(ImageSet* images, ConversationController* conversation, ModelController* model,
                                     LibraryPanel* panel, const QString& library_path, QObject* parent)
    : QObject(parent), images_(images), conversation_(conversation), model_(model), panel_(panel),
      store_(new LibraryStore(library_path, this)) {
    connect(conversation_, &ConversationController::answerEnded, this, &LibraryController::record);
    connect(conversation_, &ConversationController::cleared, this,
            [](ImageSession* session) { session->library_token = 0; });
    connect(store_, &LibraryStore::recorded, store_, [this] {
        if (panel_->searchBox()->text().trimmed().isEmpty())
            store_->refreshHistory();
    });
    connect(store_, &LibraryStore::historyChanged, panel_, &LibraryPanel::showHistory);
    connect(store_, &LibraryStore::searched, panel_, &LibraryPanel::showResults);
    connect(store_, &LibraryStore::conversationLoaded, this,
            [this](qint64 id, const QString& path, const QString&, const std::vector<library::Message>& messages) {
                restore(id, path, messages);
            });
    connect(store_, &LibraryStore::problem, this, [this](const QString& message) {
        last_problem_ = message;
        emit status(message);
    });
    connect(panel_, &LibraryPanel::searchRequested, this, [this](const QString& text) {
        if (text.isEmpty())
            store_->refreshHistory();
        else
            store_->search(text);
    });
    connect(panel_, &LibraryPanel::openRequested, this, &LibraryController::reopen);
    connect(panel_, &LibraryPanel::openImageRequested, images_, &ImageSet::open);
    connect(panel_, &LibraryPanel::renameRequested, store_, &LibraryStore::rename);
    connect(panel_, &LibraryPanel::deleteRequested, store_, &LibraryStore::remove);
    connect(images_, &ImageSet::added, this, &LibraryController::imageAdded);
    store_->refreshHistory();
}

void LibraryController::record(ImageSession* session) {
    const auto& messages = session->messages;
    if (messages.size() < 2 || messages.back().role != Role::Assistant || !messages.back().error.isEmpty() ||
        messages.back().text.isEmpty())
        return;  // a failed answer is not kept
    if (session->library_token == 0)
        session->library_token = store_->newConversation();
    const int first = int(messages.size()) - 2;
    std::vector<library::Message> turn;
    for (std::size_t i = std::size_t(first); i < messages.size(); ++i)
        turn.push_back({messages[i].role == Role::User ? "user" : "assistant", messages[i].text.toStdString()});
    LibraryImage image;
    image.path = session->image.path;
    image.key = session->image.key;
    image.name = session->image.name;
    if (image.path.isEmpty())
        image.pixels = session->image.display;
    const QString model = model_->info() ? QString::fromStdString(model_->info()->name) : QString();
    store_->recordTurn(session->library_token, image, model, first, turn);
}

void LibraryController::reopen(qint64 conversation_id) {
    store_->loadConversation(conversation_id);
}

void LibraryController::restore(qint64 id, const QString& image_path, const std::vector<library::Message>& messages) {
    if (image_path.isEmpty() || !QFileInfo::exists(image_path)) {
        emit status(tr("The image of this conversation is no longer there: %1").arg(image_path));
        return;
    }
    pending_ = Pending{id, QFileInfo(image_path).absoluteFilePath(), messages};
    images_->open(image_path);  // added follows, for a new image or one already open
}

void LibraryController::imageAdded(int index) {
    const auto session = images_->at(index);
    if (!pending_ || !session || QFileInfo(session->image.path).absoluteFilePath() != pending_->path)
        return;
    if (conversation_->generatingSession() == session.get()) {
        emit status(tr("Stop the answer about this image before reopening another conversation about it."));
        pending_.reset();
        return;
    }
    session->messages.clear();
    for (const auto& m : pending_->messages) {
        ChatMessage message;
        message.role = m.role == "user" ? Role::User : Role::Assistant;
        message.text = QString::fromStdString(m.text);
        session->messages.push_back(std::move(message));
    }
    session->pin = {};
    session->library_token = store_->newConversation();
    store_->adopt(session->library_token, pending_->id);
    pending_.reset();
    images_->setCurrent(index);
    emit reopened(index);
}

}  // namespace vqa::ui
