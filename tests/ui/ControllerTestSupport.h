// The controllers of the window without its widgets, connected as MainWindow connects them (the
// conversation's answers to the explanation, the current image to it), on a real engine thread:
// what the controller suites (tst_explanation, tst_multiimage) test.
#pragma once

#include <QObject>
#include <QStringList>

#include "engine/EngineWorker.h"
#include "ui/ConversationController.h"
#include "ui/ExplanationController.h"
#include "ui/ImageSet.h"
#include "ui/ModelController.h"

namespace vqa::test {

struct WiredControllers {
    vqa::EngineThread engine;
    vqa::ui::ImageSet images;
    vqa::ui::ModelController model{engine.worker()};
    vqa::ui::ConversationController conversation{engine.worker(), &images, &model};
    vqa::ui::ExplanationController explanation{engine.worker(), &images, &conversation, &model};
    QStringList image_statuses;        // what the ImageSet said in the status bar
    QStringList explanation_statuses;  // what the ExplanationController said

    WiredControllers() {
        using namespace vqa::ui;
        QObject::connect(&conversation, &ConversationController::answerStarted, &explanation,
                         &ExplanationController::answerStarted);
        QObject::connect(&conversation, &ConversationController::tokenAppended, &explanation,
                         &ExplanationController::tokenAppended);
        QObject::connect(&conversation, &ConversationController::answerEnded, &explanation,
                         &ExplanationController::answerEnded);
        QObject::connect(&images, &ImageSet::currentChanged, &explanation,
                         &ExplanationController::currentImageChanged);
        QObject::connect(&images, &ImageSet::status, [this](const QString& s) { image_statuses << s; });
        QObject::connect(&explanation, &ExplanationController::status,
                         [this](const QString& s) { explanation_statuses << s; });
    }
};

}  // namespace vqa::test
