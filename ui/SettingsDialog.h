// Settings: device and dtype for loading, sampling parameters, heatmap defaults.
#pragma once

#include <QDialog>

#include "ui/Settings.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QSpinBox;
class QLineEdit;

namespace vqa::ui {

class SettingsDialog : public QDialog {
    Q_OBJECT
public:
    explicit SettingsDialog(const AppSettings& settings, QWidget* parent = nullptr);
    AppSettings settings() const;
    void setSettings(const AppSettings& settings);

private:
    QComboBox* device_;
    QComboBox* dtype_;
    QSpinBox* threads_;
    QSpinBox* max_tokens_;
    QComboBox* detail_;
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
