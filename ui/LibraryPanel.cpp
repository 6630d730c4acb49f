#include "ui/LibraryPanel.h"

#include <QDateTime>
#include <QFileInfo>
#include <QHeaderView>
#include <QImageReader>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QTimer>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "ui/Dialogs.h"

namespace vqa::ui {

namespace {

constexpr int kIcon = 40;
enum Role { ConversationId = Qt::UserRole, ImagePath };

QString when(std::int64_t unix_seconds) {
    const QDateTime t = QDateTime::fromSecsSinceEpoch(unix_seconds);
    return t.date() == QDate::currentDate() ? t.toString(QStringLiteral("HH:mm"))
                                            : t.toString(QStringLiteral("d MMM yyyy"));
}

}  // namespace

LibraryPanel::LibraryPanel(QWidget* parent) : QWidget(parent) {
    pool_.setMaxThreadCount(1);
    search_ = new QLineEdit(this);
    search_->setPlaceholderText(tr("Search captions and conversations"));
    search_->setClearButtonEnabled(true);
    tree_ = new QTreeWidget(this);
    tree_->setHeaderHidden(true);
    tree_->setIconSize(QSize(kIcon, kIcon));
    tree_->setContextMenuPolicy(Qt::CustomContextMenu);
    tree_->setUniformRowHeights(false);
    tree_->setWordWrap(true);
    empty_ = new QLabel(this);
    empty_->setWordWrap(true);
    empty_->setAlignment(Qt::AlignCenter);
    empty_->setText(tr("Conversations you have about images are kept here."));
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(search_);
    layout->addWidget(tree_, 1);
    layout->addWidget(empty_);

    debounce_ = new QTimer(this);
    debounce_->setSingleShot(true);
    debounce_->setInterval(200);
    connect(search_, &QLineEdit::textChanged, debounce_, qOverload<>(&QTimer::start));
    connect(search_, &QLineEdit::returnPressed, this, [this] {
        debounce_->stop();
        emit searchRequested(search_->text().trimmed());
    });
    connect(debounce_, &QTimer::timeout, this, [this] { emit searchRequested(search_->text().trimmed()); });
    connect(tree_, &QTreeWidget::itemActivated, this, [this](QTreeWidgetItem* item) { activate(item); });
    connect(tree_, &QTreeWidget::customContextMenuRequested, this, &LibraryPanel::contextMenu);
}

LibraryPanel::~LibraryPanel() {
    ++generation_;
    pool_.clear();
    pool_.waitForDone();
}

QString LibraryPanel::emptyText() const {
    return empty_->isVisible() ? empty_->text() : QString();
}

int LibraryPanel::rowCount() const {
    int n = 0;
    for (int i = 0; i < tree_->topLevelItemCount(); ++i)
        n += searching_ ? 1 : tree_->topLevelItem(i)->childCount();
    return n;
}

QTreeWidgetItem* LibraryPanel::imageItem(const QString& path) {
    if (auto* item = images_.value(path))
        return item;
    auto* item = new QTreeWidgetItem(tree_);
    item->setText(0, path.isEmpty() ? tr("Without an image") : QFileInfo(path).fileName());
    item->setToolTip(0, path);
    item->setData(0, ImagePath, path);
    item->setExpanded(true);
    images_.insert(path, item);
    return item;
}

void LibraryPanel::showHistory(const std::vector<library::ConversationRecord>& conversations) {
    if (!search_->text().trimmed().isEmpty())
        return;  // a search is shown; the history comes back when it is cleared
    searching_ = false;
    tree_->clear();
    images_.clear();
    for (const auto& c : conversations) {  // most recent first: so are the images
        QTreeWidgetItem* parent = imageItem(QString::fromStdString(c.image_path));
        auto* item = new QTreeWidgetItem(parent);
        item->setText(0, QStringLiteral("%1 — %2").arg(QString::fromStdString(c.title), when(c.updated_at)));
        item->setToolTip(0, QString::fromStdString(c.title) + QStringLiteral("\n") + QString::fromStdString(c.model));
        item->setData(0, ConversationId, qint64(c.id));
        parent->setExpanded(true);
    }
    empty_->setText(tr("Conversations you have about images are kept here."));
    empty_->setVisible(conversations.empty());
    loadThumbnails();
}

void LibraryPanel::showResults(const QString& text, const std::vector<library::SearchHit>& hits) {
    if (text != search_->text().trimmed())
        return;  // an older search
    if (text.isEmpty())
        return;
    searching_ = true;
    tree_->clear();
    images_.clear();
    for (const auto& h : hits) {
        auto* item = new QTreeWidgetItem(tree_);
        const QString path = QString::fromStdString(h.image_path);
        QString snippet = QString::fromStdString(h.snippet).simplified();
        item->setText(0, (path.isEmpty() ? tr("Without an image") : QFileInfo(path).fileName()) + QStringLiteral("\n") +
                             (h.kind == "caption" ? tr("Caption: ") : QString()) + snippet);
        item->setToolTip(0, path + QStringLiteral("\n\n") + snippet);
        item->setData(0, ImagePath, path);
        item->setData(0, ConversationId, qint64(h.conversation_id));
        if (!images_.contains(path))
            images_.insert(path, item);
    }
    empty_->setText(tr("Nothing in the library matches “%1”.").arg(text));
    empty_->setVisible(hits.empty());
    loadThumbnails();
}

void LibraryPanel::loadThumbnails() {
    const unsigned generation = ++generation_;
    const QStringList paths = images_.keys();
    pool_.clear();
    pool_.start([this, generation, paths] {
        for (const QString& path : paths) {
            if (generation != generation_)
                return;
            QImageReader reader(path);
            reader.setAutoTransform(true);
            const QSize size = reader.size();
            if (!size.isValid() || qint64(size.width()) * size.height() > 100'000'000)
                continue;
            reader.setScaledSize(size.scaled(kIcon, kIcon, Qt::KeepAspectRatio));
            const QImage image = reader.read();
            if (image.isNull())
                continue;
            QMetaObject::invokeMethod(
                this,
                [this, generation, path, image] {
                    if (generation != generation_)
                        return;
                    if (auto* item = images_.value(path))
                        item->setIcon(0, QIcon(QPixmap::fromImage(image)));
                },
                Qt::QueuedConnection);
        }
    });
}

void LibraryPanel::activate(QTreeWidgetItem* item) {
    if (!item)
        return;
    const qint64 id = item->data(0, ConversationId).toLongLong();
    if (id > 0)
        emit openRequested(id);
    else if (const QString path = item->data(0, ImagePath).toString(); !path.isEmpty())
        emit openImageRequested(path);
}

void LibraryPanel::contextMenu(const QPoint& pos) {
    QTreeWidgetItem* item = tree_->itemAt(pos);
    if (!item)
        return;
    const qint64 id = item->data(0, ConversationId).toLongLong();
    QMenu menu(this);
    menu.addAction(id > 0 ? tr("Open Conversation") : tr("Open Image"), this, [this, item] { activate(item); });
    if (id > 0) {
        menu.addAction(tr("Rename…"), this, [this, id, item] {
            if (!dialogsAllowed())
                return;
            const QString old = item->text(0).section(QStringLiteral(" — "), 0, 0);
            bool ok = false;
            const QString title = QInputDialog::getText(this, tr("Rename Conversation"), tr("Title:"),
                                                        QLineEdit::Normal, old, &ok);
            if (ok && !title.trimmed().isEmpty())
                emit renameRequested(id, title.trimmed());
        });
        menu.addAction(tr("Delete"), this, [this, id] {
            if (dialogsAllowed() &&
                QMessageBox::question(this, tr("Delete Conversation"),
                                      tr("Delete this conversation from the library? This cannot be undone.")) !=
                    QMessageBox::Yes)
                return;
            emit deleteRequested(id);
        });
    }
    menu.exec(tree_->viewport()->mapToGlobal(pos));
}

}  // namespace vqa::ui
