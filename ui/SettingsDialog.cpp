#include "ui/SettingsDialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRegularExpressionValidator>
#include <QSpinBox>
#include <QTabWidget>
#include <QVBoxLayout>

#include "ui/Colormap.h"

namespace vqa::ui {
namespace {

QSpinBox* autoSpin(int min, int max, const QString& special) {
    auto* s = new QSpinBox;
    s->setRange(min, max);
    s->setSpecialValueText(special);  // shown at the minimum
    return s;
}

}  // namespace

SettingsDialog::SettingsDialog(const AppSettings& settings, QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Settings"));
    setAccessibleName(tr("Settings"));

    device_ = new QComboBox;
    device_->addItem(tr("Automatic (GPU when there is one)"), "auto");
    device_->addItem(tr("CPU"), "cpu");
    device_->addItem(tr("CUDA GPU"), "cuda");
    dtype_ = new QComboBox;
    dtype_->addItem(tr("Automatic (bfloat16 on GPU, float32 on CPU)"), "auto");
    dtype_->addItem("float32", "float32");
    dtype_->addItem("bfloat16", "bfloat16");
    dtype_->addItem("float16", "float16");
    dtype_->addItem(tr("Fast (float32, the vision tower in bfloat16)"), "fast");
    dtype_->addItem(tr("8-bit weights (int8: about a quarter of float32's memory)"), "int8");
    dtype_->addItem(tr("4-bit weights (int4: about an eighth of float32's memory)"), "int4");
    threads_ = autoSpin(0, 256, tr("automatic"));

    detail_ = new QComboBox;
    for (const auto& level : imageDetailLevels())
        detail_->addItem(level.label, level.max_image_tokens);
    detail_->setToolTip(tr("For models that see an image in as many pieces as its size allows (Qwen-VL's "
                           "pixels, SmolVLM's tiles): fewer pieces answer faster, more read smaller print. "
                           "LLaVA always sees an image the same way."));

    max_tokens_ = new QSpinBox;
    max_tokens_->setRange(1, 8192);
    temperature_ = new QDoubleSpinBox;
    temperature_->setRange(0.0, 2.0);
    temperature_->setSingleStep(0.05);
    temperature_->setSpecialValueText(tr("0 (greedy)"));
    top_p_ = new QDoubleSpinBox;
    top_p_->setRange(0.01, 1.0);
    top_p_->setSingleStep(0.05);
    top_k_ = autoSpin(0, 1000, tr("off"));
    repetition_ = new QDoubleSpinBox;
    repetition_->setRange(0.5, 2.0);
    repetition_->setSingleStep(0.05);
    seed_ = new QLineEdit;
    seed_->setValidator(new QRegularExpressionValidator(QRegularExpression("[0-9]{1,19}"), seed_));

    capture_ = new QCheckBox(tr("Keep attention maps while generating"));
    colormap_ = new QComboBox;
    colormap_->addItems(colormapNames());
    opacity_ = new QSpinBox;
    opacity_->setRange(0, 100);
    opacity_->setSuffix(" %");
    layer_begin_ = autoSpin(-1, 255, tr("auto"));
    layer_end_ = autoSpin(-1, 255, tr("auto"));
    head_ = autoSpin(-1, 255, tr("mean of heads"));

    auto* tabs = new QTabWidget;
    auto addPage = [tabs](const QString& title) {
        auto* page = new QWidget;
        auto* form = new QFormLayout(page);
        form->setFieldGrowthPolicy(QFormLayout::ExpandingFieldsGrow);
        tabs->addTab(page, title);
        return form;
    };
    QFormLayout* model = addPage(tr("Model"));
    model->addRow(tr("&Device:"), device_);
    model->addRow(tr("Default prec&ision:"), dtype_);
    model->addRow(tr("CPU &threads:"), threads_);
    model->addRow(tr("Image de&tail:"), detail_);
    detail_note_ = new QLabel;
    detail_note_->setWordWrap(true);
    detail_note_->setVisible(false);
    model->addRow(QString(), detail_note_);
    connect(detail_, &QComboBox::currentIndexChanged, this, [this] { updateDetailNote(); });
    auto* note = new QLabel(tr("Device and data type apply the next time a model is loaded."));
    note->setWordWrap(true);
    note->setEnabled(false);
    model->addRow(note);
    QFormLayout* gen = addPage(tr("Generation"));
    gen->addRow(tr("&Max new tokens:"), max_tokens_);
    gen->addRow(tr("T&emperature:"), temperature_);
    gen->addRow(tr("Top-&p:"), top_p_);
    gen->addRow(tr("Top-&k:"), top_k_);
    gen->addRow(tr("&Repetition penalty:"), repetition_);
    gen->addRow(tr("&Seed:"), seed_);
    QFormLayout* heat = addPage(tr("Heatmap"));
    heat->addRow(capture_);
    heat->addRow(tr("&Colormap:"), colormap_);
    heat->addRow(tr("&Opacity:"), opacity_);
    heat->addRow(tr("&First layer:"), layer_begin_);
    heat->addRow(tr("&Last layer:"), layer_end_);
    heat->addRow(tr("&Head:"), head_);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel |
                                         QDialogButtonBox::RestoreDefaults);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(buttons->button(QDialogButtonBox::RestoreDefaults), &QPushButton::clicked, this,
            [this] {
                AppSettings defaults;
                defaults.overlay_visible = base_.overlay_visible;
                setSettings(defaults);
            });

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(tabs);
    layout->addWidget(buttons);
    setSettings(settings);
}

