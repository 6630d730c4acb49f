#include "ui/ChatPanel.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

#include "ui/ChatView.h"
#include "ui/PendingPictures.h"
#include "ui/QuestionEdit.h"

namespace vqa::ui {

ChatPanel::ChatPanel(QWidget* parent)
    : QWidget(parent), header_(new QLabel), chat_(new ChatView), pending_(new PendingPictures),
      question_(new QuestionEdit),
      send_(new QPushButton(tr("Ask"))), describe_(new QPushButton(tr("Describe"))),
      regenerate_(new QPushButton(tr("Regenerate"))), new_(new QPushButton(tr("New"))),
      copy_(new QPushButton(tr("Copy"))) {
    header_->setTextFormat(Qt::PlainText);
    header_->setContentsMargins(8, 2, 8, 2);
    header_->setAccessibleName(tr("Model and image"));
    send_->setAccessibleName(tr("Ask"));
    send_->setDefault(true);
    describe_->setToolTip(tr("Describe the image (Ctrl+D)"));
    describe_->setAccessibleName(tr("Describe the image"));
    regenerate_->setToolTip(tr("Answer the last question again (Ctrl+R)"));
    new_->setToolTip(tr("Start a new conversation about this image (Ctrl+N)"));
    new_->setAccessibleName(tr("New conversation"));
    copy_->setToolTip(tr("Copy the last answer (Ctrl+Shift+C)"));
    copy_->setAccessibleName(tr("Copy the last answer"));

    auto* actions_row = new QHBoxLayout;
    actions_row->addWidget(describe_);
    actions_row->addWidget(regenerate_);
    actions_row->addWidget(new_);
    actions_row->addWidget(copy_);
    actions_row->addStretch(1);
    auto* ask_row = new QHBoxLayout;
    ask_row->addWidget(question_, 1);
    ask_row->addWidget(send_, 0, Qt::AlignBottom);
    question_->setMaximumHeight(question_->sizeHint().height() * 2);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 4, 6, 6);
    layout->setSpacing(6);
    layout->addWidget(header_);
    layout->addWidget(chat_, 1);
    layout->addLayout(actions_row);
    layout->addWidget(pending_);
    layout->addLayout(ask_row);

    connect(question_, &QuestionEdit::submitted, this, &ChatPanel::sendRequested);
    connect(send_, &QPushButton::clicked, this, &ChatPanel::sendRequested);
    connect(describe_, &QPushButton::clicked, this, &ChatPanel::describeRequested);
    connect(regenerate_, &QPushButton::clicked, this, &ChatPanel::regenerateRequested);
    connect(new_, &QPushButton::clicked, this, &ChatPanel::newRequested);
    connect(copy_, &QPushButton::clicked, this, &ChatPanel::copyRequested);
}

void ChatPanel::setHeader(const QString& text, const QString& tooltip) {
    header_->setText(text);
    header_->setToolTip(tooltip);
}

void ChatPanel::setState(const State& s) {
    send_->setText(s.busy ? tr("Stop") : tr("Ask"));
    send_->setToolTip(s.busy ? tr("Stop the answer (Esc)") : tr("Send the question (Enter)"));
    send_->setAccessibleName(s.busy ? tr("Stop") : tr("Ask"));
    send_->setEnabled(true);  // asking says what is missing, if anything
    describe_->setEnabled(s.can_ask);
    regenerate_->setEnabled(s.can_regenerate);
    new_->setEnabled(s.can_clear);
    copy_->setEnabled(s.can_copy);
    if (!s.has_image)
        question_->setPlaceholderText(tr("Open an image, then ask about it here…"));
    else
        question_->setPlaceholderText(tr("Ask about the image…  (Enter sends, Shift+Enter new line)"));
}

}  // namespace vqa::ui
