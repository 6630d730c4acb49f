// `vqa-studio [image…] [--model DIR]`: the desktop application. Only wiring.
#include <QApplication>
#include <QCommandLineParser>
#include <QTextStream>

#include "ui/MainWindow.h"
#include "ui/SingleInstance.h"

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
    QCommandLineOption new_window_option("new-window", "Open a new window even when one is running.");
    parser.addOption(new_window_option);
    parser.process(app);

    // Images for a window that already runs go there (the file manager's "Open with").
    vqa::ui::SingleInstance instance;
    const QStringList images = parser.positionalArguments();
    if (!images.isEmpty() && !parser.isSet(new_window_option) && !parser.isSet(model_option) &&
        instance.sendToRunning(images)) {
        QTextStream(stdout) << "Opened in the running VQA Studio window.\n";
        return 0;
    }

    vqa::ui::MainWindow window;
    if (!parser.isSet(new_window_option) && instance.listen())
        QObject::connect(&instance, &vqa::ui::SingleInstance::filesReceived, &window,
                         &vqa::ui::MainWindow::openImagesFromElsewhere);
    window.show();
    if (parser.isSet(model_option))
        window.loadModel(parser.value(model_option));
    else
        window.loadLastModel();
    for (const QString& image : images)
        window.openImage(image);
    return app.exec();
}
