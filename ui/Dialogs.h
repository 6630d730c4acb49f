// Whether the window may open modal dialogs (message boxes, file choosers): not when
// VQA_NO_DIALOGS is set, as the UI tests set it, so nothing waits for a click no test makes.
#pragma once

#include <QtGlobal>

namespace vqa::ui {

inline bool dialogsAllowed() { return !qEnvironmentVariableIsSet("VQA_NO_DIALOGS"); }

}  // namespace vqa::ui
