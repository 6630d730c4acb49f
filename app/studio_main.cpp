// `vqa-studio [image…] [--model DIR]`: the desktop application. Only wiring.
#include <QApplication>
#include <QCommandLineParser>

#include "ui/MainWindow.h"

int main(int argc, char** argv) {
    QApplication::setHighDpiScaleFactorRoundingPolicy(Qt::HighDpiScaleFactorRoundingPolicy::PassThrough);
    QApplication app(argc, argv);
    QApplication::setApplicationName("VQA Studio");
    QApplication::setOrganizationName("VQA Studio");
    QApplication::setApplicationVersion(VQA_VERSION);
    QApplication::setDesktopFileName("io.github.vqastudio.VQAStudio");

    QCommandLineParser parser;
    parser.setApplicationDescription("Ask questions about images, locally.");
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument("image", "Images to open.", "[image…]");
    QCommandLineOption model_option({"m", "model"}, "A model folder to load (default: the last one used).", "dir");
    parser.addOption(model_option);
    parser.process(app);

    vqa::ui::MainWindow window;
    window.show();
    if (parser.isSet(model_option))
        window.loadModel(parser.value(model_option));
    else
        window.loadLastModel();
    for (const QString& image : parser.positionalArguments())
        window.openImage(image);
    return app.exec();
}
