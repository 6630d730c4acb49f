#include "ui/ExplanationController.h"

#include <QRegularExpression>

#include <algorithm>
#include <functional>

#include "engine/EngineWorker.h"
#include "engine/explain/Grounding.h"
#include "engine/explain/Heatmap.h"
#include "ui/ConversationController.h"
#include "ui/Heatmap.h"
#include "ui/ImageSet.h"
#include "ui/ModelController.h"

namespace vqa::ui {
namespace {

// Tokens [b, e) of an answer as the word a person reads (Markdown marks dropped).
QString wordText(const ChatMessage& m, int b, int e) {
    QString word = m.text.mid(m.tokens[size_t(b)].start, m.tokens[size_t(e - 1)].end - m.tokens[size_t(b)].start);
    word.remove(QRegularExpression(QStringLiteral("[*_`#>]")));
    return word.trimmed();
}

// The message whose boxes are drawn: `focus` when it names boxes, else the latest that does.
int boxesMessage(const std::vector<ChatMessage>& messages, int focus) {
    if (focus >= 0 && focus < int(messages.size()) && !messages[size_t(focus)].boxes.empty())
        return focus;
    for (int i = int(messages.size()) - 1; i >= 0; --i)
        if (!messages[size_t(i)].boxes.empty())
            return i;
    return -1;
}

}  // namespace

std::function<std::pair<int, int>(const HeatmapGrid&)> pictureKeys(const ImageSession& s, int message) {
    // The pictures the answer's request held: its images and videos, in order.
    std::vector<int> images, videos;
    if (message >= 0)
        for (const MessagePicture& p : picturesInOrder(s.messages, size_t(message), true))
            (p.video ? videos : images).push_back(p.picture);
    return [images, videos](const HeatmapGrid& g) -> std::pair<int, int> {
        if (g.video >= 0)
            return g.video < int(videos.size()) ? std::pair{videos[size_t(g.video)], g.frame} : std::pair{-1, -1};
        return g.image >= 0 && g.image < int(images.size()) ? std::pair{images[size_t(g.image)], -1}
                                                             : std::pair{-1, -1};
    };
}

ExplanationController::ExplanationController(EngineWorker* worker, ImageSet* images,
                                             ConversationController* conversation, ModelController* model,
                                             QObject* parent)
    : QObject(parent), worker_(worker), images_(images), conversation_(conversation), model_(model) {
    live_timer_.setSingleShot(true);
    live_timer_.setInterval(30);
    connect(&live_timer_, &QTimer::timeout, this, &ExplanationController::update);
    connect(worker_, &EngineWorker::attentionRegridded, this, &ExplanationController::handleRegridded);
    connect(worker_, &EngineWorker::relevancyReady, this, &ExplanationController::handleRelevancy);
    connect(worker_, &EngineWorker::explainFailed, this, &ExplanationController::handleFailed);
    connect(worker_, &EngineWorker::headMapsReady, this, &ExplanationController::handleHeadMaps);
    connect(worker_, &EngineWorker::rolloutReady, this, &ExplanationController::handleRollout);
}

void ExplanationController::showTokenHeatmap(int message, int token) {
    ImageSession* s = images_->current().get();
    if (!s || message < 0 || message >= int(s->messages.size()))
        return;
    s->pin = {message, token, false};
    hover_message_ = hover_token_ = -1;
    if (kind_ == MapKind::Relevancy)
        requestRelevancy(message, token);
    else if (kind_ == MapKind::Rollout)
        requestRollout(message, token);
    update();
}

void ExplanationController::showWholeAnswerHeatmap(int message) {
    ImageSession* s = images_->current().get();
    if (!s)
        return;
    if (message < 0)
        for (int i = int(s->messages.size()) - 1; i >= 0 && message < 0; --i)
            if (s->messages[size_t(i)].role == Role::Assistant && s->messages[size_t(i)].hasAttention())
                message = i;
    if (message < 0) {
        emit status(tr("No answer with attention maps yet."));
        return;
    }
    s->pin = {message, -1, true};
    hover_message_ = hover_token_ = -1;
    update();
}

QString ExplanationController::attentionMethod() const {
    return tr("attention of each answer token over the image tokens, %1")
        .arg(QString::fromStdString(describeReduction(conversation_->explainParams())));
}

void ExplanationController::showOcclusionMap(int message) {
    ImageSession* s = images_->current().get();
    if (!s || message < 0 || message >= int(s->messages.size()) || s->messages[size_t(message)].occlusion_map.empty())
        return;
    s->pin = {message, -1, false, true};
    hover_message_ = hover_token_ = -1;
    update();
}

void ExplanationController::clearHeatmap() {
    if (ImageSession* s = images_->current().get())
        s->pin = {};
    hover_message_ = hover_token_ = -1;
    update();
}

void ExplanationController::hover(int message, int token) {
    hover_message_ = message;
    hover_token_ = token;
    hover_box_ = hover_box_message_ = -1;
    update();
}

void ExplanationController::hoverBox(int box) {
    if (box >= 0 && box < int(view_.boxes.size())) {
        hover_box_message_ = view_.boxes_message;
        hover_box_ = box;
    } else if (hover_box_ < 0) {
        return;
    } else {
        hover_box_ = hover_box_message_ = -1;
    }
    update();
}

void ExplanationController::leave() {
    if (hover_message_ < 0)
        return;
    hover_message_ = hover_token_ = -1;
    update();
}

const ChatMessage* ExplanationController::finishedAnswer(const std::shared_ptr<ImageSession>& s, int message,
                                                         int token, const QString& what) {
    if (!s || message < 0 || message >= int(s->messages.size()))
        return nullptr;
    const ChatMessage& m = s->messages[size_t(message)];
    if (m.role != Role::Assistant || token < 0 || token >= int(m.tokens.size()))
        return nullptr;
    if (!model_->hasModel() || model_->isLoading()) {
        emit status(tr("%1 needs the model that wrote the answer: load a model first.").arg(what));
        return nullptr;
    }
    if (conversation_->isGenerating() || m.streaming) {
        emit status(tr("%1 can be computed when the answer is finished.").arg(what));
        return nullptr;
    }
    return &m;
}

bool ExplanationController::requestRelevancy(int message, int token) {
    const std::shared_ptr<ImageSession> s = images_->current();
    const ChatMessage* answer = finishedAnswer(s, message, token, tr("Relevancy"));
    if (!answer)
        return false;
    const ChatMessage& m = *answer;
    const auto [b, e] = m.wordOfToken(token);
    // The word's first few tokens: each costs a forward and a backward pass.
    std::vector<int> indices;
    for (int t = b; t < std::min(e, b + 4); ++t)
        if (m.tokens[size_t(t)].relevancy.empty())
            indices.push_back(t);
    if (indices.empty())
        return true;  // already there
    for (const auto& [ticket, p] : pending_)
        if (p.relevancy && p.session.lock() == s && p.message == message && p.tokens == indices.front())
            return true;  // already on its way
    const Request request = conversation_->requestFor(*s, size_t(message));
    std::vector<std::int32_t> ids;
    ids.reserve(m.tokens.size());
    for (const TokenRecord& t : m.tokens)
        ids.push_back(t.id);
    const quint64 ticket = ++next_ticket_;
    pending_[ticket] = {s, message, indices.front(), true, false, false, {}};
    emit status(tr("Computing the relevancy of “%1”…").arg(wordText(m, b, e)));
    emit relevancyRunning(true);
    worker_->postRelevancy(ticket, request, ids, indices);
    update();
    return true;
}

bool ExplanationController::regridLastAnswer() {
    const std::shared_ptr<ImageSession> s = engine_answer_session_.lock();
    if (conversation_->isGenerating()) {
        regrid_after_answer_ = true;
        emit status(tr("The new layers and head apply once this answer is finished."));
        return false;
    }
    if (!s || engine_answer_message_ < 0 || engine_answer_message_ >= int(s->messages.size()) ||
        !s->messages[size_t(engine_answer_message_)].hasAttention()) {
        emit status(tr("Layer and head choices apply to the next answer."));
        return false;
    }
    const ChatMessage& m = s->messages[size_t(engine_answer_message_)];
    const quint64 ticket = ++next_ticket_;
    pending_[ticket] = {s, engine_answer_message_, int(m.tokens.size()), false, false, false, {}};
    const ExplainParams p = conversation_->explainParams();
    const QString layers = p.layer_begin < 0 && p.layer_end < 0
                               ? tr("the default layers")
                               : tr("layers %1–%2")
                                     .arg(p.layer_begin < 0 ? tr("auto") : QString::number(p.layer_begin),
                                          p.layer_end < 0 ? tr("auto") : QString::number(p.layer_end));
    emit status(tr("Redrawing the last answer's heatmaps from %1, %2…")
                    .arg(layers, p.head < 0 ? tr("all heads") : tr("head %1").arg(p.head)));
    worker_->postRegrid(ticket, int(m.tokens.size()), p);
    return true;
}

void ExplanationController::handleRegridded(quint64 ticket, const std::vector<std::vector<HeatmapGrid>>& per_token) {
    const auto it = pending_.find(ticket);
    if (it == pending_.end())
        return;
    const Pending p = it->second;
    pending_.erase(it);
    // A newer regrid supersedes this one.
    for (const auto& [t, other] : pending_)
        if (!other.relevancy && !other.heads && !other.rollout && t > ticket)
            return;
    const std::shared_ptr<ImageSession> s = p.session.lock();
    if (s && p.message < int(s->messages.size()) && s->messages[size_t(p.message)].tokens.size() == per_token.size()) {
        ChatMessage& m = s->messages[size_t(p.message)];
        for (size_t i = 0; i < per_token.size(); ++i) {
            if (!per_token[i].empty())
                m.tokens[i].attention = per_token[i];
            m.tokens[i].rollout.clear();  // made from the attention reduced the old way
        }
        emit status(tr("Heatmaps redrawn."));
        if (s == images_->current())
            update();
    }
    emit heatmapUpdated();
}

void ExplanationController::handleRelevancy(quint64 ticket, const std::vector<int>& indices,
                                            const std::vector<std::vector<HeatmapGrid>>& per_index) {
    const auto it = pending_.find(ticket);
    if (it == pending_.end())
        return;
    const Pending p = it->second;
    pending_.erase(it);
    if (std::none_of(pending_.begin(), pending_.end(), [](const auto& e) { return e.second.relevancy; }))
        emit relevancyRunning(false);
    const std::shared_ptr<ImageSession> s = p.session.lock();
    if (s && p.message < int(s->messages.size())) {
        ChatMessage& m = s->messages[size_t(p.message)];
        for (size_t i = 0; i < indices.size() && i < per_index.size(); ++i)
            if (indices[i] >= 0 && indices[i] < int(m.tokens.size()))
                m.tokens[size_t(indices[i])].relevancy = per_index[i];
        emit status(tr("Relevancy ready."));
        if (s == images_->current())
            update();
    }
    emit heatmapUpdated();
}

void ExplanationController::handleFailed(quint64 ticket, const QString& message) {
    const auto it = pending_.find(ticket);
    if (it == pending_.end())
        return;
    const bool relevancy = it->second.relevancy, heads = it->second.heads, rollout = it->second.rollout;
    pending_.erase(it);
    emit relevancyRunning(false);
    emit error(relevancy ? tr("Could not compute the relevancy")
               : heads   ? tr("Could not draw the heads' maps")
               : rollout ? tr("Could not draw the rollout")
                         : tr("Could not redraw the heatmaps"),
               message);
    emit heatmapUpdated();
}

bool ExplanationController::requestHeadMaps() {
    const std::shared_ptr<ImageSession> s = engine_answer_session_.lock();
    if (conversation_->isGenerating()) {
        emit status(tr("The heads can be explored once the answer is finished."));
        return false;
    }
    if (!s || s != images_->current() || engine_answer_message_ < 0 ||
        engine_answer_message_ >= int(s->messages.size()) || !s->messages[size_t(engine_answer_message_)].hasAttention()) {
        emit status(tr("The heads of the last answer about this image can be explored: ask a question first."));
        return false;
    }
    const ChatMessage& m = s->messages[size_t(engine_answer_message_)];
    // The word in view, if it is of that answer; else the whole answer.
    int token = -1;
    if (hover_message_ == engine_answer_message_)
        token = hover_token_;
    else if (s->pin.message == engine_answer_message_ && !s->pin.whole && !s->pin.occlusion_map)
        token = s->pin.token;
    int first = 0, last = int(m.tokens.size());
    QString title = tr("the whole answer");
    if (token >= 0 && token < int(m.tokens.size())) {
        std::tie(first, last) = m.wordOfToken(token);
        title = tr("“%1”").arg(wordText(m, first, last));
    }
    const quint64 ticket = ++next_ticket_;
    Pending p;
    p.session = s;
    p.message = engine_answer_message_;
    p.heads = true;
    p.title = title;
    pending_[ticket] = p;
    worker_->postHeadMaps(ticket, first, last);
    return true;
}

void ExplanationController::handleHeadMaps(quint64 ticket, const std::vector<HeadMap>& maps) {
    const auto it = pending_.find(ticket);
    if (it == pending_.end())
        return;
    QString title = it->second.title;
    const std::shared_ptr<ImageSession> session = it->second.session.lock();
    const int message = it->second.message;
    pending_.erase(it);
    if (maps.empty()) {
        emit status(tr("No attention kept for those words."));
        return;
    }
    // Several pictures: each head's map on the picture the canvas shows (its frame, for a video).
    if (session && session.get() == images_->current().get() && session->pictureCount() > 1) {
        const auto keyOf = pictureKeys(*session, message);
        const std::pair<int, int> shown{view_.picture, session->picture(view_.picture).video ? view_.frame : -1};
        std::vector<HeadMap> on_picture = maps;
        for (HeadMap& m : on_picture)
            std::erase_if(m.grids, [&](const HeatmapGrid& g) { return keyOf(g) != shown; });
        emit headMapsReady(tr("%1, on %2").arg(title, session->picture(view_.picture).name), on_picture);
        return;
    }
    emit headMapsReady(title, maps);
}

void ExplanationController::setColormap(Colormap map) {
    colormap_ = map;
    update();
}

void ExplanationController::setOpacity(double opacity) { opacity_ = std::clamp(opacity, 0.0, 1.0); }

void ExplanationController::setMapKind(MapKind kind) {
    kind_ = kind;
    const ImageSession* s = images_->current().get();
    const bool pinned_word = s && s->pin.message >= 0 && !s->pin.whole && !s->pin.occlusion_map && s->pin.token >= 0;
    if (kind == MapKind::Relevancy && pinned_word)
        requestRelevancy(s->pin.message, s->pin.token);
    else if (kind == MapKind::Relevancy)
        emit status(tr("Relevancy mode: click a word of an answer to compute its map."));
    else if (kind == MapKind::Rollout && pinned_word)
        requestRollout(s->pin.message, s->pin.token);
    else if (kind == MapKind::Rollout)
        emit status(tr("Rollout: click a word of the last answer to carry its attention through the vision tower."));
    update();
}

bool ExplanationController::requestRollout(int message, int token) {
    const std::shared_ptr<ImageSession> s = images_->current();
    const ChatMessage* answer = finishedAnswer(s, message, token, tr("The rollout"));
    if (!answer)
        return false;
    const ChatMessage& m = *answer;
    if (engine_answer_session_.lock() != s || engine_answer_message_ != message || !m.hasAttention()) {
        emit status(tr("The rollout is drawn for the last answer about this image, from the attention kept of it."));
        return false;
    }
    const auto [b, e] = m.wordOfToken(token);
    if (!m.tokens[size_t(b)].rollout.empty())
        return true;  // already there
    for (const auto& [ticket, p] : pending_)
        if (p.rollout && p.session.lock() == s && p.message == message && p.tokens == b)
            return true;  // already on its way
    const quint64 ticket = ++next_ticket_;
    pending_[ticket] = {s, message, b, false, false, true, {}};
    emit status(tr("Carrying the attention of “%1” through the vision tower…").arg(wordText(m, b, e)));
    emit relevancyRunning(true);
    worker_->postRollout(ticket, conversation_->requestFor(*s, size_t(message)), {{b, e}},
                         conversation_->explainParams());
    update();
    return true;
}

void ExplanationController::handleRollout(quint64 ticket, const std::vector<std::vector<HeatmapGrid>>& per_range) {
    const auto it = pending_.find(ticket);
    if (it == pending_.end())
        return;
    const Pending p = it->second;
    pending_.erase(it);
    emit relevancyRunning(false);
    const std::shared_ptr<ImageSession> s = p.session.lock();
    if (s && p.message < int(s->messages.size()) && !per_range.empty() &&
        p.tokens < int(s->messages[size_t(p.message)].tokens.size())) {
        s->messages[size_t(p.message)].tokens[size_t(p.tokens)].rollout = per_range.front();
        emit status(tr("Rollout ready."));
        if (s == images_->current())
            update();
    }
    emit heatmapUpdated();
}

void ExplanationController::currentImageChanged() {
    hover_message_ = hover_token_ = -1;
    hover_box_ = hover_box_message_ = -1;
    update();
}

void ExplanationController::answerStarted(ImageSession* session) {
    session->pin = {};
    session->chosen_by_user = false;  // a picture clicked stays chosen until the next question
    hover_box_ = hover_box_message_ = -1;
    engine_answer_message_ = -1;  // the engine keeps the attention of the answer it writes now
    update();
}

void ExplanationController::tokenAppended(ImageSession* session, bool has_attention) {
    // While nothing is pinned or hovered, the overlay follows the newest token.
    if (session == images_->current().get() && hover_message_ < 0 && has_attention && !live_timer_.isActive())
        live_timer_.start();  // coalesced: at most one overlay per frame or so
}

void ExplanationController::answerEnded(ImageSession* session) {
    engine_answer_session_ = images_->find(session);
    engine_answer_message_ = int(session->messages.size()) - 1;
    const ChatMessage& m = session->messages.back();
    if (m.stop != StopReason::Error && m.hasAttention())
        session->pin = {engine_answer_message_, -1, true};
    if (session == images_->current().get())
        update();
    if (regrid_after_answer_) {
        // The layers changed while this answer was being written with the old ones.
        regrid_after_answer_ = false;
        regridLastAnswer();
    }
}

void ExplanationController::conversationCleared(ImageSession* session) {
    if (engine_answer_session_.lock().get() == session)
        engine_answer_message_ = -1;
    session->pin = {};
    hover_message_ = hover_token_ = -1;
    hover_box_ = hover_box_message_ = -1;
    update();
}

void ExplanationController::modelLoaded() {
    engine_answer_message_ = -1;  // a new model keeps no attention of earlier answers
}

std::vector<std::vector<HeatmapGrid>> ExplanationController::splitByPicture(
    const ImageSession& s, int message, const std::vector<const std::vector<HeatmapGrid>*>& grids, bool choose,
    HeatmapView* v) {
    const auto keyOf = pictureKeys(s, message);
    std::map<std::pair<int, int>, PictureShare> sums;
    double total = 0;
    for (const auto* list : grids) {
        for (const HeatmapGrid& g : *list) {
            const auto key = keyOf(g);
            if (key.first < 0)
                continue;
            double sum = 0;
            for (float x : g.values)
                sum += std::max(0.0f, x);
            PictureShare& share = sums[key];
            share.picture = key.first;
            share.frame = key.second;
            share.time_s = g.time_s;
            share.share += float(sum);
            total += sum;
        }
    }
    for (auto& [key, share] : sums) {
        share.share = total > 0 ? float(share.share / total) : 0.0f;
        v->shares.push_back(share);
    }
    // The picture shown: the user's choice, else where the word looked most.
    if (!v->shares.empty() && choose) {
        const PictureShare* best = nullptr;
        for (const PictureShare& share : v->shares)
            if ((!s.chosen_by_user || share.picture == v->picture) && (!best || share.share > best->share))
                best = &share;
        if (best && (!s.chosen_by_user || v->frame < 0)) {
            v->picture = best->picture;
            v->frame = best->frame;
        }
    }
    for (const PictureShare& share : v->shares)
        if (share.picture == v->picture && share.frame == v->frame)
            v->frame_time_s = share.time_s;
    std::vector<std::vector<HeatmapGrid>> out(grids.size());
    for (size_t i = 0; i < grids.size(); ++i)
        for (const HeatmapGrid& g : *grids[i])
            if (keyOf(g) == std::pair{v->picture, s.picture(v->picture).video ? v->frame : -1})
                out[i].push_back(g);
    return out;
}

void ExplanationController::choosePicture(int picture, int frame) {
    const std::shared_ptr<ImageSession> s = images_->current();
    if (!s)
        return;
    s->chosen_by_user = picture >= 0;
    s->chosen = std::clamp(picture, 0, s->pictureCount() - 1);
    s->chosen_frame = picture >= 0 && s->picture(s->chosen).video ? frame : -1;
    update();
}

void ExplanationController::update() {
    live_timer_.stop();
    const ImageSession* s = images_->current().get();
    std::vector<const std::vector<HeatmapGrid>*> grids;
    HeatmapView v;
    int message_shown = -1;
    bool live_shown = false;  // the newest token of a streaming answer: the canvas stays where it is
    if (s) {
        int message = -1, token = -1;
        bool whole = false, live = false, occlusion_map = false;
        const GroundingBox* box = nullptr;  // hovered on the canvas
        if (hover_box_message_ >= 0 && hover_box_message_ < int(s->messages.size()) && hover_box_ >= 0 &&
            hover_box_ < int(s->messages[size_t(hover_box_message_)].boxes.size())) {
            message = hover_box_message_;
            box = &s->messages[size_t(message)].boxes[size_t(hover_box_)];
        } else if (hover_message_ >= 0) {
            message = hover_message_;
            token = hover_token_;
        } else if (s->pin.message >= 0) {
            message = s->pin.message;
            token = s->pin.token;
            whole = s->pin.whole;
            occlusion_map = s->pin.occlusion_map;
        } else if (conversation_->generatingSession() == s && !s->messages.empty() &&
                   !s->messages.back().tokens.empty()) {
            message = int(s->messages.size()) - 1;  // live: the newest token
            token = int(s->messages.back().tokens.size()) - 1;
            live = true;
        }
        message_shown = message;
        live_shown = live;
        const bool relevancy = kind_ == MapKind::Relevancy, rollout = kind_ == MapKind::Rollout;
        auto mapOf = [relevancy, rollout](const TokenRecord& t) -> const std::vector<HeatmapGrid>& {
            return relevancy ? t.relevancy : rollout ? t.rollout : t.attention;
        };
        if (message >= 0 && message < int(s->messages.size())) {
            const ChatMessage& m = s->messages[size_t(message)];
            if (box) {
                const int n = int(m.tokens.size());
                const int b = std::clamp(box->token_begin, 0, n), e = std::clamp(box->token_end, b, n);
                for (int t = b; t < e; ++t)
                    if (!mapOf(m.tokens[size_t(t)]).empty())
                        grids.push_back(&mapOf(m.tokens[size_t(t)]));
                const QString label = QString::fromStdString(groundingBoxCaption(*box, hover_box_));
                v.caption = grids.empty() ? tr("Box “%1”").arg(label) : tr("Box “%1”: the words that named it").arg(label);
                if (e > b) {
                    v.highlight_message = message;
                    v.highlight_begin = b;
                    v.highlight_end = e;
                }
            } else if (occlusion_map && !m.occlusion_map.empty()) {
                grids.push_back(&m.occlusion_map);
                v.caption = m.occlusion_caption;
            } else if (whole) {
                for (const auto& t : m.tokens)
                    if (!mapOf(t).empty())
                        grids.push_back(&mapOf(t));
                if (relevancy)
                    v.caption = grids.empty()
                                    ? tr("Relevancy: click a word to compute its map")
                                    : tr("Relevancy: mean over the %1 tokens computed so far").arg(grids.size());
                else if (rollout)
                    v.caption = grids.empty() ? tr("Rollout: click a word of the last answer")
                                              : tr("Rollout: mean over the %1 words drawn so far").arg(grids.size());
                else
                    v.caption = grids.size() == 1 ? tr("Whole answer: one token")
                                                  : tr("Whole answer: mean over %1 tokens").arg(grids.size());
            } else if (token >= 0 && token < int(m.tokens.size())) {
                const auto [b, e] = m.wordOfToken(token);
                for (int t = b; t < e; ++t)
                    if (!mapOf(m.tokens[size_t(t)]).empty())
                        grids.push_back(&mapOf(m.tokens[size_t(t)]));
                const QString word = wordText(m, b, e);
                if (relevancy) {
                    const bool pending = std::any_of(pending_.begin(), pending_.end(), [&](const auto& p) {
                        return p.second.relevancy && p.second.message == message && p.second.tokens >= b &&
                               p.second.tokens < e;
                    });
                    v.caption = !grids.empty() ? tr("Relevancy of “%1”").arg(word)
                                : pending      ? tr("Computing the relevancy of “%1”…").arg(word)
                                               : tr("Click “%1” to compute its relevancy").arg(word);
                } else if (rollout) {
                    const bool pending = std::any_of(pending_.begin(), pending_.end(), [&](const auto& p) {
                        return p.second.rollout && p.second.message == message && p.second.tokens == b;
                    });
                    v.caption = !grids.empty()
                                    ? tr("Rollout of “%1”: its attention through the vision tower (Abnar & Zuidema)")
                                          .arg(word)
                                : pending ? tr("Carrying the attention of “%1” through the vision tower…").arg(word)
                                          : tr("Click “%1” to draw its rollout").arg(word);
                } else {
                    v.caption =
                        grids.empty() ? tr("No attention map for “%1”").arg(word) : tr("Word “%1”").arg(word);
                }
                if (!live) {  // the streaming cursor shows the newest word; no re-render per token
                    v.highlight_message = message;
                    v.highlight_begin = b;
                    v.highlight_end = e;
                }
            }
        }
        if (v.caption.isEmpty())
            v.caption = s->messages.empty() ? tr("Ask a question, then hover a word of the answer")
                                            : tr("Hover or click a word of an answer");
        v.boxes_message = boxesMessage(s->messages, message);
        if (v.boxes_message >= 0) {
            v.boxes = s->messages[size_t(v.boxes_message)].boxes;
            if (box) {
                v.highlight_box = hover_box_;
            } else if (message == v.boxes_message && token >= 0 && !whole &&
                       token < int(s->messages[size_t(message)].tokens.size())) {
                // The hovered word names a box: that box stands out.
                const auto [b, e] = s->messages[size_t(message)].wordOfToken(token);
                for (int i = 0; i < int(v.boxes.size()) && v.highlight_box < 0; ++i)
                    if (v.boxes[size_t(i)].token_begin < e && b < v.boxes[size_t(i)].token_end)
                        v.highlight_box = i;
            }
        }
    }
    // Several pictures: the word's share on each, and the overlay of the picture shown only.
    std::vector<std::vector<HeatmapGrid>> on_picture;
    if (s) {
        v.picture = std::clamp(s->chosen, 0, s->pictureCount() - 1);
        v.frame = s->picture(v.picture).video ? s->chosen_frame : -1;
        const bool off_main = std::any_of(grids.begin(), grids.end(), [](const auto* list) {
            return std::any_of(list->begin(), list->end(),
                               [](const HeatmapGrid& g) { return g.image != 0 || g.video >= 0; });
        });
        if (s->pictureCount() > 1 || off_main)
            on_picture = splitByPicture(*s, message_shown, grids, !live_shown, &v);
    }
    if (!on_picture.empty()) {
        grids.clear();
        for (const auto& list : on_picture)
            if (!list.empty())
                grids.push_back(&list);
    }
    if (!grids.empty())
        v.overlay = colorizeHeatmap(buildHeatmap(grids, s->picture(v.picture).original_size), colormap_);
    v.available = !v.overlay.isNull() || (s && std::any_of(s->messages.begin(), s->messages.end(),
                                                           [](const ChatMessage& m) { return m.hasAttention(); }));
    view_ = v;
    emit viewChanged(view_);
}

}  // namespace vqa::ui
