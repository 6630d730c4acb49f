#include "ui/ConversationController.h"

#include <QStringList>

#include <algorithm>

#include "engine/EngineWorker.h"
#include "ui/ImageSet.h"
#include "ui/ModelController.h"

namespace vqa::ui {

const QString ConversationController::kDescribePrompt = QStringLiteral("Describe this image.");

ConversationController::ConversationController(EngineWorker* worker, ImageSet* images, ModelController* model,
                                               QObject* parent)
    : QObject(parent), worker_(worker), images_(images), model_(model) {
    connect(worker_, &EngineWorker::token, this, &ConversationController::handleToken);
    connect(worker_, &EngineWorker::finished, this, &ConversationController::handleFinished);
}

void ConversationController::setRequestParams(const GenerationParams& generation, const ExplainParams& explain,
                                              const ImageOptions& images) {
    generation_ = generation;
    explain_ = explain;
    image_options_ = images;
}

Request ConversationController::requestFor(const ImageSession& session, size_t message) const {
    Request request;
    request.conversation = toConversation(session.messages, message, true);
    // The pictures in the order of the conversation's Image and Video parts.
    for (const MessagePicture& p : picturesInOrder(session.messages, message, true)) {
        const LoadedImage& picture = session.picture(p.picture);
        if (p.video) {
            request.videos.push_back({picture.path.toStdString(), picture.key.toStdString()});
        } else {
            request.images.push_back(picture.rgb);
            request.image_keys.push_back(picture.key.toStdString());
        }
    }
    request.image_options = image_options_;
    request.generation = generation_;
    request.explain = explain_;
    return request;
}

const std::vector<ChatMessage>& ConversationController::messages() const {
    static const std::vector<ChatMessage> none;
    const ImageSession* s = images_->current().get();
    return s ? s->messages : none;
}

QString ConversationController::lastAnswer() const {
    const auto& list = messages();
    for (auto it = list.rbegin(); it != list.rend(); ++it)
        if (it->role == Role::Assistant && !it->text.isEmpty())
            return it->text;
    return {};
}

bool ConversationController::describe() { return ask(kDescribePrompt); }

bool ConversationController::ask(const QString& question_text) {
    const QString question = question_text.trimmed();
    if (question.isEmpty()) {
        emit status(tr("Type a question first."));
        return false;
    }
    if (!images_->current()) {
        emit status(tr("Open an image first: drop one on the left, paste one (Ctrl+V) or press Ctrl+O."));
        return false;
    }
    if (!picturesThere(*images_->current()))
        return false;
    if (!model_->hasModel()) {
        emit status(model_->isLoading() ? tr("The model is still loading; ask again when it is ready.")
                                        : tr("Open a model folder first (Ctrl+M)."));
        emit modelNeeded();
        return false;
    }
    if (generating_ || model_->isLoading()) {
        emit status(tr("Wait for the current answer, or stop it (Esc)."));
        return false;
    }
    beginAnswer(question);
    submit();
    return true;
}

bool ConversationController::picturesThere(const ImageSession& session) {
    const LoadedImage* missing = session.missingPicture();
    if (!missing)
        return true;
    emit status(tr("%1 is missing (%2): this conversation can be read but not continued. Open the picture again "
                   "to ask about it.")
                    .arg(missing->name, missing->missing));
    return false;
}

void ConversationController::beginAnswer(const QString& question) {
    const std::shared_ptr<ImageSession> s = images_->current();
    if (!s)
        return;
    ChatMessage user;
    user.role = Role::User;
    user.text = question;
    user.pictures = s->nextPictures();  // those not yet in the conversation
    s->unsent.clear();
    s->messages.push_back(user);
    ChatMessage answer;
    answer.role = Role::Assistant;
    answer.streaming = true;
    answer.reasons_first = model_->info() && model_->info()->reasons_first;
    s->messages.push_back(answer);
    generating_ = s;
    clock_.start();
    first_token_ms_ = last_token_ms_ = -1;
    streamed_tokens_ = 0;
    emit performance(tr("waiting for the first token…"));
    emit answerStarted(s.get());
}

void ConversationController::submit() {
    if (!generating_)
        return;
    const Request request = requestFor(*generating_, generating_->messages.size() - 1);
    emit status(tr("Thinking…"));
    worker_->post(request);
}

void ConversationController::handleToken(const TokenEvent& event) {
    if (!generating_ || generating_->messages.empty())
        return;
    ChatMessage& m = generating_->messages.back();
    const double now = clock_.nsecsElapsed() / 1e6;
    if (first_token_ms_ < 0) {
        first_token_ms_ = now;
        emit status(tr("Answering… (Esc stops it)"));
    }
    last_token_ms_ = now;
    ++streamed_tokens_;
    TokenRecord r;
    r.start = int(m.text.size());
    m.text += QString::fromStdString(event.text);
    r.end = int(m.text.size());
    r.id = event.id;
    r.attention = event.attention;
    m.tokens.push_back(std::move(r));
    emit tokenAppended(generating_.get(), !event.attention.empty());
    const double rate = streamed_tokens_ > 1 && last_token_ms_ > first_token_ms_
                            ? (streamed_tokens_ - 1) * 1000.0 / (last_token_ms_ - first_token_ms_)
                            : 0.0;
    emit performance(rate > 0 ? tr("first token %1 ms · %2 tokens/s")
                                    .arg(first_token_ms_, 0, 'f', 0)
                                    .arg(rate, 0, 'f', 1)
                              : tr("first token %1 ms").arg(first_token_ms_, 0, 'f', 0));
    emit tokenReceived(event.index);
}

void ConversationController::handleFinished(const GenerationResult& result) {
    if (!generating_)
        return;
    const std::shared_ptr<ImageSession> s = std::move(generating_);
    generating_.reset();
    ChatMessage& m = s->messages.back();
    m.streaming = false;
    m.stop = result.stop;
    m.boxes = result.boxes;
    m.video_frames = result.video_frames;
    if (m.text.isEmpty() && !result.text.empty())
        m.text = QString::fromStdString(result.text);  // an engine that did not stream
    Timings t = result.timings;
    if (t.new_tokens == 0)
        t.new_tokens = streamed_tokens_;
    if (t.first_token_ms <= 0 && first_token_ms_ >= 0)
        t.first_token_ms = first_token_ms_;
    if (t.decode_ms <= 0 && last_token_ms_ > first_token_ms_)
        t.decode_ms = last_token_ms_ - first_token_ms_;
    if (result.stop == StopReason::Error) {
        m.error = QString::fromStdString(result.error.empty() ? std::string("the engine failed without a message")
                                                              : result.error);
        emit status(tr("The answer failed: %1").arg(m.error));
        emit performance({});
    } else {
        m.timings = t;
        emit status(result.stop == StopReason::Cancelled ? tr("Stopped.") : tr("Done."));
        QStringList bits;
        if (t.first_token_ms > 0)
            bits << tr("first token %1 ms").arg(t.first_token_ms, 0, 'f', 0);
        if (t.tokensPerSecond() > 0)
            bits << tr("%1 tokens/s").arg(t.tokensPerSecond(), 0, 'f', 1);
        emit performance(bits.join(QStringLiteral(" · ")));
    }
    emit answerEnded(s.get());
    emit answerFinished();
}

void ConversationController::stop() {
    if (!generating_)
        return;
    worker_->cancel();
    emit status(tr("Stopping…"));
}

bool ConversationController::regenerate() {
    const std::shared_ptr<ImageSession> s = images_->current();
    if (!s || generating_ || !model_->hasModel() || model_->isLoading() || !picturesThere(*s))
        return false;
    // Drop the last answer (and anything after the last question), then ask again.
    while (!s->messages.empty() && s->messages.back().role == Role::Assistant)
        s->messages.pop_back();
    if (s->messages.empty())
        return false;
    const QString question = s->messages.back().text;
    std::vector<int> pictures;  // the question's pictures go with it again
    for (const MessagePicture& p : s->messages.back().pictures)
        pictures.push_back(p.picture);
    s->unsent.insert(s->unsent.begin(), pictures.begin(), pictures.end());
    s->messages.pop_back();
    beginAnswer(question);
    submit();
    return true;
}

bool ConversationController::newConversation() {
    const std::shared_ptr<ImageSession> s = images_->current();
    if (!s || generating_ == s)
        return false;
    s->messages.clear();
    s->unsent.clear();  // a new conversation starts with every picture again
    for (int i = 0; i < s->pictureCount(); ++i)
        s->unsent.push_back(i);
    emit cleared(s.get());
    return true;
}

void ConversationController::prepareCurrentImage() {
    const std::shared_ptr<ImageSession> s = images_->current();
    if (s && model_->hasModel() && !model_->isLoading() && s->image.rgb && !s->image.video)
        worker_->postPrepareImage(s->image.rgb, s->image.key.toStdString(), image_options_);
}

}  // namespace vqa::ui
