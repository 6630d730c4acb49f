// First-run screen, shown in place of the chat while no model is loaded: what a model is,
// where to get SmolVLM, and a button to open a model folder.
#pragma once

#include <QWidget>

class QLabel;
class QPushButton;

namespace vqa::ui {

class WelcomePage : public QWidget {
    Q_OBJECT
public:
    explicit WelcomePage(QWidget* parent = nullptr);
    void setLastModel(const QString& dir);  // offers "Load it again" when not empty
    void setLoading(bool loading, const QString& what = {});
    QPushButton* openButton() const { return open_; }

signals:
    void openModelRequested();
    void reloadRequested(const QString& dir);

private:
    QLabel* text_;
    QPushButton* open_;
    QPushButton* reload_;
    QString last_model_;
};

}  // namespace vqa::ui
