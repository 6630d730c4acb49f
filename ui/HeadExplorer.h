// The layer x head explorer: every attention head's map of one word (or of the whole answer)
// as a small picture in a grid, with what sets each head apart (its share of attention on the
// image, the entropy of that attention) and three orders (layer by layer, most on the image,
// most focused). Clicking a head asks for it large over the image (headChosen). Thumbnails are
// drawn only when scrolled into view and kept, so a 7B model's thousand heads open at once.
#pragma once

#include <QAbstractListModel>
#include <QCache>
#include <QDialog>
#include <QImage>

#include <vector>

#include "engine/Types.h"
#include "ui/Colormap.h"

class QComboBox;
class QLabel;
class QListView;

namespace vqa::ui {

// The heads as a list model: DisplayRole "L12 H3", DecorationRole the thumbnail (drawn on
// first request), ToolTipRole the statistics; in the chosen order.
class HeadMapModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum class Order { LayerHead = 0, ImageShare = 1, Focus = 2 };
    explicit HeadMapModel(QObject* parent = nullptr);

    // `image` a small copy of the image (the thumbnails' size), `image_size` the original's.
    void setMaps(std::vector<HeadMap> maps, const QImage& image, QSize image_size, Colormap colormap);
    void setOrder(Order order);
    const HeadMap& head(int row) const { return maps_[size_t(order_[size_t(row)])]; }
    int thumbnailsDrawn() const { return drawn_; }

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;

private:
    QImage thumbnail(int map) const;

    std::vector<HeadMap> maps_;
    std::vector<int> order_;  // row -> index into maps_
    QImage image_;
    QSize image_size_;
    Colormap colormap_ = Colormap::Turbo;
    mutable QCache<int, QImage> thumbnails_;
    mutable int drawn_ = 0;
};

class HeadExplorer : public QDialog {
    Q_OBJECT
public:
    explicit HeadExplorer(QWidget* parent = nullptr);

    // `title` names what the maps are of ("“house”", "the whole answer").
    void setMaps(const QString& title, std::vector<HeadMap> maps, const QImage& image, QSize image_size,
                 Colormap colormap);
    HeadMapModel* model() const { return model_; }
    QListView* view() const { return view_; }
    QComboBox* orderBox() const { return order_; }

signals:
    void headChosen(int layer, int head);

private:
    HeadMapModel* model_;
    QListView* view_;
    QComboBox* order_;
    QLabel* title_;
};

}  // namespace vqa::ui
