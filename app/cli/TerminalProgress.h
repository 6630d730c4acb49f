// Progress of long CLI work on standard error: on a terminal, one line redrawn (a bar, the
// count, the time so far and left); elsewhere (a log, a pipe) nothing but the lines asked for.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

#include <unistd.h>

namespace vqa::cli {

// "1:02" or "1:02:03"; "--:--" for a time not known (negative).
inline std::string clockText(double seconds) {
    if (seconds < 0)
        return "--:--";
    const long s = std::lround(seconds);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

// "12.3 s" for a short run, "1:02:03" for a long one.
inline std::string durationText(double seconds) {
    if (seconds >= 600)
        return clockText(seconds);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", seconds);
    return buf;
}

class TerminalProgress {
  public:
    TerminalProgress() : tty_(isatty(STDERR_FILENO)) {}
    bool terminal() const { return tty_; }

    // Redraws the bar (on a terminal only); `label` is cut to 32 characters.
    void bar(int done, int total, double elapsed_s, double eta_s, std::string label) {
        if (!tty_)
            return;
        constexpr int kWidth = 24;
        const int filled = total > 0 ? done * kWidth / total : 0;
        std::string bar(static_cast<std::size_t>(filled), '#');
        bar.resize(kWidth, '.');
        if (label.size() > 32)
            label = label.substr(0, 29) + "...";
        std::fprintf(stderr, "\r\033[K[%s] %d/%d  %s elapsed, %s left  %s", bar.c_str(), done, total,
                     clockText(elapsed_s).c_str(), clockText(eta_s).c_str(), label.c_str());
        std::fflush(stderr);
        drawn_ = true;
    }
    // A line of its own, above the bar.
    void line(const std::string& text) {
        if (drawn_)
            std::fputs("\r\033[K", stderr);
        std::fputs((text + "\n").c_str(), stderr);
        std::fflush(stderr);
    }
    void finish() {
        if (drawn_)
            std::fputs("\r\033[K", stderr);
        std::fflush(stderr);
    }

  private:
    bool tty_;
    bool drawn_ = false;
};

} // namespace vqa::cli
