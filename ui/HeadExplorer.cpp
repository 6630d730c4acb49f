#include "ui/HeadExplorer.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QListView>
#include <QVBoxLayout>

#include <algorithm>
#include <numeric>

#include "ui/Heatmap.h"

namespace vqa::ui {

namespace {
constexpr int kThumbnail = 96;  // the longer side of a head's picture
}

HeadMapModel::HeadMapModel(QObject* parent) : QAbstractListModel(parent) {
    thumbnails_.setMaxCost(2048);  // pictures kept once drawn (a 7B model has 1,024 heads)
}

void HeadMapModel::setMaps(std::vector<HeadMap> maps, const QImage& image, QSize image_size, Colormap colormap) {
    beginResetModel();
    maps_ = std::move(maps);
    image_ = image.scaled(kThumbnail, kThumbnail, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    image_size_ = image_size;
    colormap_ = colormap;
    thumbnails_.clear();
    drawn_ = 0;
    order_.resize(maps_.size());
    std::iota(order_.begin(), order_.end(), 0);
    endResetModel();
}

void HeadMapModel::setOrder(Order order) {
    beginResetModel();
    std::iota(order_.begin(), order_.end(), 0);
    if (order == Order::ImageShare)
        std::stable_sort(order_.begin(), order_.end(),
                         [&](int a, int b) { return maps_[size_t(a)].image_share > maps_[size_t(b)].image_share; });
    else if (order == Order::Focus)
        std::stable_sort(order_.begin(), order_.end(),
                         [&](int a, int b) { return maps_[size_t(a)].entropy < maps_[size_t(b)].entropy; });
    endResetModel();
}

int HeadMapModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(order_.size()); }

QImage HeadMapModel::thumbnail(int map) const {
    if (QImage* kept = thumbnails_.object(map))
        return *kept;
    const HeadMap& m = maps_[size_t(map)];
    const QImage overlay = colorizeHeatmap(buildHeatmap({&m.grids}, image_size_, kThumbnail), colormap_);
    auto* picture = new QImage(overlay.isNull() ? image_ : blendOverlay(image_, overlay, 0.6));
    ++drawn_;
    thumbnails_.insert(map, picture, 1);
    return *picture;
}

QVariant HeadMapModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= int(order_.size()))
        return {};
    const int map = order_[size_t(index.row())];
    const HeadMap& m = maps_[size_t(map)];
    switch (role) {
    case Qt::DisplayRole:
        return QStringLiteral("L%1 H%2").arg(m.layer).arg(m.head);
    case Qt::DecorationRole:
        return thumbnail(map);
    case Qt::ToolTipRole:
        return tr("Layer %1, head %2\n%3 % of its attention on the image\nentropy %4 nats (lower: more focused)")
            .arg(m.layer)
            .arg(m.head)
            .arg(100.0 * m.image_share, 0, 'f', 1)
            .arg(double(m.entropy), 0, 'f', 2);
    default:
        return {};
    }
}

HeadExplorer::HeadExplorer(QWidget* parent)
    : QDialog(parent), model_(new HeadMapModel(this)), view_(new QListView), order_(new QComboBox),
      title_(new QLabel) {
    setWindowTitle(tr("Attention Heads"));
    setAccessibleName(tr("Attention heads"));
    order_->addItem(tr("Layer by layer"));
    order_->addItem(tr("Most attention on the image first"));
    order_->addItem(tr("Most focused first"));
    order_->setAccessibleName(tr("Order of the heads"));
    view_->setModel(model_);
    view_->setViewMode(QListView::IconMode);
    view_->setIconSize({kThumbnail, kThumbnail});
    view_->setGridSize({kThumbnail + 16, kThumbnail + 28});
    view_->setResizeMode(QListView::Adjust);
    view_->setMovement(QListView::Static);
    view_->setUniformItemSizes(true);
    view_->setLayoutMode(QListView::Batched);  // lays out a thousand heads without a pause
    view_->setAccessibleName(tr("Heads"));
    auto* top = new QHBoxLayout;
    top->addWidget(title_, 1);
    top->addWidget(order_);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(view_, 1);
    auto* hint = new QLabel(tr("Click a head to show its map large over the image."));
    hint->setEnabled(false);
    layout->addWidget(hint);
    resize(760, 560);
    connect(order_, &QComboBox::currentIndexChanged, this,
            [this](int i) { model_->setOrder(static_cast<HeadMapModel::Order>(std::max(0, i))); });
    connect(view_, &QListView::clicked, this, [this](const QModelIndex& index) {
        const HeadMap& m = model_->head(index.row());
        emit headChosen(m.layer, m.head);
    });
}

void HeadExplorer::setMaps(const QString& title, std::vector<HeadMap> maps, const QImage& image, QSize image_size,
                           Colormap colormap) {
    const int heads = int(maps.size());
    model_->setMaps(std::move(maps), image, image_size, colormap);
    model_->setOrder(static_cast<HeadMapModel::Order>(std::max(0, order_->currentIndex())));
    title_->setText(tr("Every head's attention for %1 (%2 heads)").arg(title).arg(heads));
}

}  // namespace vqa::ui
