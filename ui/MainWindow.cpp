#include "ui/MainWindow.h"

#include <QAction>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QImageReader>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSplitter>
#include <QStatusBar>
#include <QTextBrowser>
#include <QVBoxLayout>

#include "engine/EngineWorker.h"
#include "ui/ImageCanvas.h"

namespace vqa::ui {

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent), engine_(new EngineThread(this)), canvas_(new ImageCanvas),
      chat_(new QTextBrowser), question_(new QPlainTextEdit), send_(new QPushButton(tr("Ask"))),
      status_(new QLabel) {
    setWindowTitle(tr("VQA Studio"));
    setAccessibleName(tr("VQA Studio"));

    chat_->setAccessibleName(tr("Conversation"));
    chat_->setOpenExternalLinks(true);
    question_->setAccessibleName(tr("Question"));
    question_->setPlaceholderText(tr("Ask a question about the image…"));
    question_->setMaximumHeight(96);
    send_->setEnabled(false);
    send_->setToolTip(tr("Load a model first"));

    auto* chat_panel = new QWidget;
    auto* chat_layout = new QVBoxLayout(chat_panel);
    chat_layout->setContentsMargins(0, 0, 0, 0);
    chat_layout->addWidget(chat_, 1);
    auto* ask_row = new QHBoxLayout;
    ask_row->addWidget(question_, 1);
    ask_row->addWidget(send_);
    chat_layout->addLayout(ask_row);

    auto* splitter = new QSplitter(Qt::Horizontal);
    splitter->addWidget(canvas_);
    splitter->addWidget(chat_panel);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);
    setCentralWidget(splitter);

    status_->setText(tr("No model loaded — use Model ▸ Open Model Folder… to load a "
                        "SmolVLM folder (config.json, model.safetensors, tokenizer files)."));
    statusBar()->addWidget(status_, 1);

    buildMenus();
    connect(canvas_, &ImageCanvas::imageDropped, this, [this](const QString& p) { openImage(p); });
    connect(canvas_, &ImageCanvas::imageDataDropped, this,
            [this](const QImage& image) { setImage(image, tr("dropped image")); });

    auto* worker = engine_->worker();
    connect(worker, &EngineWorker::modelLoaded, this, [this](const ModelInfo& info) {
        status_->setText(tr("Model: %1 (%2) on %3")
                             .arg(QString::fromStdString(info.name), QString::fromStdString(info.family),
                                  QString::fromStdString(info.device)));
        send_->setEnabled(true);
        send_->setToolTip({});
    });
    connect(worker, &EngineWorker::modelFailed, this,
            [this](const QString& message) { showError(tr("Could not load the model"), message); });
    resize(1200, 760);
}

MainWindow::~MainWindow() = default;

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* open = file->addAction(tr("&Open Image…"));
    open->setShortcut(QKeySequence::Open);
    connect(open, &QAction::triggered, this, [this] {
        QString path = QFileDialog::getOpenFileName(this, tr("Open Image"), {},
                                                    tr("Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff)"));
        if (!path.isEmpty())
            openImage(path);
    });
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"));
    quit->setShortcut(QKeySequence::Quit);
    connect(quit, &QAction::triggered, this, &QWidget::close);

    QMenu* model = menuBar()->addMenu(tr("&Model"));
    QAction* open_model = model->addAction(tr("Open &Model Folder…"));
    open_model->setShortcut(QKeySequence(tr("Ctrl+M")));
    connect(open_model, &QAction::triggered, this, [this] {
        QString dir = QFileDialog::getExistingDirectory(this, tr("Open Model Folder"));
        if (!dir.isEmpty())
            loadModel(dir);
    });
}

bool MainWindow::openImage(const QString& path) {
    QImageReader reader(path);
    reader.setAutoTransform(true);  // honour EXIF orientation
    QImage image = reader.read();
    if (image.isNull()) {
        showError(tr("Could not open the image"),
                  tr("%1: %2").arg(QFileInfo(path).fileName(), reader.errorString()));
        return false;
    }
    setImage(image, QFileInfo(path).fileName());
    return true;
}

void MainWindow::setImage(const QImage& image, const QString& name) {
    canvas_->setImage(image);
    setWindowTitle(tr("%1 — VQA Studio").arg(name));
}

void MainWindow::loadModel(const QString& model_dir) {
    status_->setText(tr("Loading model from %1…").arg(model_dir));
    QMetaObject::invokeMethod(engine_->worker(), "loadModel", Qt::QueuedConnection,
                              Q_ARG(QString, model_dir), Q_ARG(vqa::LoadOptions, vqa::LoadOptions{}));
}

QString MainWindow::statusText() const { return status_->text(); }

void MainWindow::showError(const QString& title, const QString& message) {
    status_->setText(title + ": " + message);
    if (qEnvironmentVariableIsSet("VQA_NO_DIALOGS"))
        return;
    QMessageBox::warning(this, title, message);
}

}  // namespace vqa::ui