void SettingsDialog::setSettings(const AppSettings& a) {
    base_ = a;
    device_->setCurrentIndex(std::max(0, device_->findData(deviceName(a.load.device))));
    dtype_->setCurrentIndex(std::max(0, dtype_->findData(QString::fromStdString(a.load.dtype))));
    threads_->setValue(a.load.threads);
    int detail = detail_->findData(a.images.max_image_tokens);
    if (detail < 0) {  // a value set elsewhere (the settings file): shown as it is
        detail_->addItem(tr("%1 image tokens").arg(a.images.max_image_tokens), a.images.max_image_tokens);
        detail = detail_->count() - 1;
    }
    detail_->setCurrentIndex(detail);
    max_tokens_->setValue(a.generation.max_new_tokens);
    temperature_->setValue(a.generation.temperature);
    top_p_->setValue(a.generation.top_p);
    top_k_->setValue(a.generation.top_k);
    repetition_->setValue(a.generation.repetition_penalty);
    seed_->setText(QString::number(qulonglong(a.generation.seed)));
    capture_->setChecked(a.capture_attention);
    colormap_->setCurrentIndex(std::max(0, int(colormapNames().indexOf(a.colormap))));
    opacity_->setValue(int(a.overlay_opacity * 100 + 0.5));
    layer_begin_->setValue(a.layer_begin);
    layer_end_->setValue(a.layer_end);
    head_->setValue(a.head);
}

AppSettings SettingsDialog::settings() const {
    AppSettings a = base_;
    a.load.device = deviceFromName(device_->currentData().toString());
    a.load.dtype = dtype_->currentData().toString().toStdString();
    a.load.threads = threads_->value();
    a.images.max_image_tokens = detail_->currentData().toInt();
    a.generation.max_new_tokens = max_tokens_->value();
    a.generation.temperature = float(temperature_->value());
    a.generation.top_p = float(top_p_->value());
    a.generation.top_k = top_k_->value();
    a.generation.repetition_penalty = float(repetition_->value());
    a.generation.seed = seed_->text().toULongLong();
    a.capture_attention = capture_->isChecked();
    a.colormap = colormap_->currentText();
    a.overlay_opacity = opacity_->value() / 100.0;
    a.layer_begin = layer_begin_->value();
    a.layer_end = layer_end_->value();
    a.head = head_->value();
    return a;
}

std::vector<int> SettingsDialog::detailBudgets() const {
    std::vector<int> budgets;
    for (int i = 0; i < detail_->count(); ++i)
        budgets.push_back(detail_->itemData(i).toInt());
    return budgets;
}

void SettingsDialog::setImageTokenCounts(const QString& image_name, const QHash<int, int>& tokens, double ms_per_token) {
    image_name_ = image_name;
    image_tokens_ = tokens;
    ms_per_token_ = ms_per_token;
    updateDetailNote();
}

QString SettingsDialog::detailNote() const { return detail_note_->isHidden() ? QString() : detail_note_->text(); }

void SettingsDialog::updateDetailNote() {
    const int tokens = image_tokens_.value(detail_->currentData().toInt(), -1);
    detail_note_->setVisible(tokens > 0);
    if (tokens <= 0)
        return;
    QString text = tr("%1: %2 image tokens at this detail").arg(image_name_).arg(tokens);
    if (ms_per_token_ > 0) {
        const double seconds = tokens * ms_per_token_ / 1000.0;
        text += seconds < 1 ? tr(", under a second to read on this machine")
                            : tr(", about %1 s to read on this machine").arg(seconds, 0, 'f', seconds < 10 ? 1 : 0);
    }
    detail_note_->setText(text + QStringLiteral("."));
}

}  // namespace vqa::ui
