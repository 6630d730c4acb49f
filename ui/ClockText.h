// Times the window shows for long work: "1:02", "1:02:03", "--:--" for one not known yet.
#pragma once

#include <QString>

#include <cmath>

namespace vqa::ui {

inline QString clockText(double seconds) {
    if (seconds < 0)
        return QStringLiteral("--:--");
    const long s = std::lround(seconds);
    return s >= 3600 ? QStringLiteral("%1:%2:%3").arg(s / 3600).arg(s / 60 % 60, 2, 10, QChar('0')).arg(s % 60, 2, 10, QChar('0'))
                     : QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QChar('0'));
}

}  // namespace vqa::ui
