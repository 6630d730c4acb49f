// Settings: device and dtype for loading, sampling parameters, heatmap defaults.
#pragma once

#include <QDialog>
#include <QHash>

#include <vector>

#include "ui/Settings.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QSpinBox;
class QLineEdit;

namespace vqa::ui {

class SettingsDialog : public QDialog {
    Q_OBJECT
public:
    explicit SettingsDialog(const AppSettings& settings, QWidget* parent = nullptr);
    AppSettings settings() const;
    void setSettings(const AppSettings& settings);
    // What each image detail means for the image shown: its tokens at each budget the detail
    // list holds (ImageOptions::max_image_tokens -> tokens; -1 where the model cannot tell),
    // and this machine's encoding time per image token (ms; <= 0 when not measured yet).
    // Shown under the detail choice, for the one chosen.
    void setImageTokenCounts(const QString& image_name, const QHash<int, int>& tokens, double ms_per_token);
    // The budgets of the detail list, for asking the engine.
    std::vector<int> detailBudgets() const;
    QString detailNote() const;

private:
    QComboBox* device_;
    QComboBox* dtype_;
    QSpinBox* threads_;
    QSpinBox* max_tokens_;
    QComboBox* detail_;
    QLabel* detail_note_;
    QString image_name_;
    QHash<int, int> image_tokens_;
    double ms_per_token_ = 0;
    void updateDetailNote();
    QDoubleSpinBox* temperature_;
    QDoubleSpinBox* top_p_;
    QSpinBox* top_k_;
    QDoubleSpinBox* repetition_;
    QLineEdit* seed_;
    QCheckBox* capture_;
    QComboBox* colormap_;
    QSpinBox* opacity_;
    QSpinBox* layer_begin_;
    QSpinBox* layer_end_;
    QSpinBox* head_;
    AppSettings base_;  // fields the dialog does not show keep their values
};

}  // namespace vqa::ui
