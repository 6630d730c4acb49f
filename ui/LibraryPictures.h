// The pictures of a conversation reopened from the library, decoded again off the GUI thread
// (ImageLoader::decode, as any file opened), in the order the library keeps them. A picture
// whose file has gone, no longer reads as a picture, or holds other pixels than the ones asked
// about (its content key changed) comes back as a placeholder that says so
// (LoadedImage::missing): the conversation still opens, and the model is never shown pixels
// the conversation was not about.
#pragma once

#include <QObject>
#include <QThreadPool>

#include <vector>

#include "ui/ImageLoader.h"
#include "ui/LibraryTypes.h"

namespace vqa::ui {

// A placeholder for `kept`, which could not be read back as it was (`why`): a grey picture
// naming it and saying whether it is gone or `changed`.
LoadedImage missingPicture(const library::PictureRecord& kept, const QString& why, bool changed = false);

class LibraryPictures : public QObject {
    Q_OBJECT
public:
    explicit LibraryPictures(QObject* parent = nullptr);
    ~LibraryPictures() override;  // waits for a load in flight

    // Decodes `pictures`; loaded(request, ...) follows with one LoadedImage each, in order.
    void load(quint64 request, const std::vector<library::PictureRecord>& pictures);

signals:
    void loaded(quint64 request, const std::vector<vqa::ui::LoadedImage>& pictures);

private:
    QThreadPool pool_;
};

}  // namespace vqa::ui
