#include "ui/PrecisionDialog.h"

#include <QButtonGroup>
#include <QDialogButtonBox>
#include <QLabel>
#include <QPushButton>
#include <QRadioButton>
#include <QThread>
#include <QVBoxLayout>

#include <memory>

#include "engine/LoadPlan.h"

namespace vqa::ui {

namespace {

struct Choice {
    const char* dtype;
    const char* label;
};

const Choice kChoices[] = {
    {"auto", QT_TRANSLATE_NOOP("PrecisionDialog", "Automatic (bfloat16 on a GPU, float32 on the CPU)")},
    {"float32", QT_TRANSLATE_NOOP("PrecisionDialog", "Full precision (float32)")},
    {"bfloat16", QT_TRANSLATE_NOOP("PrecisionDialog", "Half precision (bfloat16)")},
    {"fast", QT_TRANSLATE_NOOP("PrecisionDialog", "Fast: float32 answers, the image and long prompts read in reduced precision (a quicker first answer)")},
    {"int8", QT_TRANSLATE_NOOP("PrecisionDialog", "8-bit weights (int8): close to full precision, half of bfloat16's memory")},
    {"int4", QT_TRANSLATE_NOOP("PrecisionDialog", "4-bit weights (int4): the least memory, a little less exact")},
};

}  // namespace

std::vector<PrecisionEstimate> estimatePrecisions(const QString& model_dir, DevicePreference device) {
    std::vector<PrecisionEstimate> out;
    for (const auto& c : kChoices) {
        PrecisionEstimate e;
        e.dtype = c.dtype;
        LoadOptions options;
        options.device = device;
        options.dtype = c.dtype;
        try {
            const LoadPlan plan = planLoad(model_dir.toStdString(), options);
            e.text = QString::fromStdString(plan.memory.message);
            e.bytes = plan.memory.needed_bytes;
            e.unavailable = plan.refused();
        } catch (const std::exception& ex) {
            e.text = QString::fromUtf8(ex.what());
            e.unavailable = true;  // an AWQ checkpoint asked for 8 bits, a dtype this device lacks, ...
        }
        out.push_back(e);
    }
    return out;
}

PrecisionDialog::PrecisionDialog(const QString& model_dir, const QString& model_name, const QString& current,
                                 DevicePreference device, QWidget* parent)
    : QDialog(parent), group_(new QButtonGroup(this)) {
    setWindowTitle(tr("Precision"));
    auto* layout = new QVBoxLayout(this);
    auto* intro = new QLabel(tr("How precisely should %1 run? Fewer bits take less memory and decode faster on "
                                "the CPU; the model loads again with the new choice, which is kept for this model.")
                                 .arg(model_name));
    intro->setWordWrap(true);
    layout->addWidget(intro);
    int id = 0;
    for (const auto& c : kChoices) {
        auto* radio = new QRadioButton(tr(c.label));
        auto* note = new QLabel(tr("estimating…"));
        note->setWordWrap(true);
        note->setIndent(24);
        group_->addButton(radio, id++);
        layout->addWidget(radio);
        layout->addWidget(note);
        dtypes_.push_back(c.dtype);
        notes_.push_back(note);
    }
    choose(current.isEmpty() ? QStringLiteral("auto") : current);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);

    // The plans read the checkpoint's headers: on a thread of their own. If the dialog is
    // gone when they are done, the connection went with it.
    auto results = std::make_shared<std::vector<PrecisionEstimate>>();
    QThread* thread = QThread::create([results, model_dir, device] { *results = estimatePrecisions(model_dir, device); });
    connect(thread, &QThread::finished, this, [this, results] { showEstimates(*results); });
    connect(thread, &QThread::finished, thread, &QObject::deleteLater);
    thread->start();
}

QString PrecisionDialog::chosen() const {
    const int id = group_->checkedId();
    return id >= 0 ? dtypes_[static_cast<std::size_t>(id)] : QStringLiteral("auto");
}

void PrecisionDialog::choose(const QString& dtype) {
    for (std::size_t i = 0; i < dtypes_.size(); ++i)
        if (dtypes_[i] == dtype)
            group_->button(static_cast<int>(i))->setChecked(true);
}

QString PrecisionDialog::estimateText(const QString& dtype) const {
    for (std::size_t i = 0; i < dtypes_.size(); ++i)
        if (dtypes_[i] == dtype)
            return estimated_ ? notes_[i]->text() : QString();
    return {};
}

bool PrecisionDialog::available(const QString& dtype) const {
    for (std::size_t i = 0; i < dtypes_.size(); ++i)
        if (dtypes_[i] == dtype)
            return group_->button(static_cast<int>(i))->isEnabled();
    return false;
}

void PrecisionDialog::showEstimates(const std::vector<PrecisionEstimate>& estimates) {
    for (const auto& e : estimates)
        for (std::size_t i = 0; i < dtypes_.size(); ++i) {
            if (dtypes_[i] != e.dtype)
                continue;
            QString text = e.text;
            if (!text.isEmpty())
                text[0] = text[0].toUpper();
            notes_[i]->setText(text);
            group_->button(static_cast<int>(i))->setEnabled(!e.unavailable);
        }
    estimated_ = true;
    adjustSize();  // the sentences are longer than "estimating…"
    emit estimatesShown();
}

}  // namespace vqa::ui
