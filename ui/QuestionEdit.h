// The question box: Enter sends, Shift+Enter starts a new line; an image pasted or dropped
// into it goes to the image list instead of being refused.
#pragma once

#include <QPlainTextEdit>

namespace vqa::ui {

class QuestionEdit : public QPlainTextEdit {
    Q_OBJECT
public:
    explicit QuestionEdit(QWidget* parent = nullptr);
    QSize sizeHint() const override;

signals:
    void submitted();
    void imagePasted(const QMimeData* mime);

protected:
    void keyPressEvent(QKeyEvent* event) override;
    bool canInsertFromMimeData(const QMimeData* source) const override;
    void insertFromMimeData(const QMimeData* source) override;
};

}  // namespace vqa::ui
