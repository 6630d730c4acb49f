#include "ui/ModelManagerDialog.h"

#include <QDialogButtonBox>
#include <QDir>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "engine/hub/KnownModels.h"
#include "ui/ModelDownloads.h"

namespace vqa::ui {
namespace {

enum Column { NameColumn, SizeColumn, LicenseColumn, StatusColumn };
constexpr int kRepoRole = Qt::UserRole;
constexpr int kSnapshotRole = Qt::UserRole + 1;
constexpr int kGoodForRole = Qt::UserRole + 2;

QString bytes(std::uint64_t n) { return QString::fromStdString(hub::formatBytes(n)); }

}  // namespace

ModelManagerDialog::ModelManagerDialog(ModelDownloads* downloads, QWidget* parent)
    : QDialog(parent), downloads_(downloads), list_(new QTreeWidget), details_(new QLabel), message_(new QLabel),
      progress_(new QProgressBar), download_(new QPushButton(tr("&Download"))), pause_(new QPushButton(tr("&Pause"))),
      cancel_(new QPushButton(tr("&Cancel Download"))), load_(new QPushButton(tr("&Load"))), other_(new QLineEdit),
      other_download_(new QPushButton(tr("Download"))) {
    setWindowTitle(tr("Models"));
    setAccessibleName(tr("Models"));
    resize(760, 520);

    auto* intro = new QLabel(tr("Models that work with VQA Studio, and the ones already on this computer. "
                                "Downloads go to the Hugging Face cache (%1), where other tools find them too.")
                                 .arg(QDir::toNativeSeparators(ModelDownloads::cacheDir())));
    intro->setWordWrap(true);

    list_->setColumnCount(4);
    list_->setHeaderLabels({tr("Model"), tr("Download"), tr("Licence"), tr("On this computer")});
    list_->setRootIsDecorated(false);
    list_->setUniformRowHeights(true);
    list_->setAlternatingRowColors(true);
    list_->setAccessibleName(tr("Models"));
    list_->header()->setStretchLastSection(true);
    list_->header()->setSectionResizeMode(NameColumn, QHeaderView::Stretch);
    list_->header()->setSectionResizeMode(SizeColumn, QHeaderView::ResizeToContents);
    list_->header()->setSectionResizeMode(LicenseColumn, QHeaderView::ResizeToContents);
    list_->header()->setSectionResizeMode(StatusColumn, QHeaderView::Interactive);
    list_->header()->resizeSection(StatusColumn, 200);

    details_->setWordWrap(true);
    details_->setTextFormat(Qt::RichText);
    details_->setMinimumHeight(details_->fontMetrics().height() * 3);
    details_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    details_->setAccessibleName(tr("About the model"));

    progress_->setRange(0, 1000);
    progress_->setAccessibleName(tr("Download progress"));
    progress_->setTextVisible(true);
    message_->setWordWrap(true);
    message_->setTextFormat(Qt::PlainText);
    message_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    message_->setAccessibleName(tr("Download status"));

    download_->setAccessibleName(tr("Download the model"));
    pause_->setAccessibleName(tr("Pause the download"));
    cancel_->setAccessibleName(tr("Cancel the download"));
    load_->setAccessibleName(tr("Load the model"));
    load_->setDefault(true);
    other_->setPlaceholderText(tr("Another model on the Hub: organisation/name"));
    other_->setAccessibleName(tr("Model id on the Hub"));
    other_download_->setAccessibleName(tr("Download the model named"));

    auto* buttons = new QHBoxLayout;
    buttons->addWidget(download_);
    buttons->addWidget(pause_);
    buttons->addWidget(cancel_);
    buttons->addStretch(1);
    buttons->addWidget(load_);

    auto* other_row = new QHBoxLayout;
    other_row->addWidget(other_, 1);
    other_row->addWidget(other_download_);

    auto* close = new QDialogButtonBox(QDialogButtonBox::Close);
    connect(close, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto* layout = new QVBoxLayout(this);
    layout->setSpacing(8);
    layout->addWidget(intro);
    layout->addWidget(list_, 1);
    layout->addWidget(details_);
    layout->addLayout(buttons);
    layout->addWidget(progress_);
    layout->addWidget(message_);
    layout->addLayout(other_row);
    layout->addWidget(close);

    connect(list_, &QTreeWidget::currentItemChanged, this, [this] {
        updateDetails();
        updateButtons();
    });
    connect(list_, &QTreeWidget::itemDoubleClicked, this, [this] {
        if (load_->isEnabled())
            load_->click();
    });
    connect(download_, &QPushButton::clicked, this, [this] {
        const QString repo = selectedRepo();
        if (!repo.isEmpty() && downloads_->start(repo))
            showMessage(tr("Downloading %1…").arg(repo), false);
    });
    connect(other_download_, &QPushButton::clicked, this, [this] {
        const QString repo = other_->text().trimmed();
        if (repo.isEmpty())
            return;
        if (downloads_->start(repo))
            showMessage(tr("Downloading %1…").arg(repo), false);
    });
    connect(other_, &QLineEdit::returnPressed, other_download_, &QPushButton::click);
    connect(pause_, &QPushButton::clicked, this, [this] {
        if (downloads_->running())
            downloads_->pause();
        else if (downloads_->state() == ModelDownloads::State::Paused || downloads_->state() == ModelDownloads::State::Failed)
            downloads_->start(downloads_->repo());  // resume
    });
    connect(cancel_, &QPushButton::clicked, downloads_, &ModelDownloads::cancel);
    connect(load_, &QPushButton::clicked, this, [this] {
        const QString dir = snapshotOf(selectedRepo());
        if (dir.isEmpty())
            return;
        emit loadRequested(dir);
        accept();
    });

    connect(downloads_, &ModelDownloads::progressChanged, this, &ModelManagerDialog::onProgress);
    connect(downloads_, &ModelDownloads::stateChanged, this, [this] {
        using S = ModelDownloads::State;
        switch (downloads_->state()) {
        case S::Paused:
            showMessage(tr("Paused %1 at %2. Resume continues where it stopped.")
                            .arg(downloads_->repo(), bytes(downloads_->lastProgress().bytes)),
                        false);
            break;
        case S::Pausing:
            showMessage(tr("Pausing…"), false);
            break;
        default:
            break;
        }
        refresh();
    });
    connect(downloads_, &ModelDownloads::finished, this, [this](const QString& repo) {
        showMessage(tr("%1 is downloaded and checked.").arg(repo), false);
        refresh();
        select(repo);
    });
    connect(downloads_, &ModelDownloads::cancelled, this, [this](const QString& repo) {
        showMessage(tr("Cancelled %1; its partial files are deleted.").arg(repo), false);
        refresh();
    });
    connect(downloads_, &ModelDownloads::failed, this, &ModelManagerDialog::onFailed);

    refresh();
    if (downloads_->running() || downloads_->state() == ModelDownloads::State::Paused) {
        select(downloads_->repo());
        onProgress();
    } else {
        progress_->setVisible(false);
    }
    updateButtons();
}

QString ModelManagerDialog::selectedRepo() const {
    const QTreeWidgetItem* item = list_->currentItem();
    return item ? item->data(0, kRepoRole).toString() : QString();
}

QString ModelManagerDialog::snapshotOf(const QString& repo) const {
    for (int i = 0; i < list_->topLevelItemCount(); ++i)
        if (list_->topLevelItem(i)->data(0, kRepoRole).toString().compare(repo, Qt::CaseInsensitive) == 0)
            return list_->topLevelItem(i)->data(0, kSnapshotRole).toString();
    return {};
}

bool ModelManagerDialog::select(const QString& repo_id) {
    for (int i = 0; i < list_->topLevelItemCount(); ++i) {
        QTreeWidgetItem* item = list_->topLevelItem(i);
        if (item->data(0, kRepoRole).toString().compare(repo_id, Qt::CaseInsensitive) == 0) {
            list_->setCurrentItem(item);
            return true;
        }
    }
    return false;
}

void ModelManagerDialog::refresh() {
    const QString keep = selectedRepo();
    const std::vector<hub::CachedModel> cached = ModelDownloads::cachedModels();
    auto cachedOf = [&](const std::string& repo) -> const hub::CachedModel* {
        for (const auto& c : cached)
            if (QString::fromStdString(c.repo_id).compare(QString::fromStdString(repo), Qt::CaseInsensitive) == 0)
                return &c;
        return nullptr;
    };
    auto status = [&](const hub::CachedModel* c, const QString& repo) {
        if (downloads_->repo().compare(repo, Qt::CaseInsensitive) == 0) {
            if (downloads_->running())
                return tr("Downloading…");
            if (downloads_->state() == ModelDownloads::State::Paused)
                return tr("Paused");
        }
        if (c && c->loadable)
            return tr("Downloaded · %1").arg(bytes(c->bytes));
        if (c && (c->partial_bytes > 0 || c->files > 0))
            return tr("Partly downloaded · %1").arg(bytes(c->bytes + c->partial_bytes));
        return tr("Not downloaded");
    };

    list_->clear();
    QFont bold = list_->font();
    bold.setWeight(QFont::DemiBold);
    for (const hub::KnownModel& m : hub::knownModels()) {
        const QString repo = QString::fromStdString(m.repo_id);
        const hub::CachedModel* c = cachedOf(m.repo_id);
        auto* item = new QTreeWidgetItem(list_);
        item->setText(NameColumn, QString::fromStdString(m.name) + (m.recommended ? tr("  (recommended)") : QString()));
        item->setFont(NameColumn, bold);
        item->setToolTip(NameColumn, repo);
        item->setText(SizeColumn, bytes(m.download_bytes));
        item->setText(LicenseColumn, QString::fromStdString(m.license));
        item->setText(StatusColumn, status(c, repo));
        item->setData(0, kRepoRole, repo);
        item->setData(0, kSnapshotRole, c && c->loadable ? QString::fromStdString(c->snapshot.string()) : QString());
        item->setData(0, kGoodForRole,
                      tr("%1<br><span style='opacity:0.75'>%2 · needs about %3 of memory on the CPU · family %4</span>")
                          .arg(QString::fromStdString(m.good_for).toHtmlEscaped(), repo,
                               bytes(m.memory_bytes), QString::fromStdString(m.family)));
    }
    for (const hub::CachedModel& c : cached) {
        if (hub::findKnownModel(c.repo_id))
            continue;
        const QString repo = QString::fromStdString(c.repo_id);
        auto* item = new QTreeWidgetItem(list_);
        item->setText(NameColumn, repo);
        item->setToolTip(NameColumn, QString::fromStdString(c.snapshot.string()));
        item->setText(SizeColumn, bytes(c.bytes + c.partial_bytes));
        item->setText(LicenseColumn, tr("see its page"));
        item->setText(StatusColumn, c.loadable ? tr("In your Hub cache") : status(&c, repo));
        item->setData(0, kRepoRole, repo);
        item->setData(0, kSnapshotRole, c.loadable ? QString::fromStdString(c.snapshot.string()) : QString());
        item->setData(0, kGoodForRole,
                      c.loadable ? tr("Found in your Hugging Face cache: %1 files. VQA Studio can try to load it; "
                                      "models of other families than Idefics3/SmolVLM and LLaVA will say they are "
                                      "not supported.").arg(c.files)
                                 : tr("Found in your Hugging Face cache, but without config.json and safetensors "
                                      "weights yet: download it to complete it."));
    }
    if (!keep.isEmpty())
        select(keep);
    if (!list_->currentItem() && list_->topLevelItemCount() > 0)
        list_->setCurrentItem(list_->topLevelItem(0));
    updateDetails();
    updateButtons();
}

void ModelManagerDialog::updateDetails() {
    const QTreeWidgetItem* item = list_->currentItem();
    details_->setText(item ? item->data(0, kGoodForRole).toString() : QString());
}

void ModelManagerDialog::updateButtons() {
    using S = ModelDownloads::State;
    const QString repo = selectedRepo();
    const bool running = downloads_->running();
    const bool paused = downloads_->state() == S::Paused;
    const bool failed = downloads_->state() == S::Failed;
    const bool this_one = !repo.isEmpty() && downloads_->repo().compare(repo, Qt::CaseInsensitive) == 0;
    const bool has_snapshot = !snapshotOf(repo).isEmpty();
    download_->setEnabled(!repo.isEmpty() && !running && !(this_one && paused));
    download_->setText(has_snapshot ? tr("&Update") : tr("&Download"));
    download_->setToolTip(has_snapshot ? tr("Fetch what changed on the Hub; files in the cache are reused")
                                       : tr("Download into the Hugging Face cache"));
    pause_->setEnabled(running || paused || (failed && this_one));
    pause_->setText(running ? tr("&Pause") : tr("&Resume"));
    cancel_->setEnabled(running || paused || failed);
    load_->setEnabled(has_snapshot && !running);
    other_download_->setEnabled(!running);
}

void ModelManagerDialog::onProgress() {
    const hub::DownloadProgress& p = downloads_->lastProgress();
    progress_->setVisible(true);
    if (p.total > 0) {
        progress_->setRange(0, 1000);
        progress_->setValue(int(1000.0 * double(p.bytes) / double(p.total)));
    } else {
        progress_->setRange(0, 0);
    }
    progress_->setFormat(downloads_->repo() + QStringLiteral("  %p%"));
    if (downloads_->running())
        showMessage(ModelDownloads::describe(p), false);
}

void ModelManagerDialog::onFailed(const QString& repo, const QString& message, bool offline) {
    progress_->setVisible(false);
    if (offline)
        showMessage(tr("Offline: the Hub could not be reached, so %1 was not downloaded. %2\n"
                       "Models already on this computer are listed above and load without a connection.")
                        .arg(repo, message),
                    true);
    else
        showMessage(tr("Download of %1 failed: %2").arg(repo, message), true);
    refresh();
}

void ModelManagerDialog::showMessage(const QString& text, bool error) {
    message_->setText(text);
    QPalette pal = message_->palette();
    pal.setColor(QPalette::WindowText, error ? QColor(200, 40, 40) : palette().color(QPalette::WindowText));
    message_->setPalette(pal);
    message_->setProperty("error", error);
}

}  // namespace vqa::ui
