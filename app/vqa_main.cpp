// `vqa`: the command-line tool on the same engine as the application.
#include <algorithm>
#include <exception>
#include <iostream>

#include "app/cli/Command.h"

int main(int argc, char** argv) {
    CLI::App app{"VQA Studio on the command line: caption, ask, chat, explain, tokenize"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string(VQA_VERSION));
    int exit_code = 0;
    auto& registry = vqa::cli::commandRegistry();
    std::sort(registry.begin(), registry.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    for (auto& command : registry)
        command.setup(app, exit_code);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const std::exception& e) {
        std::cerr << "vqa: " << e.what() << "\n";
        return 1;
    }
    return exit_code;
}
