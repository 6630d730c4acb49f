// `vqa-studio [image or folder…] [--model DIR] [--caption]`: the desktop application. Only wiring.
#include <QApplication>
#include <QCoreApplication>
#include <QCommandLineParser>
#include <QTextStream>

#include "ui/MainWindow.h"
#include "ui/SingleInstance.h"

namespace {

void setApplicationNames() {
    QCoreApplication::setApplicationName("VQA Studio");
    QCoreApplication::setOrganizationName("VQA Studio");
    QCoreApplication::setApplicationVersion(VQA_VERSION);
}

struct Arguments {
    QStringList images;
    QString model;  // empty: the last one used
    bool new_window = false;
    bool caption = false;
};

// The command line is read before the GUI starts, under a plain QCoreApplication, so that
// --help, --version and a mistyped option are answered (and the program exits) without a
// display: QApplication aborts when there is none.
Arguments parseArguments(int& argc, char** argv) {
    QCoreApplication cli(argc, argv);
    setApplicationNames();
    QCommandLineParser parser;
    parser.setApplicationDescription("Ask questions about images, locally.");
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument("image", "Images to open; a folder opens in Caption a Folder.", "[image or folder…]");
    QCommandLineOption model_option({"m", "model"}, "A model folder to load (default: the last one used).", "dir");
    parser.addOption(model_option);
    QCommandLineOption new_window_option("new-window", "Open a new window even when one is running.");
    parser.addOption(new_window_option);
    QCommandLineOption caption_option("caption", "Caption the folders given as soon as the model is loaded.");
    parser.addOption(caption_option);
    parser.process(cli);  // exits here for --help, --version and errors
    return {parser.positionalArguments(), parser.value(model_option), parser.isSet(new_window_option),
            parser.isSet(caption_option)};
}

}  // namespace

int main(int argc, char** argv) {
    const Arguments args = parseArguments(argc, argv);

    QApplication::setHighDpiScaleFactorRoundingPolicy(Qt::HighDpiScaleFactorRoundingPolicy::PassThrough);
    QApplication app(argc, argv);
    setApplicationNames();
    QApplication::setDesktopFileName("io.github.vqastudio.VQAStudio");

    // Images for a window that already runs go there (the file manager's "Open with").
    vqa::ui::SingleInstance instance;
    const QStringList& images = args.images;
    if (!images.isEmpty() && !args.new_window && args.model.isEmpty() && !args.caption &&
        instance.sendToRunning(images)) {
        QTextStream(stdout) << "Opened in the running VQA Studio window.\n";
        return 0;
    }

    vqa::ui::MainWindow window;
    if (!args.new_window && instance.listen())
        QObject::connect(&instance, &vqa::ui::SingleInstance::filesReceived, &window,
                         &vqa::ui::MainWindow::openImagesFromElsewhere);
    window.show();
    if (!args.model.isEmpty())
        window.loadModel(args.model);
    else
        window.loadLastModel();
    window.openImagesFromElsewhere(images);  // folders go to Caption a Folder
    if (args.caption)
        window.captionWhenLoaded();
    return app.exec();
}
