// Where the model looked: which map is over the image (the hovered word, else the pinned word
// or answer, else the newest token while an answer streams), what the legend says about it,
// and the work the engine does on request: redrawing the last answer's maps with other
// layers and heads (regrid), and relevancy or rollout maps of a clicked word. Requests carry tickets
// (numbered from 1, in the order asked); an answer comes back to the ticket it was asked
// under, and a newer regrid supersedes an older one. No widgets: the window shows the
// HeatmapView it reports.
#pragma once

#include <functional>

#include <QImage>
#include <QObject>
#include <QString>
#include <QTimer>

#include <map>
#include <memory>
#include <vector>

#include "engine/Types.h"
#include "ui/Colormap.h"

namespace vqa {
class EngineWorker;
}

namespace vqa::ui {

struct ChatMessage;
class ConversationController;
class ImageSet;
class ModelController;
struct ImageSession;

// A word's share of its attention on one picture of the conversation (or one frame of a video
// the model saw): the sum of its grids' values there over the sum over all of them.
struct PictureShare {
    int picture = 0;  // ImageSession::picture
    int frame = -1;   // a video's: the place among the frames the model saw (HeatmapGrid::frame)
    double time_s = 0;
    float share = 0;
};

// Which of the session's pictures a grid of `message`'s answer lies on: {ImageSession::picture,
// the video's frame or -1}, {-1, -1} when none (the request's images and videos mapped back).
std::function<std::pair<int, int>(const HeatmapGrid&)> pictureKeys(const ImageSession& s, int message);

// What the window shows of the explanation.
struct HeatmapView {
    QImage overlay;  // colormapped map over the whole image; null: none
    QString caption;
    int highlight_message = -1;  // the word shown: tokens [begin, end) of a message
    int highlight_begin = 0;
    int highlight_end = 0;
    bool available = false;  // a map is up, or some answer of the image has maps
    // The boxes over the image (original-image pixels): those of the answer in view (hovered,
    // pinned or streaming) when it names any, else of the latest answer that does.
    std::vector<GroundingBox> boxes;
    int boxes_message = -1;  // the message they belong to
    int highlight_box = -1;  // hovered on the canvas, or named by the hovered word
    // With several pictures: the shown word's attention per picture and video frame (empty
    // with one picture), and the picture the canvas shows (the one the user chose, else the
    // one the word looked at most); the overlay lies on it alone.
    std::vector<PictureShare> shares;
    int picture = 0;
    int frame = -1;        // of a video: the frame the overlay lies on (-1: none)
    double frame_time_s = 0;
};

class ExplanationController : public QObject {
    Q_OBJECT
public:
    ExplanationController(EngineWorker* worker, ImageSet* images, ConversationController* conversation,
                          ModelController* model, QObject* parent = nullptr);

    // The heatmap of a word (the word holding `token`) or of a whole answer (-1: the last).
    void showTokenHeatmap(int message, int token);
    void showWholeAnswerHeatmap(int message = -1);
    // The occlusion map of answer `message` (ChatMessage::occlusion_map), pinned.
    void showOcclusionMap(int message);
    void clearHeatmap();
    // The pointer over a word of the chat, and off it again.
    void hover(int message, int token);
    void leave();
    // The pointer over box `box` of the view's boxes (-1: off them): the words that named it
    // are highlighted and their map shown.
    void hoverBox(int box);
    // The picture the canvas shows (a click on its thumbnail), and for a video the frame among
    // those the model saw (-1: the one the word looked at most); picture -1 lets the shown
    // word choose again.
    void choosePicture(int picture, int frame = -1);
    // Relevancy of the word holding `token` (computed on the worker; heatmapUpdated follows).
    // Returns false, saying why in status, when it cannot start now.
    bool requestRelevancy(int message, int token);
    // Redraws the last answer's maps with the request's layers and head (on the worker).
    bool regridLastAnswer();
    // Every layer's and head's map of the word in view (pinned or hovered) of the last answer,
    // or of the whole answer: headMapsReady follows. False, saying why, when there is none.
    bool requestHeadMaps();
    bool isExplaining() const { return !pending_.empty(); }

