#include "ui/WelcomePage.h"

#include <QDir>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QVBoxLayout>

#include "engine/hub/KnownModels.h"
#include "ui/ModelDownloads.h"

namespace vqa::ui {
namespace {

const hub::KnownModel* recommendedModel() {
    for (const auto& m : hub::knownModels())
        if (m.recommended)
            return &m;
    return hub::knownModels().empty() ? nullptr : &hub::knownModels().front();
}

}  // namespace

WelcomePage::WelcomePage(QWidget* parent)
    : QWidget(parent), text_(new QLabel), open_(new QPushButton(tr("Open Model Folder…"))), reload_(new QPushButton),
      download_(new QPushButton), manager_(new QPushButton(tr("All Models…"))), download_box_(new QWidget),
      progress_(new QProgressBar), download_text_(new QLabel), pause_(new QPushButton(tr("Pause"))),
      cancel_(new QPushButton(tr("Cancel"))) {
    setAccessibleName(tr("Welcome"));
    auto* title = new QLabel(tr("Welcome to VQA Studio"));
    QFont f = title->font();
    f.setPointSizeF(f.pointSizeF() * 1.7);
    f.setWeight(QFont::DemiBold);
    title->setFont(f);
    title->setWordWrap(true);

    const hub::KnownModel* rec = recommendedModel();
    const QString rec_name = rec ? QString::fromStdString(rec->name) : QStringLiteral("SmolVLM");
    const QString rec_size = rec ? QString::fromStdString(hub::formatBytes(rec->download_bytes)) : QString();
    recommended_repo_ = rec ? QString::fromStdString(rec->repo_id) : QString();

    auto* lead = new QLabel(tr("Ask questions about your images, and see where the model looked for every word "
                               "of its answer. Everything runs on this computer; your images never leave it."));
    lead->setWordWrap(true);

    auto* heading = new QLabel(tr("First, a model"));
    QFont hf = heading->font();
    hf.setPointSizeF(hf.pointSizeF() * 1.2);
    hf.setWeight(QFont::DemiBold);
    heading->setFont(hf);

    text_->setText(
        tr("<p>A <b>model</b> is what does the seeing and the answering: a folder with its weights "
           "(<code>*.safetensors</code>), its configuration and its tokenizer. VQA Studio does not ship one; "
           "you get it once, and it stays on this computer.</p>"
           "<p>A good first model is <b>%1</b> (%2 download, free under the Apache 2.0 licence): quick on an "
           "ordinary CPU, good at captions and simple questions. It comes from "
           "<a href=\"https://huggingface.co/%3\">Hugging Face</a> and is kept in the same cache Python tools use.</p>")
            .arg(rec_name, rec_size, recommended_repo_));
    text_->setWordWrap(true);
    text_->setTextFormat(Qt::RichText);
    text_->setOpenExternalLinks(true);
    text_->setTextInteractionFlags(Qt::TextBrowserInteraction);
    text_->setAccessibleName(tr("What a model is"));

    download_->setText(tr("Download %1").arg(rec_name));
    download_->setToolTip(tr("Download %1 (%2) from Hugging Face, then load it").arg(recommended_repo_, rec_size));
    download_->setAccessibleName(tr("Download the recommended model"));
    download_->setDefault(true);
    QFont bf = download_->font();
    bf.setPointSizeF(bf.pointSizeF() * 1.1);
    bf.setWeight(QFont::DemiBold);
    download_->setFont(bf);
    download_->setMinimumHeight(download_->sizeHint().height() + 10);
    open_->setAccessibleName(tr("Open model folder"));
    open_->setToolTip(tr("Load a model folder you already have (config.json, *.safetensors, tokenizer)"));
    open_->setMinimumHeight(download_->minimumHeight());
    manager_->setAccessibleName(tr("All models"));
    manager_->setToolTip(tr("Other models, models already downloaded, and downloads (Ctrl+Shift+M)"));
    manager_->setMinimumHeight(download_->minimumHeight());
    reload_->setVisible(false);
    reload_->setMinimumHeight(download_->minimumHeight());

    connect(download_, &QPushButton::clicked, this, [this] {
        if (!recommended_cached_.isEmpty())
            emit reloadRequested(recommended_cached_);
        else
            emit downloadRequested(recommended_repo_);
    });
    connect(open_, &QPushButton::clicked, this, &WelcomePage::openModelRequested);
    connect(reload_, &QPushButton::clicked, this, [this] { emit reloadRequested(last_model_); });
    connect(manager_, &QPushButton::clicked, this, &WelcomePage::managerRequested);
    connect(pause_, &QPushButton::clicked, this, [this] {
        if (paused_)
            emit resumeRequested();
        else
            emit pauseRequested();
    });
    connect(cancel_, &QPushButton::clicked, this, &WelcomePage::cancelRequested);

    // Download progress, shown while a download runs or is paused.
    progress_->setRange(0, 1000);
    progress_->setAccessibleName(tr("Download progress"));
    download_text_->setWordWrap(true);
    download_text_->setTextFormat(Qt::PlainText);
    download_text_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    download_text_->setAccessibleName(tr("Download status"));
    pause_->setAccessibleName(tr("Pause or resume the download"));
    cancel_->setAccessibleName(tr("Cancel the download"));
    auto* box = new QVBoxLayout(download_box_);
    box->setContentsMargins(0, 4, 0, 0);
    auto* bar_row = new QHBoxLayout;
    bar_row->addWidget(progress_, 1);
    bar_row->addWidget(pause_);
    bar_row->addWidget(cancel_);
    box->addLayout(bar_row);
    box->addWidget(download_text_);
    download_box_->setVisible(false);

    auto* content = new QWidget;
    content->setMaximumWidth(620);
    auto* layout = new QVBoxLayout(content);
    layout->setContentsMargins(32, 28, 32, 24);
    layout->setSpacing(14);
    layout->addWidget(title);
    layout->addWidget(lead);
    layout->addSpacing(4);
    layout->addWidget(heading);
    layout->addWidget(text_);
    auto* primary = new QHBoxLayout;
    primary->setSpacing(10);
    primary->addWidget(download_);
    primary->addWidget(reload_);
    primary->addStretch(1);
    layout->addLayout(primary);
    layout->addWidget(download_box_);
    auto* secondary = new QHBoxLayout;
    secondary->setSpacing(10);
    secondary->addWidget(open_);
    secondary->addWidget(manager_);
    secondary->addStretch(1);
    layout->addLayout(secondary);
    auto* hint = new QLabel(tr("Meanwhile you can already drop images on the left, paste one (Ctrl+V) or open one (Ctrl+O)."));
    hint->setWordWrap(true);
    hint->setForegroundRole(QPalette::PlaceholderText);
    layout->addSpacing(6);
    layout->addWidget(hint);
    layout->addStretch(1);

    auto* holder = new QWidget;
    auto* center = new QHBoxLayout(holder);
    center->setContentsMargins(0, 0, 0, 0);
    center->addWidget(content, 0, Qt::AlignTop | Qt::AlignHCenter);

    auto* scroll = new QScrollArea;
    scroll->setWidget(holder);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    outer->addWidget(scroll);
}

void WelcomePage::setLastModel(const QString& dir) {
    last_model_ = dir;
    reload_->setText(tr("Load %1 again").arg(ModelDownloads::displayName(dir)));
    reload_->setToolTip(QDir::toNativeSeparators(dir));
    // A snapshot folder's name is a commit hash: the cached-model button says it better.
    reload_->setVisible(!dir.isEmpty() && QDir::cleanPath(dir) != QDir::cleanPath(recommended_cached_));
}

void WelcomePage::setRecommendedCached(const QString& snapshot_dir) {
    recommended_cached_ = snapshot_dir;
    const hub::KnownModel* rec = recommendedModel();
    const QString name = rec ? QString::fromStdString(rec->name) : QStringLiteral("SmolVLM");
    download_->setText(snapshot_dir.isEmpty() ? tr("Download %1").arg(name) : tr("Load %1").arg(name));
    download_->setToolTip(snapshot_dir.isEmpty() ? tr("Download %1 from Hugging Face, then load it").arg(recommended_repo_)
                                                 : tr("Already downloaded: %1").arg(QDir::toNativeSeparators(snapshot_dir)));
    setLastModel(last_model_);
}

void WelcomePage::setLoading(bool loading, const QString& what) {
    open_->setEnabled(!loading);
    reload_->setEnabled(!loading);
    download_->setEnabled(!loading);
    open_->setText(loading ? tr("Loading %1…").arg(what) : tr("Open Model Folder…"));
}

void WelcomePage::setDownloadProgress(double fraction, const QString& text) {
    download_box_->setVisible(true);
    if (fraction < 0) {
        progress_->setRange(0, 0);
    } else {
        progress_->setRange(0, 1000);
        progress_->setValue(int(fraction * 1000));
    }
    download_text_->setText(text);
    download_text_->setForegroundRole(QPalette::WindowText);
}

void WelcomePage::setDownloadState(bool running, bool paused) {
    paused_ = paused;
    download_box_->setVisible(running || paused || download_box_->isVisible());
    download_->setEnabled(!running && !paused);
    pause_->setVisible(running || paused);
    cancel_->setVisible(running || paused);
    pause_->setText(paused ? tr("Resume") : tr("Pause"));
    if (paused && progress_->maximum() == 0)
        progress_->setRange(0, 1000);  // a paused bar does not spin
}

void WelcomePage::setDownloadMessage(const QString& text, bool error) {
    download_box_->setVisible(true);
    download_text_->setText(text);
    QPalette pal = download_text_->palette();
    const bool dark = palette().color(QPalette::Window).lightness() < 128;
    pal.setColor(QPalette::WindowText, error ? (dark ? QColor(255, 120, 110) : QColor(190, 30, 30))
                                             : palette().color(QPalette::WindowText));
    download_text_->setPalette(pal);
    download_text_->setForegroundRole(QPalette::WindowText);
}

void WelcomePage::hideDownload() {
    download_box_->setVisible(false);
    paused_ = false;
    download_->setEnabled(true);
}

QString WelcomePage::downloadMessage() const { return download_text_->text(); }

}  // namespace vqa::ui
