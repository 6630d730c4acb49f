// The window's menu bar: every command with its shortcut (File, View, Chat, Model, Tools, Help),
// what each triggers through the window's public face and its controllers, the list of
// recent images, and which commands are available now.
#pragma once

#include <QObject>

#include "ui/ChatPanel.h"

class QAction;
class QMenu;

namespace vqa::ui {

class MainWindow;

class MainMenus : public QObject {
    Q_OBJECT
public:
    explicit MainMenus(MainWindow* window);  // fills the window's menu bar

    void setState(const ChatPanel::State& state, bool has_model, bool local_model);

private:
    void rebuildRecentMenu();

    MainWindow* window_;
    QMenu* recent_menu_ = nullptr;
    QAction* describe_action_ = nullptr;
    QAction* stop_action_ = nullptr;
    QAction* regenerate_action_ = nullptr;
    QAction* new_action_ = nullptr;
    QAction* copy_action_ = nullptr;
    QAction* overlay_action_ = nullptr;
    QAction* export_md_action_ = nullptr;
    QAction* export_json_action_ = nullptr;
    QAction* model_info_action_ = nullptr;
    QAction* precision_action_ = nullptr;
    QAction* close_image_action_ = nullptr;
    QAction* find_similar_action_ = nullptr;
};

}  // namespace vqa::ui
