// `vqa logits`: the decoder's next-token logits at every position of a token sequence
// (teacher forcing), written as a NumPy .npy file of float32 [tokens, vocab]. For measuring a
// precision (--dtype int4, ...) against another, as tests/bench/run_bench.py does against
// llama.cpp. With --image, the sequence is an answer to a question about that image, so the
// vision tower's precision counts too (--dtype fast changes nothing else).
#include <fstream>
#include <iostream>
#include <climits>

#include "app/cli/Command.h"
#include "app/cli/QuestionFiles.h"
#include "engine/Engine.h"
#include "models/base/Error.h"

namespace {

struct LogitsOptions {
    std::string model, ids, out, image, question = "Describe this image.";
    vqa::cli::LoadFlags load;
};

// NumPy's .npy format, version 1.0: magic, header length, a Python dict padded to 64 bytes.
void writeNpy(const std::string& path, const std::vector<float>& data, std::int64_t rows, std::int64_t cols) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                         std::to_string(cols) + "), }";
    while ((10 + header.size() + 1) % 64 != 0)
        header += ' ';
    header += '\n';
    const std::string tmp = path + ".part";
    {
        std::ofstream f(tmp, std::ios::binary);
        const std::uint16_t len = static_cast<std::uint16_t>(header.size());
        f.write("\x93NUMPY\x01\x00", 8);
        f.put(static_cast<char>(len & 0xff)).put(static_cast<char>(len >> 8));
        f << header;
        f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size() * sizeof(float)));
        if (!f)
            throw vqa::Error("cannot write " + tmp);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
        throw vqa::Error("cannot write " + path);
}

void setupLogits(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<LogitsOptions>();
    auto* cmd = app.add_subcommand(
        "logits", "Write the next-token logits at every position of a token sequence (.npy, float32 [tokens, vocab])");
    cmd->add_option("--model,-m", o->model, "Model folder")->required();
    cmd->add_option("--ids", o->ids, "Token ids, separated by commas or spaces")->required();
    cmd->add_option("--out,-o", o->out, "The .npy file to write")->required();
    cmd->add_option("--image", o->image,
                    "An image the ids answer a question about: row i is then the logits after the question "
                    "with the image and the first i ids");
    cmd->add_option("--question", o->question, "The question about --image (default: Describe this image.)");
    vqa::cli::addLoadFlags(cmd, o->load);
    cmd->callback([o, &exit_code] {
        try {
            const auto ids = vqa::cli::parseTokenIds({o->ids}, INT32_MAX, "");
            vqa::Engine engine;
            engine.load(o->model, o->load.options());
            std::int64_t vocab = 0;
            std::vector<float> logits;
            if (o->image.empty()) {
                logits = engine.sequenceLogits(ids, vocab);
            } else {
                logits = engine.answerLogits(vqa::cli::QuestionFiles::read({o->image}).request(o->question), ids, vocab);
            }
            writeNpy(o->out, logits, static_cast<std::int64_t>(ids.size()), vocab);
            exit_code = 0;
        } catch (const std::exception& e) {
            std::cerr << "vqa logits: " << e.what() << "\n";
            exit_code = 1;
        }
    });
}

}  // namespace

VQA_CLI_COMMAND("logits", setupLogits);
