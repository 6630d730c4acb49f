// The window's wiring of the deeper explanations: the counterfactual checks
// (CounterfactualController: the Check menu above the image, the region dragged on the canvas,
// the bars under the words, the occlusion map over the image, the progress bar with its Stop)
// and the layer x head explorer (HeadExplorer: a click shows that head's map large).
#include <QProgressBar>

#include "ui/ChatView.h"
#include "ui/CounterfactualController.h"
#include "ui/ExplainBar.h"
#include "ui/ExplanationController.h"
#include "ui/HeadExplorer.h"
#include "ui/ImageCanvas.h"
#include "ui/ImageSet.h"
#include "ui/MainWindow.h"
#include "ui/StatusLine.h"

namespace vqa::ui {

void MainWindow::connectChecks() {
    ExplainBar* bar = explainBar();
    connect(checks_, &CounterfactualController::status, this, &MainWindow::setStatus);
    connect(bar, &ExplainBar::relianceRequested, checks_, [this] { checks_->requestReliance(); });
    connect(bar, &ExplainBar::occludeRequested, this, [this] {
        canvas()->setRegionPicking(true);
        setStatus(canvas()->isPickingRegion()
                      ? tr("Drag a rectangle over the region to hide (Escape: never mind).")
                      : tr("Open an image and ask about it first."));
    });
    connect(canvas(), &ImageCanvas::regionPicked, checks_, [this](const QRect& r) { checks_->requestOcclusion(r); });
    connect(bar, &ExplainBar::occlusionMapRequested, checks_, [this](int grid) { checks_->requestOcclusionMap(grid); });
    connect(bar, &ExplainBar::stopCheckRequested, checks_, &CounterfactualController::cancel);
    connect(checks_, &CounterfactualController::running, this, [this, bar](bool on) {
        bar->setCheckRunning(on);
        if (on)
            status_->showProgress(tr("checking %p%"), 0.0);
        else if (!busy())
            status_->hideProgress();
    });
    connect(checks_, &CounterfactualController::progress, this, [this](int done, int total) {
        status_->showProgress(tr("checking %p%"), total > 0 ? double(done) / total : -1);
    });
    connect(checks_, &CounterfactualController::barsChanged, this, [this](ImageSession* s, int) {
        if (s == images_->current().get())
            chatView()->updateBars();
    });
    connect(checks_, &CounterfactualController::occlusionMapReady, this, [this](ImageSession* s, int message) {
        if (s == images_->current().get())
            explanation_->showOcclusionMap(message);
    });

    connect(bar, &ExplainBar::headsRequested, explanation_, [this] { explanation_->requestHeadMaps(); });
    connect(explanation_, &ExplanationController::headMapsReady, this,
            [this, bar](const QString& title, const std::vector<HeadMap>& maps) {
                const ImageSession* s = images_->current().get();
                if (!s)
                    return;
                if (!head_explorer_) {
                    head_explorer_ = new HeadExplorer(this);
                    connect(head_explorer_, &HeadExplorer::headChosen, this, [this, bar](int layer, int head) {
                        bar->chooseLayers(layer, layer, head);
                        setStatus(tr("Layer %1, head %2 over the image.").arg(layer).arg(head));
                    });
                }
                // Over the picture the canvas shows (a conversation may hold several).
                const LoadedImage& picture = s->picture(explanation_->view().picture);
                head_explorer_->setMaps(title, maps, picture.display, picture.original_size, bar->colormap());
                head_explorer_->show();
                head_explorer_->raise();
            });
}

}  // namespace vqa::ui
