// `vqa-studio`: the desktop application. Only wiring: the window, the engine worker.
#include <QApplication>
#include <QCommandLineParser>

#include "ui/MainWindow.h"

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName("VQA Studio");
    QApplication::setOrganizationName("VQA Studio");
    QApplication::setApplicationVersion(VQA_VERSION);
    QApplication::setDesktopFileName("io.github.vqastudio.VQAStudio");

    QCommandLineParser parser;
    parser.setApplicationDescription("Ask questions about images, locally.");
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument("image", "An image to open.", "[image]");
    QCommandLineOption model_option({"m", "model"}, "A model folder to load.", "dir");
    parser.addOption(model_option);
    parser.process(app);

    vqa::ui::MainWindow window;
    window.show();
    if (parser.isSet(model_option))
        window.loadModel(parser.value(model_option));
    if (!parser.positionalArguments().isEmpty())
        window.openImage(parser.positionalArguments().first());
    return app.exec();
}
