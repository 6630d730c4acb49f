#include "ui/CounterfactualController.h"

#include <algorithm>

#include "engine/EngineWorker.h"
#include "ui/ConversationController.h"
#include "ui/ImageSet.h"
#include "ui/ModelController.h"

namespace vqa::ui {

namespace {

// The words that fell most, for the status line: "“dog” 3.1, “red” 1.2".
QString mostChanged(const ChatMessage& m, int most) {
    const auto words = m.words();
    std::vector<std::pair<float, QString>> ranked;
    for (const auto& w : words) {
        const int begin = m.tokens[size_t(w.first)].start, end = m.tokens[size_t(w.second - 1)].end;
        ranked.emplace_back(m.bars.word(w), m.text.mid(begin, end - begin).trimmed());
    }
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    QStringList out;
    for (int i = 0; i < most && i < int(ranked.size()) && ranked[size_t(i)].first > 0; ++i)
        out << QStringLiteral("“%1” %2").arg(ranked[size_t(i)].second).arg(double(ranked[size_t(i)].first), 0, 'f', 2);
    return out.join(QStringLiteral(", "));
}

}  // namespace

CounterfactualController::CounterfactualController(EngineWorker* worker, ImageSet* images,
                                                   ConversationController* conversation, ModelController* model,
                                                   QObject* parent)
    : QObject(parent), worker_(worker), images_(images), conversation_(conversation), model_(model) {
    if (worker_) {
        connect(worker_, &EngineWorker::counterfactualProgress, this, &CounterfactualController::handleProgress);
        connect(worker_, &EngineWorker::counterfactualReady, this, &CounterfactualController::handleReady);
        connect(worker_, &EngineWorker::counterfactualFailed, this, &CounterfactualController::handleFailed);
    }
}

bool CounterfactualController::start(int message, const CounterfactualCheck& check, const QString& what) {
    const std::shared_ptr<ImageSession> s = images_->current();
    if (!s) {
        emit status(tr("Open an image and ask about it first."));
        return false;
    }
    if (message < 0)
        for (int i = int(s->messages.size()) - 1; i >= 0 && message < 0; --i)
            if (s->messages[size_t(i)].role == Role::Assistant && !s->messages[size_t(i)].tokens.empty() &&
                !s->messages[size_t(i)].streaming)
                message = i;
    if (message < 0 || message >= int(s->messages.size()) || s->messages[size_t(message)].role != Role::Assistant ||
        s->messages[size_t(message)].tokens.empty()) {
        emit status(tr("There is no answer to check yet: ask a question first."));
        return false;
    }
    if (!model_->hasModel() || model_->isLoading() || (model_->info() && model_->info()->remote)) {
        emit status(tr("Checking an answer needs the local model that wrote it."));
        return false;
    }
    if (conversation_->isGenerating() || s->messages[size_t(message)].streaming) {
        emit status(tr("An answer can be checked once it is finished."));
        return false;
    }
    if (ticket_ != 0) {
        emit status(tr("%1 is still running: wait for it or cancel it.").arg(what_));
        return false;
    }
    const ChatMessage& m = s->messages[size_t(message)];
    std::vector<std::int32_t> ids;
    for (const TokenRecord& t : m.tokens)
        ids.push_back(t.id);
    ticket_ = ++next_ticket_;
    session_ = s;
    message_ = message;
    what_ = what;
    emit running(true);
    emit status(tr("%1…").arg(what));
    worker_->postCounterfactual(ticket_, conversation_->requestFor(*s, size_t(message)), ids, check);
    return true;
}

bool CounterfactualController::requestReliance(int message) {
    CounterfactualCheck check;
    check.kind = CounterfactualCheck::Kind::Reliance;
    check.ablation = ImageAblation::MeanColour;
    return start(message, check, tr("Scoring how much the answer relied on the image"));
}

bool CounterfactualController::requestOcclusion(const QRect& rect, int message) {
    const std::shared_ptr<ImageSession> s = images_->current();
    const QSize size = s ? s->image.original_size : QSize();
    const PixelRect clipped = clipRect({rect.x(), rect.y(), rect.width(), rect.height()}, size.width(), size.height());
    if (clipped.empty()) {
        emit status(tr("The region to hide lies outside the image: drag a rectangle over it."));
        return false;
    }
    CounterfactualCheck check;
    check.kind = CounterfactualCheck::Kind::Occlusion;
    check.rect = clipped;
    return start(message, check, tr("Scoring the answer with the region hidden"));
}

bool CounterfactualController::requestOcclusionMap(int grid, int message) {
    const std::shared_ptr<ImageSession> s = images_->current();
    const QSize size = s ? s->image.original_size : QSize();
    grid = std::clamp(grid, 1, kMaxOcclusionGrid);
    if (s && (grid > size.width() || grid > size.height())) {
        emit status(tr("The image is too small for a %1×%1 grid.").arg(grid));
        return false;
    }
    CounterfactualCheck check;
    check.kind = CounterfactualCheck::Kind::OcclusionMap;
    check.grid = grid;
    return start(message, check, tr("Occlusion map (%1×%1, %2 passes)").arg(grid).arg(grid * grid + 1));
}

void CounterfactualController::cancel() {
    if (ticket_ == 0)
        return;
    worker_->cancelCounterfactual();
    emit status(tr("Stopping…"));
}

void CounterfactualController::conversationCleared(ImageSession* session) {
    const std::shared_ptr<ImageSession> s = session_.lock();
    if (ticket_ == 0 || !s || s.get() != session)
        return;
    session_.reset();
    cancel();
}

void CounterfactualController::handleProgress(quint64 ticket, int done, int total) {
    if (ticket == ticket_)
        emit progress(done, total);
}

void CounterfactualController::handleReady(quint64 ticket, const CounterfactualResult& result) {
    if (ticket != ticket_)
        return;
    ticket_ = 0;
    emit running(false);
    const std::shared_ptr<ImageSession> s = session_.lock();
    if (!s || message_ >= int(s->messages.size()))
        return;  // the conversation went meanwhile
    ChatMessage& m = s->messages[size_t(message_)];
    switch (result.check.kind) {
    case CounterfactualCheck::Kind::Reliance:
    case CounterfactualCheck::Kind::Occlusion: {
        const bool reliance = result.check.kind == CounterfactualCheck::Kind::Reliance;
        const PixelRect& r = result.check.rect;
        m.bars.label = reliance ? tr("relied on the image (log p with it − with its %1)")
                                      .arg(QString::fromUtf8(ablationName(result.check.ablation)))
                                : tr("fell when %1,%2 %3×%4 was hidden").arg(r.x).arg(r.y).arg(r.width).arg(r.height);
        m.bars.tokens = result.scores.difference();
        const QString top = mostChanged(m, 4);
        emit status(reliance ? tr("Bars under the words: how much each relied on the image%1.")
                                   .arg(top.isEmpty() ? QString() : tr(" (most: %1)").arg(top))
                             : top.isEmpty() ? tr("Hiding that region lowered no word.")
                                             : tr("Hiding that region lowered most: %1.").arg(top));
        emit barsChanged(s.get(), message_);
        break;
    }
    case CounterfactualCheck::Kind::OcclusionMap: {
        const QSize size = s->image.original_size;
        RgbImage frame{size.width(), size.height(), {}};
        m.occlusion_map = {occlusionGrid(result.map, frame)};
        m.occlusion_caption = tr("Occlusion map %1×%1: how much the answer fell with each cell greyed")
                                  .arg(result.map.rows);
        emit status(tr("Occlusion map done: the hot cells are those the answer needed most."));
        emit occlusionMapReady(s.get(), message_);
        break;
    }
    }
}

void CounterfactualController::handleFailed(quint64 ticket, const QString& message) {
    if (ticket != ticket_)
        return;
    ticket_ = 0;
    emit running(false);
    emit status(message == tr("stopped") ? tr("%1: stopped.").arg(what_) : tr("%1 failed: %2").arg(what_, message));
}

}  // namespace vqa::ui
