// The conversation about the current image and the state of its generation: asking (with
// the checks that say why it cannot start), the engine's stream of tokens into the answer,
// its end (timings, stop reason, error), stop, regenerate and a new conversation. One answer
// streams at a time, into the session it was asked in, whichever image is on screen. No
// widgets: the window shows what it reports.
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QString>

#include <memory>
#include <vector>

#include "engine/Types.h"
#include "ui/ChatMessage.h"

namespace vqa {
class EngineWorker;
}

namespace vqa::ui {

class ImageSet;
class ModelController;
struct ImageSession;

class ConversationController : public QObject {
    Q_OBJECT
public:
    static const QString kDescribePrompt;

    ConversationController(EngineWorker* worker, ImageSet* images, ModelController* model,
                           QObject* parent = nullptr);

    // What requests carry: the settings' generation parameters and image detail, and the explanation
    // (attention capture, the explanation bar's layers and head).
    void setRequestParams(const GenerationParams& generation, const ExplainParams& explain,
                          const ImageOptions& images = {});
    const ExplainParams& explainParams() const { return explain_; }
    // The request for the answer at `message` of `session`: the conversation before it and
    // the image.
    Request requestFor(const ImageSession& session, size_t message) const;

    // ask/describe/regenerate return false (and say why in status) when they cannot start.
    bool ask(const QString& question);
    bool describe();
    bool regenerate();
    void stop();
    bool newConversation();  // false while the current image's answer streams
    bool isGenerating() const { return generating_ != nullptr; }
    ImageSession* generatingSession() const { return generating_.get(); }
    const std::vector<ChatMessage>& messages() const;  // the current image's
    QString lastAnswer() const;                        // the current image's, or empty
    // Encodes the current image on the worker ahead of a question (when a model is there).
    void prepareCurrentImage();

    // The engine's stream, also callable directly (tests feed synthetic events): begin an
    // answer to `question` about the current image without submitting it, then tokens, then
    // the result.
    void beginAnswer(const QString& question);
    void handleToken(const vqa::TokenEvent& event);
    void handleFinished(const vqa::GenerationResult& result);

signals:
    void answerStarted(vqa::ui::ImageSession* session);
    void tokenAppended(vqa::ui::ImageSession* session, bool has_attention);
    void tokenReceived(int index);
    // The answer is complete (the last message of `session`); then answerFinished.
    void answerEnded(vqa::ui::ImageSession* session);
    void answerFinished();
    void cleared(vqa::ui::ImageSession* session);  // a new conversation
    void modelNeeded();  // asked without a model: the window shows where to get one
    void status(const QString& text);
    void performance(const QString& text);

private:
    void submit();
    // False, saying why, when a picture of `session` could not be read back from the library
    // (its conversation can be read, not continued).
    bool picturesThere(const ImageSession& session);

    EngineWorker* worker_;
    ImageSet* images_;
    ModelController* model_;
    GenerationParams generation_;
    ExplainParams explain_;
    ImageOptions image_options_;

    std::shared_ptr<ImageSession> generating_;  // the session the streaming answer belongs to
    QElapsedTimer clock_;
    double first_token_ms_ = -1;
    double last_token_ms_ = -1;
    int streamed_tokens_ = 0;
};

}  // namespace vqa::ui
