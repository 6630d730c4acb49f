// What UI tests against the real engine do first: a window that has loaded a model, opened an
// image and answered a question about it.
#pragma once

#include <QSignalSpy>
#include <QString>
#include <QTest>

#include "ui/ConversationController.h"
#include "ui/ImageSet.h"
#include "ui/MainWindow.h"
#include "ui/ModelController.h"

namespace vqa::test {

// Shows `window` and loads `model`, with attention captured and `tokens` new tokens a question
// (end of turn ignored). Empty when all went well, else what did not.
inline QString showAndLoad(vqa::ui::MainWindow& window, const QString& model, int tokens) {
    window.resize(1280, 800);
    window.show();
    if (!QTest::qWaitForWindowExposed(&window))
        return QStringLiteral("the window was not shown");
    QSignalSpy ready(window.model(), &vqa::ui::ModelController::loaded);
    QSignalSpy failed(window.model(), &vqa::ui::ModelController::loadFailed);
    window.loadModel(model);
    if (!QTest::qWaitFor([&] { return ready.count() + failed.count() > 0; }, 120000))
        return QStringLiteral("the model did not load in time");
    if (!failed.isEmpty())
        return failed.first().first().toString();
    vqa::ui::AppSettings s = window.settings();
    s.generation.max_new_tokens = tokens;
    s.generation.ignore_eos = true;
    s.capture_attention = true;
    window.applySettings(s);
    return {};
}

// showAndLoad, then opens `image` and asks `question`. Empty when all went well, else what did not.
inline QString loadOpenAndAsk(vqa::ui::MainWindow& window, const QString& model, const QString& image,
                              const QString& question, int tokens) {
    if (QString error = showAndLoad(window, model, tokens); !error.isEmpty())
        return error;
    window.openImage(image);
    if (!QTest::qWaitFor([&] { return window.images()->count() == 1; }, 10000))
        return QStringLiteral("the image did not open");
    QSignalSpy answered(window.conversation(), &vqa::ui::ConversationController::answerFinished);
    if (!window.conversation()->ask(question))
        return QStringLiteral("the question was not taken");
    if (!answered.wait(120000))
        return QStringLiteral("no answer in time");
    const QString error = window.conversation()->messages().back().error;
    return error;
}

}  // namespace vqa::test
