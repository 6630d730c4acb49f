// `vqa tokenize` and `vqa detokenize`: the model folder's tokenizer on the command line.
#include <iostream>
#include <iterator>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/cli/Command.h"
#include "models/base/Error.h"
#include "engine/text/Tokenizer.h"
#include "engine/text/Utf8.h"

namespace {

struct TokenizeOptions {
    std::string model;
    std::string text;
    bool json = false;
    bool add_special = false;
};

void setupTokenize(CLI::App& app, int& exit_code) {
    auto opts = std::make_shared<TokenizeOptions>();
    auto* cmd = app.add_subcommand("tokenize", "Print the token ids of TEXT (special tokens in it are recognized)");
    cmd->add_option("--model", opts->model, "Model folder (tokenizer.json or tokenizer.model)")->required();
    cmd->add_flag("--json", opts->json, "Print a JSON object with ids and pieces");
    cmd->add_flag("--add-special-tokens", opts->add_special, "Add BOS/EOS as the tokenizer's post-processor says");
    cmd->add_option("text", opts->text, "Text to tokenize; '-' reads standard input")->required();
    cmd->callback([opts, &exit_code] {
        try {
            std::string text = opts->text;
            if (text == "-")
                text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
            auto tok = vqa::loadTokenizer(opts->model);
            auto ids = tok->encode(text, opts->add_special);
            if (opts->json) {
                nlohmann::json out;
                out["ids"] = ids;
                auto& pieces = out["pieces"] = nlohmann::json::array();
                for (auto id : ids)  // pieces may hold partial UTF-8 (SentencePiece bytes)
                    pieces.push_back(vqa::utf8::toValid(tok->idToPiece(id)));
                std::cout << out.dump() << "\n";
            } else {
                for (std::size_t i = 0; i < ids.size(); ++i)
                    std::cout << (i ? " " : "") << ids[i];
                std::cout << "\n";
            }
            exit_code = 0;
        } catch (const std::exception& e) {
            std::cerr << "vqa tokenize: " << e.what() << "\n";
            exit_code = 1;
        }
    });
}

struct DetokenizeOptions {
    std::string model;
    std::vector<std::string> ids;
    bool skip_special = false;
};

void setupDetokenize(CLI::App& app, int& exit_code) {
    auto opts = std::make_shared<DetokenizeOptions>();
    auto* cmd = app.add_subcommand("detokenize", "Print the text of token ids");
    cmd->add_option("--model", opts->model, "Model folder (tokenizer.json or tokenizer.model)")->required();
    cmd->add_flag("--skip-special-tokens", opts->skip_special, "Leave out special tokens");
    cmd->add_option("ids", opts->ids, "Token ids (separated by spaces or commas)")->required();
    cmd->callback([opts, &exit_code] {
        try {
            auto tok = vqa::loadTokenizer(opts->model);
            const auto ids = vqa::cli::parseTokenIds(opts->ids, static_cast<long long>(tok->vocabSize()),
                                                     "of this tokenizer");
            std::cout << tok->decode(ids, opts->skip_special) << "\n";
            exit_code = 0;
        } catch (const std::exception& e) {
            std::cerr << "vqa detokenize: " << e.what() << "\n";
            exit_code = 1;
        }
    });
}

}  // namespace

VQA_CLI_COMMAND("tokenize", setupTokenize);
VQA_CLI_COMMAND("detokenize", setupDetokenize);
