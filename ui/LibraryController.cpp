#include "ui/LibraryController.h"

#include <QFileInfo>
#include <QLineEdit>

#include <algorithm>
#include <map>

#include "ui/ConversationController.h"
#include "ui/ImageSet.h"
#include "ui/LibraryPanel.h"
#include "ui/LibraryPictures.h"
#include "ui/LibraryStore.h"
#include "ui/ModelController.h"

namespace vqa::ui {

LibraryController::LibraryController(ImageSet* images, ConversationController* conversation, ModelController* model,
                                     LibraryPanel* panel, const QString& library_path, QObject* parent)
    : QObject(parent), images_(images), conversation_(conversation), model_(model), panel_(panel),
      store_(new LibraryStore(library_path, this)), pictures_(new LibraryPictures(this)) {
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
    connect(pictures_, &LibraryPictures::loaded, this, &LibraryController::picturesLoaded);
    store_->refreshHistory();
}

namespace {

// How the library takes picture `index` of a session.
LibraryImage libraryImage(const LoadedImage& picture, int index) {
    LibraryImage out;
    out.path = picture.path;
    out.key = picture.key;
    out.name = picture.name;
    if (out.path.isEmpty())
        out.pixels = picture.display;
    out.video = picture.video;
    out.picture = index;
    return out;
}

// The pictures a kept conversation brought, each once, in the order of their places among its
// pictures; a conversation kept before pictures were (schema 3) is about its main image alone.
std::vector<library::PictureRecord> keptPictures(const QString& image_path, const std::vector<library::Message>& messages) {
    std::map<int, library::PictureRecord> by_place;
    for (const auto& m : messages)
        for (const auto& p : m.pictures)
            by_place.emplace(p.picture, p);
    std::vector<library::PictureRecord> out;
    for (const auto& [place, p] : by_place)
        out.push_back(p);
    if (out.empty() && !image_path.isEmpty()) {
        library::PictureRecord main;
        main.path = image_path.toStdString();
        main.name = QFileInfo(image_path).fileName().toStdString();
        out.push_back(main);
    }
    return out;
}

bool samePictures(const ImageSession& session, const std::vector<LoadedImage>& pictures) {
    if (session.pictureCount() != int(pictures.size()))
        return false;
    for (int i = 0; i < session.pictureCount(); ++i)
        if (session.picture(i).key != pictures[size_t(i)].key)
            return false;
    return true;
}

}  // namespace

void LibraryController::record(ImageSession* session) {
    const auto& messages = session->messages;
    if (messages.size() < 2 || messages.back().role != Role::Assistant || !messages.back().error.isEmpty() ||
        messages.back().text.isEmpty())
        return;  // a failed answer is not kept
    if (session->library_token == 0)
        session->library_token = store_->newConversation();
    const int first = int(messages.size()) - 2;
    std::vector<LibraryMessage> turn;
    for (std::size_t i = std::size_t(first); i < messages.size(); ++i) {
        LibraryMessage m{messages[i].role == Role::User ? "user" : "assistant", messages[i].text.toStdString()};
        for (const MessagePicture& p : messages[i].pictures)
            m.pictures.push_back(libraryImage(session->picture(p.picture), p.picture));
        turn.push_back(std::move(m));
    }
    const QString model = model_->info() ? QString::fromStdString(model_->info()->name) : QString();
    store_->recordTurn(session->library_token, libraryImage(session->image, 0), model, first, turn);
}

void LibraryController::reopen(qint64 conversation_id) {
    store_->loadConversation(conversation_id);
}

void LibraryController::restore(qint64 id, const QString& image_path, const std::vector<library::Message>& messages) {
    const std::vector<library::PictureRecord> kept = keptPictures(image_path, messages);
    if (kept.empty()) {
        emit status(tr("This conversation is about no picture the library still knows."));
        return;
    }
    Pending pending;
    pending.request = ++next_request_;
    pending.id = id;
    pending.messages = messages;
    for (const auto& p : kept)
        pending.kept.push_back(p.picture);
    pending_ = std::move(pending);
    pictures_->load(pending_->request, kept);  // picturesLoaded follows
}

void LibraryController::picturesLoaded(quint64 request, const std::vector<LoadedImage>& pictures) {
    if (!pending_ || pending_->request != request || pictures.empty())
        return;  // another conversation was asked for since
    const Pending pending = std::move(*pending_);
    pending_.reset();
    // The same pictures already open: that session takes the conversation.
    std::shared_ptr<ImageSession> session;
    int index = -1;
    for (int i = 0; i < images_->count() && !session; ++i)
        if (samePictures(*images_->at(i), pictures)) {
            session = images_->at(i);
            index = i;
        }
    if (session && conversation_->generatingSession() == session.get()) {
        emit status(tr("Stop the answer about this image before reopening another conversation about it."));
        return;
    }
    if (!session) {
        session = std::make_shared<ImageSession>();
        session->image = pictures.front();
        session->attachments.assign(pictures.begin() + 1, pictures.end());
    }
    // Each question's pictures, by their places in the reopened session.
    session->messages.clear();
    for (const auto& m : pending.messages) {
        ChatMessage message;
        message.role = m.role == "user" ? Role::User : Role::Assistant;
        message.text = QString::fromStdString(m.text);
        for (const auto& p : m.pictures) {
            const int place = int(std::find(pending.kept.begin(), pending.kept.end(), p.picture) - pending.kept.begin());
            const LoadedImage& picture = session->picture(place);
            message.pictures.push_back({place, p.video, QString::fromStdString(p.name), picture.thumbnail});
        }
        session->messages.push_back(std::move(message));
    }
    session->unsent.clear();  // every picture is in the conversation
    session->chosen = 0;
    session->chosen_frame = -1;
    session->chosen_by_user = false;
    session->pin = {};
    session->library_token = store_->newConversation();
    store_->adopt(session->library_token, pending.id);
    if (index < 0)
        index = images_->insert(session);
    else
        images_->setCurrent(index);
    QStringList missing;
    for (const LoadedImage& p : pictures)
        if (!p.missing.isEmpty())
            missing << tr("%1: %2").arg(p.name, p.missing);
    if (!missing.isEmpty())
        emit status((missing.size() == 1 ? tr("Reopened with a picture missing (%1).")
                                         : tr("Reopened with %2 pictures missing (%1)."))
                        .arg(missing.join(QStringLiteral("; ")))
                        .arg(missing.size()) +
                    QLatin1Char(' ') + tr("The conversation can be read, not continued."));
    emit reopened(index);
}

}  // namespace vqa::ui
