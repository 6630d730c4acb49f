#include "ui/WelcomePage.h"

#include <QDir>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QVBoxLayout>

namespace vqa::ui {

WelcomePage::WelcomePage(QWidget* parent)
    : QWidget(parent), text_(new QLabel), open_(new QPushButton(tr("Open Model Folder…"))),
      reload_(new QPushButton) {
    setAccessibleName(tr("Welcome"));
    auto* title = new QLabel(tr("Welcome to VQA Studio"));
    QFont f = title->font();
    f.setPointSizeF(f.pointSizeF() * 1.6);
    f.setWeight(QFont::DemiBold);
    title->setFont(f);
    title->setWordWrap(true);

    const QString command =
        QStringLiteral("pip install -U \"huggingface_hub[cli]\"<br>"
                       "huggingface-cli download HuggingFaceTB/SmolVLM-256M-Instruct \\<br>"
                       "&nbsp;&nbsp;--local-dir ~/models/SmolVLM-256M-Instruct");
    text_->setText(
        tr("<p>Ask questions about your images, and see where the model looked for every word of "
           "its answer. Everything runs on this computer; your images never leave it.</p>"
           "<h3>First, a model</h3>"
           "<p>A <b>model</b> is a folder of files that does the seeing and the answering: its "
           "weights (<code>*.safetensors</code>), its configuration (<code>config.json</code>) and "
           "its tokenizer. VQA Studio does not ship one; you download it once.</p>"
           "<p>A good first model is <b>SmolVLM-256M-Instruct</b> (about 0.5 GB, runs well on an "
           "ordinary CPU), free on <a href=\"https://huggingface.co/HuggingFaceTB/SmolVLM-256M-Instruct\">"
           "Hugging Face</a>. In a terminal:</p>"
           "<p style=\"font-family: monospace; margin-left: 12px\">%1</p>"
           "<p>Then choose <b>Open Model Folder…</b> and pick that folder. VQA Studio remembers it "
           "for next time.</p>"
           "<p>Meanwhile you can already drop images on the left.</p>")
            .arg(command));
    text_->setWordWrap(true);
    text_->setTextFormat(Qt::RichText);
    text_->setOpenExternalLinks(true);
    text_->setTextInteractionFlags(Qt::TextBrowserInteraction);
    text_->setAccessibleName(tr("How to get a model"));

    open_->setDefault(true);
    open_->setAccessibleName(tr("Open model folder"));
    QFont bf = open_->font();
    bf.setPointSizeF(bf.pointSizeF() * 1.1);
    open_->setFont(bf);
    open_->setMinimumHeight(open_->sizeHint().height() + 8);
    reload_->setVisible(false);
    connect(open_, &QPushButton::clicked, this, &WelcomePage::openModelRequested);
    connect(reload_, &QPushButton::clicked, this, [this] { emit reloadRequested(last_model_); });

    auto* content = new QWidget;
    auto* layout = new QVBoxLayout(content);
    layout->setContentsMargins(28, 24, 28, 24);
    layout->setSpacing(12);
    layout->addWidget(title);
    layout->addWidget(text_);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(open_);
    buttons->addWidget(reload_);
    buttons->addStretch(1);
    layout->addLayout(buttons);
    layout->addStretch(1);

    auto* scroll = new QScrollArea;
    scroll->setWidget(content);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    outer->addWidget(scroll);
}

void WelcomePage::setLastModel(const QString& dir) {
    last_model_ = dir;
    reload_->setText(tr("Load %1 again").arg(QFileInfo(dir).fileName()));
    reload_->setToolTip(QDir::toNativeSeparators(dir));
    reload_->setVisible(!dir.isEmpty());
}

void WelcomePage::setLoading(bool loading, const QString& what) {
    open_->setEnabled(!loading);
    reload_->setEnabled(!loading);
    open_->setText(loading ? tr("Loading %1…").arg(what) : tr("Open Model Folder…"));
}

}  // namespace vqa::ui
