// Model ▸ Precision…: how precisely the loaded model runs (automatic, float32, bfloat16, 8-bit
// or 4-bit weights), each choice with the memory it needs against what the machine has, from
// the load plan (engine/LoadPlan.h). The plans are made off the GUI thread (they read the
// checkpoint's headers); a choice that cannot fit is disabled.
#pragma once

#include <QDialog>
#include <QString>

#include <vector>

#include "engine/Types.h"

class QButtonGroup;
class QLabel;

namespace vqa::ui {

struct PrecisionEstimate {
    QString dtype;        // "auto", "float32", "bfloat16", "int8", "int4"
    QString text;         // the plan's sentence, or why there is none
    qint64 bytes = -1;    // memory needed (-1: unknown)
    bool unavailable = false;  // more than the machine has, or a choice this model cannot take
};

// The plans for every choice (slow-ish: reads headers); callable from any thread.
std::vector<PrecisionEstimate> estimatePrecisions(const QString& model_dir, DevicePreference device);

class PrecisionDialog : public QDialog {
    Q_OBJECT
public:
    PrecisionDialog(const QString& model_dir, const QString& model_name, const QString& current,
                    DevicePreference device, QWidget* parent = nullptr);

    QString chosen() const;  // the selected choice's dtype
    void choose(const QString& dtype);
    QString estimateText(const QString& dtype) const;  // as shown under the choice ("" until ready)
    bool available(const QString& dtype) const;        // whether it can be chosen (once estimated)

signals:
    void estimatesShown();  // once the plans are in

private:
    void showEstimates(const std::vector<PrecisionEstimate>& estimates);

    QButtonGroup* group_;
    std::vector<QString> dtypes_;
    std::vector<QLabel*> notes_;
    bool estimated_ = false;  // the plans' sentences are shown
};

}  // namespace vqa::ui
