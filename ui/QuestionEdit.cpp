#include "ui/QuestionEdit.h"

#include <QFileInfo>
#include <QImageReader>
#include <QKeyEvent>
#include <QMimeData>

namespace vqa::ui {
namespace {
bool isImageOnly(const QMimeData* m) {
    if (m->hasImage())
        return true;
    if (!m->hasUrls() || m->urls().isEmpty())
        return false;
    // Files with an image suffix (file managers also offer their path as text).
    static const QList<QByteArray> formats = QImageReader::supportedImageFormats();
    for (const QUrl& url : m->urls())
        if (!url.isLocalFile() || !formats.contains(QFileInfo(url.toLocalFile()).suffix().toLower().toLatin1()))
            return false;
    return true;
}
}  // namespace

QuestionEdit::QuestionEdit(QWidget* parent) : QPlainTextEdit(parent) {
    setAccessibleName(tr("Question"));
    setAccessibleDescription(tr("Type a question about the image; Enter sends, Shift+Enter starts a new line."));
    setPlaceholderText(tr("Ask about the image…  (Enter sends, Shift+Enter new line)"));
    setTabChangesFocus(true);
}

QSize QuestionEdit::sizeHint() const {
    const int line = fontMetrics().lineSpacing();
    return {300, line * 3 + 14};
}

void QuestionEdit::keyPressEvent(QKeyEvent* event) {
    if ((event->key() == Qt::Key_Return || event->key() == Qt::Key_Enter) &&
        !(event->modifiers() & (Qt::ShiftModifier | Qt::AltModifier))) {
        emit submitted();
        event->accept();
        return;
    }
    QPlainTextEdit::keyPressEvent(event);
}

bool QuestionEdit::canInsertFromMimeData(const QMimeData* source) const {
    return isImageOnly(source) || QPlainTextEdit::canInsertFromMimeData(source);
}

void QuestionEdit::insertFromMimeData(const QMimeData* source) {
    if (isImageOnly(source))
        emit imagePasted(source);
    else
        QPlainTextEdit::insertFromMimeData(source);
}

}  // namespace vqa::ui
