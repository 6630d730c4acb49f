// Shared helpers of the UI tests: a private QSettings location, artifact paths, test images,
// synthetic attention grids, and the engine's events and model information made up.
#pragma once

#include <QAction>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QTimer>
#include <QDir>
#include <QDirIterator>
#include <QImage>
#include <QMenu>
#include <QMenuBar>
#include <QPainter>
#include <QSettings>
#include <QStandardPaths>
#include <QTemporaryDir>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "engine/Types.h"

namespace vqa::test {

// The action `text` of the menu bar's menu `menu` (mnemonic ampersands ignored), or nullptr.
inline QAction* menuAction(QMenuBar* bar, const QString& menu, const QString& text) {
    for (QAction* m : bar->actions())
        if (m->text().remove('&') == menu && m->menu())
            for (QAction* a : m->menu()->actions())
                if (a->text().remove('&') == text)
                    return a;
    return nullptr;
}

// The tiny model the UI tests run: $VQA_TEST_MODEL, else the first folder under
// <build>/reference/idefics3/ with a config.json and a checkpoint, the tiny_* cases before any
// other (the opt-in real_shapes case sorts first by name and is far too big to run per test).
// Empty when there is none.
inline QString findTinyModel() {
    const QString env = qEnvironmentVariable("VQA_TEST_MODEL");
    if (!env.isEmpty())
        return env;
    QDirIterator it(QStringLiteral(VQA_BINARY_DIR "/reference/idefics3"), QDir::Dirs | QDir::NoDotAndDotDot,
                    QDirIterator::Subdirectories);
    QStringList candidates;
    while (it.hasNext()) {
        const QDir dir(it.next());
        if (dir.exists("config.json") && !dir.entryList({"*.safetensors"}, QDir::Files).isEmpty())
            candidates << dir.absolutePath();
    }
    std::sort(candidates.begin(), candidates.end(), [](const QString& a, const QString& b) {
        const bool tiny_a = a.contains(QStringLiteral("/tiny")), tiny_b = b.contains(QStringLiteral("/tiny"));
        return tiny_a != tiny_b ? tiny_a : a < b;
    });
    return candidates.value(0);
}

// Runs the event loop until `done()` or the timeout, as the application's loop runs: without
// the 10 ms sleeps between passes of QTest::qWaitFor, which a responsiveness probe would
// count as stalls of the window.
inline bool waitInEventLoop(const std::function<bool()>& done, int timeout_ms) {
    if (done())
        return true;
    QEventLoop loop;
    QTimer poll;
    poll.setInterval(2);
    QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
        if (done())
            loop.quit();
    });
    QTimer::singleShot(timeout_ms, &loop, &QEventLoop::quit);
    poll.start();
    loop.exec();
    return done();
}

// CPU time the calling thread has used, in ns (0 where the platform has no such clock).
inline std::int64_t threadCpuNs() {
#ifdef CLOCK_THREAD_CPUTIME_ID
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return std::int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
#else
    return 0;
#endif
}

// Measures the GUI thread's pauses with a 5 ms timer: the longest wall-clock gap between two
// ticks (which also counts the time other processes held the CPU) and the most CPU time the
// GUI thread itself spent between two ticks (what the window blocked, whatever the load).
struct ResponsivenessProbe {
    QTimer timer;
    QElapsedTimer clock;
    qint64 last = 0, max_gap_ms = 0;
    std::int64_t last_cpu = threadCpuNs(), max_busy_ns = 0;
    int ticks = 0;
    ResponsivenessProbe() {
        timer.setInterval(5);
        timer.setTimerType(Qt::PreciseTimer);
        QObject::connect(&timer, &QTimer::timeout, [this] {
            const qint64 now = clock.elapsed();
            const std::int64_t cpu = threadCpuNs();
            max_gap_ms = std::max(max_gap_ms, now - last);
            max_busy_ns = std::max(max_busy_ns, cpu - last_cpu);
            last = now;
            last_cpu = cpu;
            ++ticks;
        });
        clock.start();
        timer.start();
    }
    double maxBusyMs() const { return max_busy_ns / 1e6; }
};

