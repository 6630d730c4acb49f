#include "ui/Thumbnails.h"

#include <QColor>
#include <QImageReader>
#include <QPixmap>

namespace vqa::ui {

QString countOf(int n, const QString& one, const QString& many) {
    return QStringLiteral("%1 %2").arg(n).arg(n == 1 ? one : many);
}

QIcon placeholderIcon(int side) {
    QPixmap p(side, side);
    p.fill(QColor(128, 128, 128, 40));
    return QIcon(p);
}

QImage thumbnail(const QString& path, int side) {
    QImageReader reader(path);
    reader.setAutoTransform(true);
    const QSize size = reader.size();
    if (size.isValid() && qint64(size.width()) * size.height() > 100'000'000)
        return {};
    if (size.isValid() && (size.width() > side || size.height() > side))
        reader.setScaledSize(size.scaled(side, side, Qt::KeepAspectRatio));
    QImage image = reader.read();
    if (!image.isNull() && (image.width() > side || image.height() > side))
        image = image.scaled(side, side, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    return image;
}

} // namespace vqa::ui
