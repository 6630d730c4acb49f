#include "ui/MainMenus.h"

#include <QAction>
#include <QApplication>
#include <QDockWidget>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QStandardPaths>

#include "ui/Dialogs.h"
#include "ui/ConversationController.h"
#include "ui/ExplainBar.h"
#include "ui/ExplanationController.h"
#include "ui/Exporter.h"
#include "ui/ImageCanvas.h"
#include "ui/ImageSet.h"
#include "ui/MainWindow.h"
#include "ui/ModelController.h"
#include "ui/QuestionEdit.h"
#include "ui/SettingsDialog.h"
#include "ui/WelcomePage.h"

namespace vqa::ui {

namespace {

// The file dialog's filter: the images the engine decodes and the videos it reads.
QString pictureFilter() {
    return QObject::tr("Images and videos (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff *.mp4 *.m4v *.mov *.webm "
                       "*.mkv *.avi);;Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff);;Videos (*.mp4 *.m4v "
                       "*.mov *.webm *.mkv *.avi);;All files (*)");
}

}  // namespace

MainMenus::MainMenus(MainWindow* window) : QObject(window), window_(window) {
    auto add = [this](QMenu* menu, const QString& text, const QKeySequence& key, auto slot) {
        QAction* a = menu->addAction(text);
        if (!key.isEmpty())
            a->setShortcut(key);
        connect(a, &QAction::triggered, this, slot);
        return a;
    };
    MainWindow* w = window;
    ImageSet* images = w->images();
    ConversationController* conversation = w->conversation();
    ImageCanvas* canvas = w->canvas();
    QuestionEdit* question = w->questionBox();

    QMenu* file = w->menuBar()->addMenu(tr("&File"));
    add(file, tr("&Open Image…"), QKeySequence::Open, [w, images] {
        QString start = images->lastDir();
        if (start.isEmpty())
            start = QStandardPaths::writableLocation(QStandardPaths::PicturesLocation);
        // Several files chosen at once: one conversation about them all.
        images->openMany(QFileDialog::getOpenFileNames(w, tr("Open Image or Video"), start, pictureFilter()));
    });
    add(file, tr("A&dd Image or Video to Conversation…"), QKeySequence(tr("Ctrl+Shift+A")), [w, images] {
        if (!dialogsAllowed())
            return;
        QString start = images->lastDir();
        if (start.isEmpty())
            start = QStandardPaths::writableLocation(QStandardPaths::PicturesLocation);
        images->addToCurrent(
            QFileDialog::getOpenFileNames(w, tr("Add Image or Video to Conversation"), start, pictureFilter()));
    });
    add(file, tr("&Paste Image"), QKeySequence::Paste, [images] { images->paste(); });
    recent_menu_ = file->addMenu(tr("Open &Recent"));
    connect(recent_menu_, &QMenu::aboutToShow, this, &MainMenus::rebuildRecentMenu);
    rebuildRecentMenu();
    file->addSeparator();
    add(file, tr("Caption a &Folder…"), QKeySequence(tr("Ctrl+Shift+O")), [w] {
        if (!dialogsAllowed()) {
            w->showCaptionFolder();
            return;
        }
        const QString dir = QFileDialog::getExistingDirectory(w, tr("Caption a Folder"), QDir::homePath());
        if (!dir.isEmpty())
            w->showCaptionFolder({dir});
    });
    file->addSeparator();
    close_image_action_ = add(file, tr("&Close Image"), QKeySequence::Close,
                              [w, images] { w->closeImage(images->currentIndex()); });
    w->thumbnailStrip()->addAction(close_image_action_);
    file->addSeparator();
    export_md_action_ = add(file, tr("&Export Conversation as Markdown…"), QKeySequence(tr("Ctrl+E")), [w] {
        const QString path = QFileDialog::getSaveFileName(w, tr("Export as Markdown"),
                                                          QDir::homePath() + "/conversation.md", tr("Markdown (*.md)"));
        if (!path.isEmpty())
            w->exporter()->exportMarkdown(path);
    });
    export_json_action_ = add(file, tr("Export Conversation as &JSON…"), QKeySequence(tr("Ctrl+Shift+E")), [w] {
        const QString path = QFileDialog::getSaveFileName(w, tr("Export as JSON"),
                                                          QDir::homePath() + "/conversation.json", tr("JSON (*.json)"));
        if (!path.isEmpty())
            w->exporter()->exportJson(path);
    });
    add(file, tr("&Save Heatmap Image…"), QKeySequence(tr("Ctrl+Shift+S")),
        [w] { emit w->explainBar()->saveRequested(); });
    file->addSeparator();
    add(file, tr("&Quit"), QKeySequence::Quit, [w] { w->close(); });

    QMenu* view = w->menuBar()->addMenu(tr("&View"));
    QAction* library = w->libraryDock()->toggleViewAction();
    library->setText(tr("&Library"));
    library->setShortcut(QKeySequence(tr("Ctrl+L")));
    view->addAction(library);
    view->addSeparator();
    add(view, tr("&Fit to Window"), QKeySequence(tr("Ctrl+0")), [canvas] { canvas->fitToWindow(); });
    add(view, tr("&Actual Size"), QKeySequence(tr("Ctrl+1")), [canvas] { canvas->actualSize(); });
    QAction* zin = add(view, tr("Zoom &In"), QKeySequence::ZoomIn, [canvas] { canvas->zoomIn(); });
    zin->setShortcuts({QKeySequence::ZoomIn, QKeySequence(tr("Ctrl+="))});
    add(view, tr("Zoom &Out"), QKeySequence::ZoomOut, [canvas] { canvas->zoomOut(); });
    view->addSeparator();
    overlay_action_ = add(view, tr("Show &Heatmap"), QKeySequence(tr("Ctrl+H")),
                          [w](bool on) { w->explainBar()->setOverlayVisible(on); });
    overlay_action_->setCheckable(true);
    overlay_action_->setChecked(w->settings().overlay_visible);
    connect(w->explainBar(), &ExplainBar::overlayToggled, overlay_action_, &QAction::setChecked);
    QAction* boxes = add(view, tr("Show &Boxes"), QKeySequence(tr("Ctrl+B")),
                         [w](bool on) { w->explainBar()->setBoxesVisible(on); });
    boxes->setCheckable(true);
    boxes->setChecked(w->settings().boxes_visible);
    connect(w->explainBar(), &ExplainBar::boxesToggled, boxes, &QAction::setChecked);
    add(view, tr("&Whole-Answer Heatmap"), QKeySequence(tr("Ctrl+Shift+H")),
        [w] { w->explanation()->showWholeAnswerHeatmap(); });
    view->addSeparator();
    add(view, tr("&Previous Image"), QKeySequence(tr("Ctrl+PgUp")), [images] {
        if (images->currentIndex() > 0)
            images->setCurrent(images->currentIndex() - 1);
    });
    add(view, tr("&Next Image"), QKeySequence(tr("Ctrl+PgDown")), [images] {
        if (images->currentIndex() + 1 < images->count())
            images->setCurrent(images->currentIndex() + 1);
    });

    QMenu* chat = w->menuBar()->addMenu(tr("&Chat"));
    describe_action_ =
        add(chat, tr("&Describe Image"), QKeySequence(tr("Ctrl+D")), [conversation] { conversation->describe(); });
    add(chat, tr("&Ask Question"), QKeySequence(tr("Ctrl+Return")), [question] { emit question->submitted(); });
    add(chat, tr("Type a &Question"), QKeySequence(tr("Ctrl+K")), [question] { question->setFocus(); });
    stop_action_ = add(chat, tr("&Stop"), QKeySequence(Qt::Key_Escape), [conversation] { conversation->stop(); });
    regenerate_action_ =
        add(chat, tr("&Regenerate"), QKeySequence(tr("Ctrl+R")), [conversation] { conversation->regenerate(); });
    new_action_ =
        add(chat, tr("&New Conversation"), QKeySequence::New, [conversation] { conversation->newConversation(); });
    copy_action_ = add(chat, tr("&Copy Answer"), QKeySequence(tr("Ctrl+Shift+C")), [w] { w->copyLastAnswer(); });

    QMenu* model = w->menuBar()->addMenu(tr("&Model"));
    add(model, tr("Open &Model Folder…"), QKeySequence(tr("Ctrl+M")),
        [w] { emit w->welcomePage()->openModelRequested(); });
    add(model, tr("Connect to a &Server…"), QKeySequence(), [w] { w->showServerDialog(); });
    model_info_action_ = add(model, tr("Model &Information…"), QKeySequence(tr("Ctrl+I")), [w] {
        if (dialogsAllowed())
            QMessageBox::information(w, tr("Model Information"), w->model()->infoText());
    });
    add(model, tr("Mo&dels…"), QKeySequence(tr("Ctrl+Shift+M")), [w] { w->showModelManager(); });
    precision_action_ = add(model, tr("&Precision…"), QKeySequence(), [w] { w->showPrecision(); });
    model->addSeparator();
    QAction* prefs = add(model, tr("&Settings…"), QKeySequence::Preferences, [w] {
        SettingsDialog dialog(w->settings(), w);
        w->describeImageDetail(&dialog);
        if (dialog.exec() == QDialog::Accepted)
            w->applySettings(dialog.settings());
    });
    prefs->setShortcuts({QKeySequence::Preferences, QKeySequence(tr("Ctrl+,"))});

    QMenu* tools = w->menuBar()->addMenu(tr("&Tools"));
    add(tools, tr("&Evaluate…"), QKeySequence(), [w] { w->showEvaluate(); });
    add(tools, tr("&Search Images…"), QKeySequence(tr("Ctrl+Shift+F")), [w] { w->showSearch(); });
    find_similar_action_ = add(tools, tr("Find Similar &Images"), QKeySequence(), [w] { w->findSimilarToCurrent(); });

    QMenu* help = w->menuBar()->addMenu(tr("&Help"));
    add(help, tr("&Getting a Model"), QKeySequence(), [w] { w->showWelcome(); });
    add(help, tr("&About VQA Studio"), QKeySequence(), [w] {
        if (dialogsAllowed())
            QMessageBox::about(w, tr("About VQA Studio"),
                               tr("<b>VQA Studio</b> %1<br>Ask questions about images, locally, and see where "
                                  "the model looked.").arg(QApplication::applicationVersion()));
    });
}

void MainMenus::rebuildRecentMenu() {
    recent_menu_->clear();
    const QStringList list = window_->images()->recent();
    for (int i = 0; i < list.size(); ++i) {
        const QString path = list[i];
        QAction* a =
            recent_menu_->addAction(QStringLiteral("&%1  %2").arg((i + 1) % 10).arg(QFileInfo(path).fileName()));
        a->setToolTip(QDir::toNativeSeparators(path));
        connect(a, &QAction::triggered, this, [this, path] { window_->openImage(path); });
    }
    if (list.isEmpty()) {
        recent_menu_->addAction(tr("(none yet)"))->setEnabled(false);
    } else {
        recent_menu_->addSeparator();
        connect(recent_menu_->addAction(tr("Clear List")), &QAction::triggered, window_->images(),
                &ImageSet::clearRecent);
    }
}

void MainMenus::setState(const ChatPanel::State& s, bool has_model, bool local_model) {
    describe_action_->setEnabled(s.can_ask);
    stop_action_->setEnabled(s.busy);
    regenerate_action_->setEnabled(s.can_regenerate);
    new_action_->setEnabled(s.can_clear);
    copy_action_->setEnabled(s.can_copy);
    export_md_action_->setEnabled(s.has_image);
    export_json_action_->setEnabled(s.has_image);
    model_info_action_->setEnabled(has_model);
    precision_action_->setEnabled(local_model); // a server's model runs as the server runs it
    close_image_action_->setEnabled(s.has_image);
    find_similar_action_->setEnabled(s.has_image);
}

}  // namespace vqa::ui