// Settings go to a temporary folder, never the user's real configuration.
inline void isolateSettings(const QString& dir) {
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName("VQA Studio Tests");
    QCoreApplication::setApplicationName("vqa-studio-tests");
    QSettings::setDefaultFormat(QSettings::IniFormat);
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, dir);
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, dir);
    QSettings().clear();
    // Nor the user's Hugging Face cache: the first-run page looks there for models.
    qputenv("HF_HUB_CACHE", (dir + "/hub").toUtf8());
    // Nor the user's library (conversations, captions): it lives in their data folder.
    qputenv("XDG_DATA_HOME", (dir + "/data").toUtf8());
}

inline QString artifactsDir() {
    QString dir = qEnvironmentVariable("VQA_ARTIFACTS");
    if (dir.isEmpty())
        dir = QDir::tempPath() + "/vqa-artifacts";
    QDir().mkpath(dir);
    return dir;
}

// A picture with something to look at: sky, sun at upper right, a red house lower left.
inline QImage sceneImage(int w = 640, int h = 420) {
    QImage image(w, h, QImage::Format_RGB32);
    QPainter p(&image);
    QLinearGradient sky(0, 0, 0, h);
    sky.setColorAt(0, QColor(110, 170, 230));
    sky.setColorAt(0.65, QColor(200, 225, 245));
    sky.setColorAt(0.66, QColor(90, 160, 80));
    sky.setColorAt(1, QColor(60, 120, 50));
    p.fillRect(image.rect(), sky);
    p.setRenderHint(QPainter::Antialiasing);
    p.setBrush(QColor(255, 210, 60));
    p.setPen(Qt::NoPen);
    p.drawEllipse(QPointF(w * 0.78, h * 0.2), h * 0.09, h * 0.09);
    p.setBrush(QColor(190, 50, 40));
    p.drawRect(QRectF(w * 0.14, h * 0.5, w * 0.24, h * 0.3));
    p.setBrush(QColor(110, 40, 30));
    p.drawPolygon(QPolygonF({QPointF(w * 0.11, h * 0.5), QPointF(w * 0.26, h * 0.3), QPointF(w * 0.41, h * 0.5)}));
    p.setBrush(QColor(250, 240, 200));
    p.drawRect(QRectF(w * 0.23, h * 0.62, w * 0.06, h * 0.18));
    return image;
}

// An 8x8 grid over the whole image (global view) plus two 4x4 tiles (left and right
// halves), all peaking near (fx, fy) in fractions of the image.
inline std::vector<HeatmapGrid> bumpGrids(double fx, double fy, QSize image, double sigma = 0.12) {
    auto grid = [&](int n, double x, double y, double w, double h, bool global) {
        HeatmapGrid g;
        g.rows = g.cols = n;
        g.x = x;
        g.y = y;
        g.width = w;
        g.height = h;
        g.global_view = global;
        for (int r = 0; r < n; ++r) {
            for (int c = 0; c < n; ++c) {
                const double cx = (x + (c + 0.5) * w / n) / image.width();
                const double cy = (y + (r + 0.5) * h / n) / image.height();
                const double d2 = (cx - fx) * (cx - fx) + (cy - fy) * (cy - fy);
                g.values.push_back(float(0.002 + std::exp(-d2 / (2 * sigma * sigma)) * 0.05));
            }
        }
        return g;
    };
    const double W = image.width(), H = image.height();
    return {grid(4, 0, 0, W / 2, H, false), grid(4, W / 2, 0, W / 2, H, false), grid(8, 0, 0, W, H, true)};
}

// What the engine sends for one generated token (tests feed these to the conversation).
inline TokenEvent tokenEvent(int index, const std::string& text, std::vector<HeatmapGrid> grids = {}) {
    TokenEvent e;
    e.index = index;
    e.id = 1000 + index;
    e.text = text;
    e.attention = std::move(grids);
    return e;
}

// What the engine reports for a loaded SmolVLM-256M-Instruct (tests stand it in for a load).
inline ModelInfo fakeModel() {
    ModelInfo m;
    m.family = "idefics3";
    m.name = "SmolVLM-256M-Instruct";
    m.path = "/models/SmolVLM-256M-Instruct";
    m.parameters = 256'484'928;
    m.dtype = "bfloat16";
    m.device = "cpu";
    m.weight_bytes = 513'000'000;
    return m;
}

}  // namespace vqa::test