    // Which map a word shows: the attention captured while answering, relevancy (gradient-
    // weighted attention), or rollout (its attention carried through the vision tower's own
    // attention onto the patches); the last two computed when a word is clicked.
    enum class MapKind { Attention = 0, Relevancy = 1, Rollout = 2 };
    void setMapKind(MapKind kind);
    MapKind mapKind() const { return kind_; }
    // Rollout of the word holding `token` (the last answer's only: it needs the attention the
    // engine kept). False, saying why in status, when it cannot start now.
    bool requestRollout(int message, int token);
    void handleRollout(quint64 ticket, const std::vector<std::vector<HeatmapGrid>>& per_range);

    // How maps look: colormap, opacity (for exports), and attention or relevancy.
    void setColormap(Colormap map);
    Colormap colormap() const { return colormap_; }
    void setOpacity(double opacity);
    double opacity() const { return opacity_; }
    void setRelevancyMode(bool relevancy) { setMapKind(relevancy ? MapKind::Relevancy : MapKind::Attention); }
    bool relevancyMode() const { return kind_ == MapKind::Relevancy; }

    const HeatmapView& view() const { return view_; }
    // How the attention maps are reduced now (layers, heads), in words, for exports.
    QString attentionMethod() const;
    void update();  // computes the view again now

    // What the window forwards from the other controllers.
    void currentImageChanged();
    void answerStarted(ImageSession* session);
    void tokenAppended(ImageSession* session, bool has_attention);
    void answerEnded(ImageSession* session);
    void conversationCleared(ImageSession* session);
    void modelLoaded();

    // What the worker reports (tests may call them to stand in for it).
    void handleRegridded(quint64 ticket, const std::vector<std::vector<HeatmapGrid>>& per_token);
    void handleRelevancy(quint64 ticket, const std::vector<int>& indices,
                         const std::vector<std::vector<HeatmapGrid>>& per_index);
    void handleFailed(quint64 ticket, const QString& message);
    void handleHeadMaps(quint64 ticket, const std::vector<HeadMap>& maps);

signals:
    // `title` names the word or answer; the maps are layer by layer, head by head.
    void headMapsReady(const QString& title, const std::vector<vqa::HeadMap>& maps);
    void viewChanged(const vqa::ui::HeatmapView& view);
    void heatmapUpdated();  // a regrid or a relevancy map arrived (or failed)
    void relevancyRunning(bool running);
    void status(const QString& text);
    void error(const QString& title, const QString& message);

private:
    // The grids of each list that lie on the picture the view shows (`v`: its shares, picture
    // and frame are set here; `choose`: the picture the grids look at most, unless the user
    // chose one), for answer `message` of `s`.
    static std::vector<std::vector<HeatmapGrid>> splitByPicture(const ImageSession& s, int message,
                                                                const std::vector<const std::vector<HeatmapGrid>*>& grids,
                                                                bool choose, HeatmapView* v);
    // Answer `message` of `s` when `token` is one of its tokens and the answer is finished with
    // its model loaded; else null, saying why `what` cannot run now in status.
    const ChatMessage* finishedAnswer(const std::shared_ptr<ImageSession>& s, int message, int token,
                                      const QString& what);

    struct Pending {
        std::weak_ptr<ImageSession> session;
        int message = -1;
        int tokens = 0;  // regrid: the answer's token count; relevancy: the first token asked
        bool relevancy = false;
        bool heads = false;  // head maps (requestHeadMaps)
        bool rollout = false;  // tokens: the word's first token
        QString title;
    };

    EngineWorker* worker_;
    ImageSet* images_;
    ConversationController* conversation_;
    ModelController* model_;

    int hover_message_ = -1, hover_token_ = -1;
    int hover_box_message_ = -1, hover_box_ = -1;
    // The answer whose attention the engine keeps (the last one it generated): layer and
    // head changes re-reduce it there.
    std::weak_ptr<ImageSession> engine_answer_session_;
    int engine_answer_message_ = -1;
    bool regrid_after_answer_ = false;
    std::map<quint64, Pending> pending_;
    quint64 next_ticket_ = 0;

    Colormap colormap_ = Colormap::Turbo;
    double opacity_ = 0.55;
    MapKind kind_ = MapKind::Attention;
    HeatmapView view_;
    QTimer live_timer_;  // coalesces the overlay's updates while tokens stream in
};

}  // namespace vqa::ui
